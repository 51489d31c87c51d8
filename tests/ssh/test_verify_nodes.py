"""Inventory nodes through the whole stack: the verify suite's `nodes` group (testinfra) and `invoke nodes.*`
(Fabric) against the test sshd, with an environment file naming the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from prjdevops.verify import runner
from tests.integration.conftest import invoke, write_env
from tests.ssh.conftest import SshServer, free_port


@pytest.fixture
def node_env(tmp_path: Path, kubeconfig: Path, sshd: SshServer) -> tuple[Path, int]:
    down = free_port()
    common = {"host": sshd.host, "user": sshd.user, "key_file": str(sshd.key), "known_hosts": str(sshd.known_hosts),
              "timeout": 3}
    # the same sshd, recorded under a second name, stands for a node that refuses our key
    line = sshd.known_hosts.read_text()
    known = tmp_path / "known_hosts"
    known.write_text(line + line.replace("[127.0.0.1]", "[localhost]"))
    common["known_hosts"] = str(known)
    env_dir = tmp_path / "environments"
    write_env(env_dir, "nodes", kubeconfig, inventory=[
        {**common, "port": sshd.port, "backend": "ssh", "roles": ["worker"], "services": ["sshd"],
         "ports": [sshd.port]},
        {**common, "host": "localhost", "port": sshd.port, "key_file": str(sshd.other_key)},
        {**common, "port": down},
    ])
    return env_dir, down


def test_verify_nodes_group(node_env: tuple[Path, int], sshd: SshServer, tmp_path: Path) -> None:
    env_dir, down = node_env
    run = runner.run("nodes", only=["nodes"], reports=tmp_path / "r", environments_dir=env_dir, timeout=120)
    got = {r.check: (r.result, r.reason) for r in run.rows}
    me = f"127.0.0.1:{sshd.port}"
    assert got[f"{me}/services"] == ("passed", f"sshd running on {me}")
    assert got[f"{me}/ports"] == ("passed", f"port(s) {sshd.port} listening on {me}")
    assert {r.reason for r in run.rows if r.check.startswith(f"localhost:{sshd.port}/")} == {
        f"localhost:{sshd.port}: authentication refused for user {sshd.user} with key {sshd.other_key}"}
    assert {r.reason for r in run.rows if r.check.startswith(f"127.0.0.1:{down}/")} == {
        f"127.0.0.1:{down}: unreachable: connection refused on port {down}"}
    assert not run.ok


def test_invoke_nodes_check_and_diagnose(node_env: tuple[Path, int], sshd: SshServer, tmp_path: Path) -> None:
    env_dir, down = node_env
    res = invoke(["nodes.check", "--env", "nodes", "--node", f"127.0.0.1:{down}"], env_dir)
    assert res.returncode == 3
    assert res.stdout.splitlines()[0].split() == ["NODE", "CHECK", "RESULT", "REASON"]
    assert f"127.0.0.1:{down}: unreachable: connection refused" in res.stdout
    out = tmp_path / "evidence"
    res = invoke(["nodes.diagnose", "--env", "nodes", "--out", str(out)], env_dir)
    assert res.returncode == 1  # two of the three nodes gave no evidence, and it says which
    assert f"127.0.0.1:{down}: no evidence: 127.0.0.1:{down}: unreachable" in res.stdout
    assert sorted(p.name for p in (out / f"127.0.0.1_{sshd.port}").iterdir()) == [
        "disk.txt", "kubelet-journal.txt", "memory.txt"]
    res = invoke(["nodes.check", "--env", "nodes", "--node", "n9"], env_dir)
    assert res.returncode == 1 and "has no SSH node 'n9'" in res.stderr
