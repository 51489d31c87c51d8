"""Hostile and broken input through the real CLI: every case is one clear line on stderr, exit 1, no traceback, and
nothing written outside the project's folders (the run's HOME and temporary folder stay empty, nothing new in the
repository — backups/, reports/, .prjdevops/ included — and no shell ever runs what a value says)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.faults.conftest import APP, cli, one_line_error
from tests.integration.conftest import CHART, REPO, write_env

pytestmark = pytest.mark.integration

BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
               for p, c in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg", strict=True))
VALUES = {
    "bomb.yaml": (BOMB, "refusing a possible YAML bomb"),
    "dup.yaml": ("replicaCount: 2\nreplicaCount: 3\n", "duplicate key 'replicaCount'"),
    "tabs.yaml": ("image:\n\ttag: '1.0'\n", "found character '\\t'"),
    "huge.yaml": ("replicaCount: 99999999999999999999999999999\n", "out of the 64-bit integer range"),
    # YAML 1.1 reads 1.0e400 (no exponent sign) as a string: refused, naming the key and the file that set it
    "hugefloat.yaml": ("replicaCount: 1.0e400\n", "replicaCount (set in ", "hugefloat.yaml): got string, want integer"),
    "notamap.yaml": ("- just\n- a list\n", "must hold a mapping at the top level, not a list"),
    "anchors-too-many.yaml": ("a: &a 1\n" + "".join(f"k{i}: *a\n" for i in range(150)), "more than 100 aliases"),
    "python.yaml": ("x: !!python/object/apply:os.system ['touch /tmp/prjdevops-pwned']\n",
                    "could not determine a constructor for the tag", "python/object/apply:os.system"),
    # a real float overflow (inf): Helm's values travel as JSON, which has no Infinity: refused naming key and file
    "infinity.yaml": ("replicaCount: 1.0e+400\n", "replicaCount is inf", "infinity.yaml"),
    "nan.yaml": ("resources:\n  limits:\n    cpu: .nan\n", "resources.limits.cpu is nan", "nan.yaml"),
}
KNOWN_BUGS: dict[str, str] = {}  # name -> a product finding, as a strict xfail (none open)


# Where people edit while the suite runs (a shared work tree): not where the tool writes.
SOURCES = {".git", ".venv", "tests", "prjdevops", "kubesandbox", "tasks", "controlplane", "docs", "bench", "verify",
           "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def repo_files() -> set[str]:
    """Files of the repository outside its source folders (backups/, reports/, .prjdevops/, the root...)."""
    found: set[str] = set()
    for path in REPO.iterdir():
        if path.name in SOURCES:
            continue
        found |= {str(p.relative_to(REPO)) for p in ([path] if path.is_file() else path.rglob("*"))
                  if "__pycache__" not in p.parts}
    return found


@pytest.fixture
def jail(tmp_path: Path, kubeconfig: Path, sandbox: Any) -> dict[str, Any]:
    """An environments folder, an empty HOME and TMPDIR for the CLI, and the repository's status before."""
    envs = tmp_path / "environments"
    write_env(envs, "bad", kubeconfig)
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    return {"envs": envs, "home": home, "tmp": tmp, "files": repo_files(), "dir": tmp_path}


def run(jail: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return cli(list(args), jail["envs"], HOME=str(jail["home"]), TMPDIR=str(jail["tmp"]))


def nothing_written(jail: dict[str, Any]) -> None:
    assert list(jail["home"].rglob("*")) == [], "nothing in HOME"
    assert list(jail["tmp"].rglob("*")) == [], "nothing left in the temporary folder"
    assert repo_files() - jail["files"] == set(), "nothing new in the repository outside its source folders"
    assert not Path("/tmp/prjdevops-pwned").exists()


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n])) if n in KNOWN_BUGS else n
    for n in sorted(VALUES)])
def test_hostile_values_files(jail: dict[str, Any], name: str) -> None:
    text, *fragments = VALUES[name]
    path = jail["dir"] / name
    path.write_text(text)
    out = run(jail, "stg.deploy", "--env", "bad", "--values", str(path))
    one_line_error(out, 1, *fragments)
    nothing_written(jail)


