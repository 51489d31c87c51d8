"""The background sandbox: up/status/down/reset, state that survives a restart, clear errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from kubesandbox import Sandbox, lifecycle
from kubesandbox.errors import SandboxError

from .helpers import raw, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    h = tmp_path / "sandbox-home"
    yield h
    lifecycle.down(h)  # never leave a background server behind


def test_up_status_down_reset_with_persistent_state(home: Path) -> None:
    port = free_port()
    assert lifecycle.status(home) is None
    info = lifecycle.up(home, port=port)
    assert info.url == f"http://127.0.0.1:{port}" and info.pid > 0
    assert (home / "pid").read_text().strip() == str(info.pid)
    assert info.kubeconfig == home / "kubeconfig" and info.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert lifecycle.up(home, port=port).pid == info.pid  # idempotent
    assert lifecycle.status(home) == info

    api = config.new_client_from_config(config_file=str(info.kubeconfig), context="sandbox")
    client.CoreV1Api(api).create_namespaced_config_map("default", {"metadata": {"name": "kept"},
                                                                   "data": {"a": "1"}})
    api.close()
    assert lifecycle.down(home) is True
    assert lifecycle.status(home) is None and not (home / "pid").exists()
    assert (home / "state.json").exists()
    assert lifecycle.down(home) is False

    info2 = lifecycle.up(home, port=port)
    api = config.new_client_from_config(config_file=str(info2.kubeconfig), context="sandbox")
    kept = client.CoreV1Api(api).read_namespaced_config_map("kept", "default")
    assert kept.data == {"a": "1"}
    api.close()

    lifecycle.reset(home)
    assert lifecycle.status(home) is None and not (home / "state.json").exists()
    info3 = lifecycle.up(home, port=port)
    api = config.new_client_from_config(config_file=str(info3.kubeconfig), context="sandbox")
    names = [c.metadata.name for c in client.CoreV1Api(api).list_namespaced_config_map("default").items]
    api.close()
    assert "kept" not in names
    assert "sandbox serving on" in (home / "sandbox.log").read_text()


def test_up_on_a_busy_port_says_so(home: Path) -> None:
    with Sandbox() as other, pytest.raises(SandboxError, match=f"port {other.port} .* busy"):
        lifecycle.up(home, port=other.port)
    assert lifecycle.status(home) is None


def test_in_process_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Sandbox(state_file=state) as sb:
        sb.api.create(sb.api.rt("", "v1", "configmaps"), "default",
                      {"metadata": {"name": "x"}, "data": {"k": "v"}})
        rv = sb.store.resource_version
    with Sandbox(state_file=state) as sb:
        obj = sb.store.get("", "v1", "configmaps", "default", "x")
        assert obj is not None and obj["data"] == {"k": "v"}
        assert sb.store.resource_version >= rv
        assert not list(tmp_path.glob(".state-*"))  # the tmp file was renamed, not left behind


def test_up_with_a_corrupt_state_file_says_so(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "state.json").write_text("{not json")
    with pytest.raises(SandboxError, match="cannot read sandbox state") as e:
        lifecycle.up(home, port=free_port())
    assert "\n" not in str(e.value)
    assert lifecycle.status(home) is None
    lifecycle.reset(home)
    assert not (home / "state.json").exists()


def test_cli_serve_writes_kubeconfig_and_stops_on_sigterm(tmp_path: Path) -> None:

    port, kc = free_port(), tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "kubesandbox", "serve", "--port", str(port),
                             "--state", str(tmp_path / "state.json"), "--kubeconfig", str(kc)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(kc.exists, timeout=10, what="kubeconfig written")
        assert raw(f"http://127.0.0.1:{port}", "GET", "/version")[0] == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert f"sandbox serving on http://127.0.0.1:{port}" in out and "state saved" in out
    assert (tmp_path / "state.json").exists()



def test_cli_refuses_a_non_loopback_host(tmp_path: Path) -> None:

    r = subprocess.run([sys.executable, "-m", "kubesandbox", "serve", "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 2 and "only binds loopback" in r.stderr
