"""Node checks over real SSH (testinfra paramiko/ssh backends and Fabric) against the test sshd on 127.0.0.1.

The "node" is this machine: the kubelet is not running here, so that check must fail with the host named; swap and
ip_forward are compared with what /proc says locally; the sshd's own port is the demonstrably listening port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from prjdevops.adapters.ssh import FabricProbe, SSHError, TestinfraProbe, paramiko_client
from prjdevops.model import BackupSettings, Cluster, Environment, Node
from prjdevops.verify.nodes import NODE_CHECKS, run_check
from tests.ssh.conftest import SshServer, free_port

BACKENDS = ["paramiko", "ssh"]


def make_node(s: SshServer, backend: str = "paramiko", **kw: object) -> Node:
    base = Node(host=s.host, port=s.port, user=s.user, key_file=s.key, known_hosts=s.known_hosts, backend=backend,
                timeout=3)
    return replace(base, **kw)


def local_swap_on() -> bool:
    return len([line for line in Path("/proc/swaps").read_text().splitlines()[1:] if line.strip()]) > 0


def local_ip_forward() -> bool:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung node): only timeouts end the wait."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_checks_report_this_machine_truthfully(sshd: SshServer, backend: str) -> None:
    node = make_node(sshd, backend, services=("sshd",), ports=(sshd.port,))
    probe = TestinfraProbe(node)
    results = {name: run_check(name, probe, node) for name in NODE_CHECKS}
    assert results["services"] == (True, f"sshd running on 127.0.0.1:{sshd.port}")
    assert results["ports"] == (True, f"port(s) {sshd.port} listening on 127.0.0.1:{sshd.port}")
    assert results["swap-off"][0] is not local_swap_on()
    assert results["ip-forward"][0] is local_ip_forward()
    assert f"127.0.0.1:{sshd.port}" in results["ip-forward"][1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_kubelet_not_running_fails_naming_the_host(sshd: SshServer, backend: str) -> None:
    node = make_node(sshd, backend, roles=("worker",))
    probe = TestinfraProbe(node)
    assert run_check("services", probe, node) == (False, f"kubelet is not running on 127.0.0.1:{sshd.port}")
    ok, reason = run_check("ports", probe, node)  # a worker needs 10250 (the kubelet's port)
    assert not ok and reason == f"port(s) 10250 not listening on 127.0.0.1:{sshd.port}"


def _all_fail(node: Node, probe_cls: type = TestinfraProbe) -> tuple[list[str], float]:
    started = time.monotonic()
    probe = probe_cls(node)
    reasons = []
    for name in NODE_CHECKS:
        ok, reason = run_check(name, probe, node)
        assert not ok, (name, reason)
        reasons.append(reason)
    return reasons, time.monotonic() - started


@pytest.mark.parametrize("backend", BACKENDS)
def test_closed_port_is_unreachable_with_the_host_named(sshd: SshServer, backend: str) -> None:
    port = free_port()
    reasons, took = _all_fail(make_node(sshd, backend, port=port))
    assert set(reasons) == {f"127.0.0.1:{port}: unreachable: connection refused on port {port}"}
    assert took < 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_key_fails_with_the_host_named(sshd: SshServer, backend: str) -> None:
    reasons, took = _all_fail(make_node(sshd, backend, key_file=sshd.other_key))
    assert set(reasons) == {f"127.0.0.1:{sshd.port}: authentication refused for user {sshd.user} with key "
                            f"{sshd.other_key}"}
    assert took < 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_key_mismatch_is_refused_with_the_host_named(sshd: SshServer, backend: str) -> None:
    reasons, _ = _all_fail(make_node(sshd, backend, known_hosts=sshd.wrong_known_hosts))
    [reason] = set(reasons)
    assert reason.startswith(f"127.0.0.1:{sshd.port}: host key mismatch")
    assert "refusing to connect" in reason


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_host_key_is_refused_not_added(sshd: SshServer, backend: str, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    reasons, _ = _all_fail(make_node(sshd, backend, known_hosts=empty))
    assert set(reasons) == {f"127.0.0.1:{sshd.port}: host key not in {empty}; refusing to connect to an unknown "
                            "host (check the node's host key fingerprint out of band, then add it: "
                            f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty})"}
    assert empty.read_text() == ""  # nothing was silently added


def test_missing_known_hosts_file_refuses_to_connect(sshd: SshServer, tmp_path: Path) -> None:
    reasons, _ = _all_fail(make_node(sshd, known_hosts=tmp_path / "nope"))
    assert reasons[0].startswith(f"127.0.0.1:{sshd.port}: known_hosts file {tmp_path / 'nope'} does not exist")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_silent_node_times_out_instead_of_hanging(sshd: SshServer, backend: str, silent_server: int) -> None:
    reasons, took = _all_fail(make_node(sshd, backend, port=silent_server, timeout=1))
    assert all(r.startswith(f"127.0.0.1:{silent_server}: ") for r in reasons), reasons
    assert took < 6  # one timeout for the first check; the others reuse the failure


def test_paramiko_client_connects_with_the_right_key(sshd: SshServer) -> None:
    client = paramiko_client(make_node(sshd))
    try:
        _, out, _ = client.exec_command("echo hello", timeout=3)
        assert out.read().decode().strip() == "hello"
    finally:
        client.close()
    with pytest.raises(SSHError, match="authentication refused"):
        paramiko_client(make_node(sshd, key_file=sshd.other_key))


# --- Fabric: invoke nodes.check / nodes.diagnose ------------------------------------------------------------


def test_fabric_probe_runs_the_same_checks(sshd: SshServer) -> None:
    node = make_node(sshd, services=("sshd",), ports=(sshd.port,))
    probe = FabricProbe(node)
    try:
        assert run_check("services", probe, node)[0] is True
        assert run_check("ports", probe, node)[0] is True
        assert run_check("ip-forward", probe, node)[0] is local_ip_forward()
    finally:
        probe.close()
    for bad, want in [({"key_file": sshd.other_key}, "authentication refused"),
                      ({"known_hosts": sshd.wrong_known_hosts}, "host key mismatch"),
                      ({"port": free_port()}, "unreachable: connection refused")]:
        reasons, _ = _all_fail(make_node(sshd, **bad), FabricProbe)
        assert all(want in r and r.startswith("127.0.0.1:") for r in reasons), reasons


def _env_with(tmp_path: Path, *nodes: Node) -> Environment:
    return Environment(name="demo", file=tmp_path / "demo.yaml", root=tmp_path, cluster=Cluster(context="x"),
                       backup=BackupSettings(dir=tmp_path / "backups"), inventory=nodes)


def test_nodes_check_reports_every_node_even_when_one_is_down(sshd: SshServer, tmp_path: Path) -> None:
    from prjdevops.ops import nodes

    down = free_port()
    env = _env_with(tmp_path, make_node(sshd, services=("sshd",), ports=(sshd.port,)), make_node(sshd, port=down))
    lines: list[str] = []
    results = nodes.check(env, report=lines.append)
    by_node = {(r.node, r.check): r for r in results}
    assert by_node[(f"127.0.0.1:{sshd.port}", "services")].ok
    assert not by_node[(f"127.0.0.1:{down}", "services")].ok
    assert len(results) == 2 * len(NODE_CHECKS) and len(lines) == len(results)
    assert any(line.startswith(f"FAIL 127.0.0.1:{down} swap-off: 127.0.0.1:{down}: unreachable") for line in lines)


def test_nodes_diagnose_collects_evidence_into_the_evidence_folder(sshd: SshServer, tmp_path: Path) -> None:
    from prjdevops.ops import nodes

    down = free_port()
    env = _env_with(tmp_path, make_node(sshd), make_node(sshd, port=down))
    folder, evidence = nodes.diagnose(env)
    assert folder.parent == tmp_path / "backups" / "demo" / "_evidence"
    good, bad = evidence
    assert good.error == "" and sorted(good.files) == ["disk.txt", "kubelet-journal.txt", "memory.txt"]
    assert good.folder == folder / f"127.0.0.1_{sshd.port}"
    assert "Mem:" in (good.folder / "memory.txt").read_text()
    assert "Filesystem" in (good.folder / "disk.txt").read_text()
    assert (good.folder / "kubelet-journal.txt").read_text().startswith("$ journalctl -u kubelet")
    assert bad.folder is None and bad.error == f"127.0.0.1:{down}: unreachable: connection refused on port {down}"


def test_nodes_need_an_ssh_inventory(tmp_path: Path) -> None:
    from prjdevops.errors import ConfigError
    from prjdevops.ops import nodes

    with pytest.raises(ConfigError, match="lists no SSH nodes in its inventory"):
        nodes.check(_env_with(tmp_path))
    with pytest.raises(ConfigError, match="has no SSH node 'n9'"):
        nodes.check(_env_with(tmp_path, Node(host="n1")), only="n9")
