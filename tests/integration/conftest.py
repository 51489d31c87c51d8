"""Integration fixtures: an environments folder whose `local`-style environment points at the test's sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "applications" / "plate-web"


def write_env(env_dir: Path, name: str, kubeconfig: Path, **overrides: Any) -> Path:
    """An environment file targeting the sandbox kubeconfig; ``overrides`` replace top-level sections."""
    env_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "name": name,
        "description": f"test environment {name}",
        "cluster": {"kubeconfig": str(kubeconfig), "context": "sandbox"},
        "guards": {"health_timeout": 30, "rollback_timeout": 30},
        "backup": {"enabled": False, "dir": str(env_dir.parent / "backups"), "keep": 3},
        "namespaces": ["plate-web"],
        "releases": [{"name": "plate-web", "chart": str(CHART), "namespace": "plate-web",
                      "values": ["values-stg.yaml"], "timeout": 30}],
    }
    doc.update(overrides)
    path = env_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def env_dir(tmp_path: Path, kubeconfig: Path) -> Path:
    d = tmp_path / "environments"
    write_env(d, "itest", kubeconfig)
    return d


@pytest.fixture
def target(env_dir: Path) -> Iterator[Any]:
    from prjdevops.environments import load_environment
    from prjdevops.ops.release import connect

    with connect(load_environment("itest", env_dir)) as t:
        yield t


def invoke(args: list[str], env_dir: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `invoke` CLI from the repo root with the test's environments folder."""
    env = dict(os.environ, PRJDEVOPS_ENVIRONMENTS=str(env_dir))
    exe = Path(sys.executable).parent / "invoke"
    return subprocess.run([str(exe), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