def test_legitimate_anchors_are_fine(jail: dict[str, Any]) -> None:
    path = jail["dir"] / "anchors.yaml"
    # the anchor sits on a key the chart has: a top-level helper key would be refused as unknown (a likely typo)
    path.write_text("resources:\n  requests: &res {cpu: 100m, memory: 64Mi}\n  limits: *res\n")
    out = run(jail, "stg.diff", "--env", "bad", "--values", str(path), "--diff", "full")  # a first install: full
    assert out.returncode == 2, out.stderr  # changes found (nothing is deployed yet)
    assert "memory: 64Mi" in out.stdout


@pytest.mark.parametrize(("args", "fragment"), [
    (["stg.deploy", "--env", "bad", "--set", "image.tag=$(touch /tmp/prjdevops-pwned);`id`|cat"],
     "is not a valid image tag"),
    (["stg.deploy", "--env", "bad", "--set", "replicaCount=$(reboot)"], "replicaCount"),
    (["stg.deploy", "--env", "bad", "--set", "no-equals-sign"], "--set"),
    (["stg.deploy", "--env", "bad", "--values", "/dev/zero"], "is not a regular file"),
    (["stg.deploy", "--env", "bad", "--values", "/nonexistent/values.yaml"], "does not exist"),
    (["stg.deploy", "--env", "bad", "--timeout", "abc"], "--timeout"),
    (["libraries.plan", "--env", "bad", "--tier", "1; rm -rf /"], "--tier"),
    (["stg.deploy", "--env", "bad", "--bogus"], "No idea what '--bogus' is"),
    (["stg.deploy", "--env", "../../etc/passwd"], "invalid environment name"),
    (["prod.restore", "--env", "bad", "--yes", "--backup", "../../etc"], "invalid backup name"),
    (["prod.restore", "--env", "bad", "--yes", "--backup", "20260101T000000Z-r1/../../x"], "invalid backup name"),
])
def test_hostile_arguments(jail: dict[str, Any], args: list[str], fragment: str) -> None:
    out = run(jail, *args)
    one_line_error(out, 1, fragment)
    nothing_written(jail)


@pytest.mark.parametrize(("release", "namespace", "fragment"), [
    ("Plate_Web", "plate-web", "releases[0].name"),
    ("plate-web", "Bad NS", "namespace"),
    ("a" * 54, "plate-web", "at most 53"),
    ("plate-web", "../../etc", "namespace"),
])
def test_names_violating_dns_1123(jail: dict[str, Any], kubeconfig: Path, release: str, namespace: str,
                                  fragment: str) -> None:
    write_env(jail["envs"], "bad", kubeconfig, namespaces=[namespace],
              releases=[{**APP, "name": release, "namespace": namespace}])
    for task in (["envs.check", "--env", "bad"], ["stg.deploy", "--env", "bad"]):
        out = run(jail, *task)
        one_line_error(out, 1, fragment, problems=True)
    nothing_written(jail)


def test_kubeconfig_pointing_outside_is_refused_in_tests(jail: dict[str, Any], tmp_path: Path) -> None:
    kc = tmp_path / "remote-kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "remote",
        "clusters": [{"name": "r", "cluster": {"server": "https://10.1.2.3:6443"}}],
        "contexts": [{"name": "remote", "context": {"cluster": "r", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}]}))
    write_env(jail["envs"], "remote", kc, cluster={"kubeconfig": str(kc), "context": "remote"},
              releases=[{**APP, "chart": str(CHART)}])
    for task in (["stg.status", "--env", "remote"], ["stg.deploy", "--env", "remote"],
                 ["prod.deploy", "--env", "remote", "--yes"], ["prod.status", "--env", "remote"]):
        out = run(jail, *task)
        one_line_error(out, 1, "https://10.1.2.3:6443", "not a loopback address")
    nothing_written(jail)
