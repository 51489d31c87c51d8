"""The README's first command end to end: `invoke deploy --env local` from a fresh copy of the repository, with no
sandbox running. It must start the sandbox (ops/session.py), serve the stand-in charts, deploy every release of
the `local` environment; a second run must change nothing.

The copy is the repository's tracked files (as a clone has them, with the working tree's content), run with
its own code first on the path; the sandbox and the stand-in repository get free ports through invoke.yaml's keys
(INVOKE_PRJDEVOPS_SANDBOX_PORT, INVOKE_PRJDEVOPS_STANDINS_PORT), so the test never meets a sandbox on 6550 or a
repository on 8879."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

INVOKE = Path(sys.executable).parent / "invoke"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = REPO / name
        if src.is_file():  # tracked but deleted in the work tree: not in the copy either
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


class Clone:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sandbox_port, self.standins_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("INVOKE_PRJDEVOPS_", "PRJDEVOPS_")) or k == "PRJDEVOPS_LOOPBACK_ONLY"}
        self.env = {**env, "PYTHONPATH": str(root),  # the copy's code, not the installed work tree's
                    "INVOKE_PRJDEVOPS_SANDBOX_PORT": str(self.sandbox_port),
                    "INVOKE_PRJDEVOPS_SANDBOX_HOME": str(root / ".prjdevops" / "sandbox"),
                    "INVOKE_PRJDEVOPS_STANDINS_PORT": str(self.standins_port)}

    def invoke(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(INVOKE), *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Clone]:
    c = Clone(fresh_copy(tmp_path / "prj-devops"))
    assert not (c.root / ".prjdevops").exists() and not (c.root / "backups").exists()
    try:
        yield c
    finally:
        c.invoke("sandbox.down", timeout=60)


def helm_revisions(kubeconfig: Path) -> dict[str, list[tuple[int, str]]]:
    """Every Helm release of the cluster: its stored revisions and their status (Helm's `secret` driver)."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig), context="sandbox")
    try:
        secrets = client.CoreV1Api(api).list_secret_for_all_namespaces(label_selector="owner=helm").items
    finally:
        api.close()
    out: dict[str, list[tuple[int, str]]] = {}
    for s in secrets:
        labels = s.metadata.labels
        out.setdefault(labels["name"], []).append((int(labels["version"]), labels["status"]))
    return {name: sorted(revs) for name, revs in out.items()}


def recap(stdout: str) -> dict[str, str]:
    """The recap's release -> state lines (`  <release>  <state>  ...`)."""
    states = ("ok", "changed", "failed", "skipped")
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in states and re.fullmatch(r"[a-z0-9-]+", parts[0]):
            found[parts[0]] = parts[1]
    return found


def test_first_command_from_a_fresh_copy_starts_the_sandbox_deploys_and_reruns_as_a_no_op(clone: Clone) -> None:
    local = yaml.safe_load((clone.root / "environments" / "local.yaml").read_text())
    expected = {"plate-web", *(p.stem for p in (clone.root / "environments" / "libraries").glob("*.yaml"))}
    disabled = {n for n, o in (local["libraries"].get("releases") or {}).items() if o and o.get("enabled") is False}
    expected -= disabled

    first = clone.invoke("deploy", "--env", "local")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    sandbox_url = f"http://127.0.0.1:{clone.sandbox_port}"
    assert f"started the sandbox API server at {sandbox_url}" in first.stdout, first.stdout[:2000]
    assert f"serving the stand-in chart repository at http://127.0.0.1:{clone.standins_port}" in first.stdout
    home = clone.root / ".prjdevops" / "sandbox"
    pid = int((home / "pid").read_text())
    assert Path(f"/proc/{pid}").exists()  # the sandbox stays up after the run, as the README says
    assert (home / "kubeconfig").is_file()
    # what the run wrote went to the copy (its own code ran), not to the repository under test
    assert list((clone.root / ".prjdevops" / "runs" / "local").glob("*.json")), "run record in the copy"

    revisions = helm_revisions(home / "kubeconfig")
    assert set(revisions) == expected, (sorted(revisions), sorted(expected))
    for name, revs in revisions.items():
        assert revs == [(1, "deployed")], (name, revs)  # installed once, healthy
    states = recap(first.stdout)
    assert {n: states.get(n) for n in expected} == dict.fromkeys(expected, "changed"), first.stdout[-3000:]
    assert re.search(rf"recap: ok=0 changed={len(expected)} failed=0 skipped=0", first.stdout), first.stdout[-1500:]

    second = clone.invoke("deploy", "--env", "local")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "started the sandbox" not in second.stdout  # the running one was used
    assert int((home / "pid").read_text()) == pid
    assert "serving the stand-in chart repository" in second.stdout  # served again for this run, then stopped
    # A true no-op (true today, measured: every release "ok ... up to date", no new Helm revision). The release
    # path is being reworked in parallel: this is the contract that work must keep, not a wording check.
    assert recap(second.stdout) == dict.fromkeys(expected, "ok"), second.stdout[-3000:]
    assert f"recap: ok={len(expected)} changed=0 failed=0 skipped=0" in second.stdout, second.stdout[-1500:]
    assert helm_revisions(home / "kubeconfig") == revisions

    status = clone.invoke("sandbox.status")
    assert f"running at {sandbox_url} (pid {pid})" in status.stdout, status.stdout
