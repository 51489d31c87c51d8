"""The ``host`` fixture of the team's verify tests over SSH nodes of the test sshd.

A test taking ``host`` runs once per SSH node of the environment's inventory, named by node, through the project's
strict backends (paramiko with ``RejectPolicy`` and the node's known_hosts; OpenSSH with
``StrictHostKeyChecking=yes``): the same sshd is listed as two nodes that pass and a third, under a name its
known_hosts does not have, that must fail (testinfra's own paramiko backend would have accepted it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prjdevops.verify import runner
from tests.integration.conftest import REPO, write_env
from tests.ssh.conftest import SshServer

NODE_TESTS = '''
import pytest

pytestmark = pytest.mark.group("node-smoke")


def test_commands_run_on_the_node_over_ssh(host, env):
    """The command ran over SSH on the node."""
    # sshd sets SSH_CONNECTION = "client-ip client-port server-ip server-port": proof it is not the local backend
    server_port = int(host.check_output("echo $SSH_CONNECTION").split()[3])
    assert server_port in {n.port for n in env.inventory}
    assert host.file("/etc/passwd").exists


def test_sshd_runs(host):
    """sshd runs on the node."""
    assert "sshd" in host.check_output("ps -e -o comm=").split()


@pytest.mark.nodes(role="worker")
def test_workers_only(host):
    """Runs on workers only."""
    assert host.run("true").rc == 0


@pytest.mark.nodes(role="etcd")
def test_no_such_role(host):
    pass
'''


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "suite"
    shutil.copytree(REPO / "verify", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (folder / "test_nodes_smoke.py").write_text(NODE_TESTS)
    monkeypatch.setenv(runner.SUITE_ENV, str(folder))
    return folder


def test_host_runs_each_test_once_per_ssh_node(suite: Path, sshd: SshServer, tmp_path: Path,
                                               kubeconfig: Path) -> None:
    line = sshd.known_hosts.read_text()
    known = tmp_path / "known_hosts"  # the sshd's real key under two names; "127.1" (also 127.0.0.1) is unknown
    known.write_text(line + line.replace("[127.0.0.1]", "[localhost]"))
    common = {"port": sshd.port, "user": sshd.user, "key_file": str(sshd.key), "known_hosts": str(known),
              "timeout": 5}
    env_dir = tmp_path / "environments"
    write_env(env_dir, "nodes", kubeconfig, inventory=[
        {**common, "host": "127.0.0.1", "roles": ["control-plane"]},            # testinfra paramiko backend, strict
        {**common, "host": "localhost", "backend": "ssh", "roles": ["worker"]},  # OpenSSH, StrictHostKeyChecking=yes
        {**common, "host": "127.1"},                          # same server, a name known_hosts does not have
    ])
    run = runner.run("nodes", only=["node-smoke"], reports=tmp_path / "r", environments_dir=env_dir, timeout=180)
    got = {r.check: (r.group, r.result, r.reason) for r in run.rows}
    p = sshd.port
    refused = (f"127.1:{p}: host key not in {known}; refusing to connect to an unknown host (check the node's host "
               f"key fingerprint out of band, then add it: ssh-keyscan -p {p} 127.1 >> {known})")
    assert got == {
        f"test_nodes_smoke.py::test_commands_run_on_the_node_over_ssh[127.0.0.1:{p}]":
            ("node-smoke", "passed", "The command ran over SSH on the node."),
        f"test_nodes_smoke.py::test_commands_run_on_the_node_over_ssh[localhost:{p}]":
            ("node-smoke", "passed", "The command ran over SSH on the node."),
        f"test_nodes_smoke.py::test_commands_run_on_the_node_over_ssh[127.1:{p}]":
            ("node-smoke", "failed", refused),
        f"test_nodes_smoke.py::test_sshd_runs[127.0.0.1:{p}]": ("node-smoke", "passed", "sshd runs on the node."),
        f"test_nodes_smoke.py::test_sshd_runs[localhost:{p}]": ("node-smoke", "passed", "sshd runs on the node."),
        f"test_nodes_smoke.py::test_sshd_runs[127.1:{p}]":
            ("node-smoke", "failed", refused),
        f"test_nodes_smoke.py::test_workers_only[localhost:{p}]": ("node-smoke", "passed", "Runs on workers only."),
        "test_nodes_smoke.py::test_no_such_role[no-ssh-nodes]":
            ("node-smoke", "skipped", "no SSH node of environment nodes matches @pytest.mark.nodes(role='etcd')"),
    }


def test_host_is_skipped_without_ssh_nodes(suite: Path, tmp_path: Path, kubeconfig: Path) -> None:
    env_dir = tmp_path / "environments"
    write_env(env_dir, "bare", kubeconfig)
    run = runner.run("bare", only=["node-smoke"], reports=tmp_path / "r", environments_dir=env_dir, timeout=120)
    assert [(r.check, r.result, r.reason) for r in run.rows] == [
        (f"test_nodes_smoke.py::{name}[no-ssh-nodes]", "skipped",
         "environment bare lists no SSH nodes in its inventory")
        for name in ("test_commands_run_on_the_node_over_ssh", "test_sshd_runs")] + [
        ("test_nodes_smoke.py::test_workers_only[no-ssh-nodes]", "skipped",
         "no SSH node of environment bare matches @pytest.mark.nodes(role='worker')"),
        ("test_nodes_smoke.py::test_no_such_role[no-ssh-nodes]", "skipped",
         "no SSH node of environment bare matches @pytest.mark.nodes(role='etcd')")]
