"""Run the sandbox as a detached background process under a home directory (pure library, no invoke).

``home`` holds ``pid``, ``port``, ``sandbox.log``, ``kubeconfig`` (context ``sandbox``) and ``state.json``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kubesandbox.errors import SandboxError

from .sandbox import write_kubeconfig

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
CONTEXT = "sandbox"


@dataclass(frozen=True)
class SandboxInfo:
    """A running background sandbox."""

    url: str
    pid: int
    port: int
    kubeconfig: Path
    home: Path
    context: str = CONTEXT


def _paths(home: Path) -> tuple[Path, Path, Path, Path, Path]:
    return home / "pid", home / "port", home / "sandbox.log", home / "kubeconfig", home / "state.json"


def _is_sandbox(pid: int) -> bool:
    """Guard against a recycled pid: the process must be a sandbox server (checked where /proc exists)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True
    try:
        return b"kubesandbox" in cmdline.read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def _answers(url: str, pid: int, timeout: float = 1.0) -> bool:
    """Whether the sandbox process ``pid`` (and not some other server) answers on ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/sandbox/info", timeout=timeout) as resp:
            return bool(resp.status == 200 and json.loads(resp.read()).get("pid") == pid)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        # Same option as the server: connections in TIME_WAIT do not make the port busy, a listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def status(home: Path) -> SandboxInfo | None:
    """The running sandbox of ``home``, or None (stale pid files are ignored)."""
    pid_file, port_file, _, kubeconfig, _ = _paths(Path(home))
    pid, port = _read_int(pid_file), _read_int(port_file)
    if pid is None or port is None or not _alive(pid) or not _is_sandbox(pid):
        return None
    url = f"http://127.0.0.1:{port}"
    return SandboxInfo(url=url, pid=pid, port=port, kubeconfig=kubeconfig, home=Path(home))


def up(home: Path, port: int = 6550) -> SandboxInfo:
    """Start the sandbox in the background (idempotent) and wait until ``/version`` answers."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    current = status(home)
    if current is not None:
        if _answers(current.url, current.pid):
            return current
        raise SandboxError(f"sandbox process {current.pid} is running but does not answer on {current.url}",
                           hint="run down, then up again")
    pid_file, port_file, log_file, kubeconfig, state = _paths(home)
    if _port_busy(port):
        raise SandboxError(f"port {port} on 127.0.0.1 is busy", hint="pick another port or stop what uses it")
    cmd = [sys.executable, "-m", "kubesandbox", "serve", "--port", str(port), "--state", str(state)]
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(home))
    pid_file.write_text(f"{proc.pid}\n")
    port_file.write_text(f"{port}\n")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise SandboxError(f"sandbox did not start: {_last_error(log_file)}", hint=f"see {log_file}")
        if _answers(url, proc.pid, timeout=0.5):
            write_kubeconfig(kubeconfig, url, context=CONTEXT)
            return SandboxInfo(url=url, pid=proc.pid, port=port, kubeconfig=kubeconfig, home=home)
        time.sleep(0.05)
    proc.terminate()
    raise SandboxError(f"sandbox did not answer on {url} within {START_TIMEOUT:.0f} s", hint=f"see {log_file}")


def _last_error(log_file: Path) -> str:
    try:
        lines = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if ln.startswith("error:")]
    line = (errors or lines or ["no output"])[-1]
    return line.removeprefix("error: ")


def down(home: Path) -> bool:
    """Stop the background sandbox (SIGTERM; it saves its state). Returns False if it was not running."""
    home = Path(home)
    info = status(home)
    pid_file = _paths(home)[0]
    if info is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(info.pid):
        time.sleep(0.05)
    if _alive(info.pid):
        raise SandboxError(f"sandbox process {info.pid} did not stop within {STOP_TIMEOUT:.0f} s",
                           hint=f"kill {info.pid} by hand")
    pid_file.unlink(missing_ok=True)
    return True


def reset(home: Path) -> None:
    """Forget every object: stop the sandbox if it runs, then remove its state file."""
    home = Path(home)
    down(home)
    _paths(home)[4].unlink(missing_ok=True)
