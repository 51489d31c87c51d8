"""A real OpenSSH server on 127.0.0.1 for the SSH tests: free port, generated host and user keys, own config.

Skips with a ``needs:`` reason when ``/usr/sbin/sshd`` (Debian ``openssh-server``) or ``ssh-keygen`` is absent (a
failure under ``CI=true``, see tests/conftest.py). CI installs
the package (``.ci/run``); the server is started and stopped by these fixtures, once per test session.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    key: Path  # private key authorized on the server
    other_key: Path  # a valid key the server does not accept
    known_hosts: Path  # the server's real host key
    wrong_known_hosts: Path  # another key recorded for the same [host]:port
    home: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"sshd exited with {proc.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not start listening within 10s")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.is_file():
        pytest.skip("needs: /usr/sbin/sshd for the SSH tests (apt-get install -y openssh-server)")
    if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
        pytest.skip("needs: ssh and ssh-keygen for the SSH tests (apt-get install -y openssh-client)")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    home = tmp_path_factory.mktemp("sshd")
    host_key, other_host_key = home / "host_ed25519", home / "other_host_ed25519"
    user_key, other_key = home / "user_ed25519", home / "stranger_ed25519"
    _keygen(host_key, "host")
    other_host_pub = _keygen(other_host_key, "other-host")
    user_pub = _keygen(user_key, "user")
    _keygen(other_key, "stranger")
    (home / "authorized_keys").write_text(user_pub + "\n")
    port = free_port()
    config = home / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {home / 'sshd.pid'}",
        f"AuthorizedKeysFile {home / 'authorized_keys'}", "StrictModes no", "UsePAM no",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "LogLevel ERROR", "MaxStartups 50", "",
    ]))
    host_pub = Path(f"{host_key}.pub").read_text().split()
    known = home / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    wrong = home / "wrong_known_hosts"
    other = other_host_pub.split()
    wrong.write_text(f"[127.0.0.1]:{port} {other[0]} {other[1]}\n")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc, time.monotonic() + 10)
        yield SshServer("127.0.0.1", port, getpass.getuser(), user_key, other_key, known, wrong, home)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
