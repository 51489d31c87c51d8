"""invoke.yaml's ``standins_port`` (INVOKE_PRJDEVOPS_STANDINS_PORT) moves a stand-in environment's repository, and
with it every library chart pulled from it; other environments keep their mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from prjdevops.environments import _on_port, load_environment
from tests.integration.conftest import REPO

ENVS = REPO / "environments"


@pytest.mark.parametrize(("url", "port", "want"), [
    ("http://127.0.0.1:8879", 16651, "http://127.0.0.1:16651"),
    ("http://127.0.0.1:8879/", 1, "http://127.0.0.1:1/"),
    ("http://localhost", 9000, "http://localhost:9000"),
])
def test_on_port(url: str, port: int, want: str) -> None:
    assert _on_port(url, port) == want


def test_local_moves_its_standins_with_every_library_repo() -> None:
    base = load_environment("local", ENVS)
    moved = load_environment("local", ENVS, standins_port=16651)
    assert base.libraries.mirror == "http://127.0.0.1:8879"
    assert moved.libraries.mirror == "http://127.0.0.1:16651"
    repos = {r.name: r.repo for r in moved.releases if r.repo}
    assert repos and all("127.0.0.1:16651" in r for r in repos.values()), repos
    assert repos["harbor"].startswith("oci://127.0.0.1:16651/")  # OCI keeps its path on the mirror's host
    assert not any("8879" in r for r in repos.values())


def test_environments_without_standins_keep_their_mirror(tmp_path: Path) -> None:
    staging = load_environment("staging", ENVS)
    assert load_environment("staging", ENVS, standins_port=16651) == staging
