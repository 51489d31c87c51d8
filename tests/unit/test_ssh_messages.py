"""SSH failures become one line naming the host (OpenSSH client stderr and paramiko/socket exceptions)."""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko
import pytest

from prjdevops.adapters.ssh import describe_exception, describe_ssh_stderr, ssh_extra_args
from prjdevops.model import Node

NODE = Node(host="n1.example", port=2222, user="ops", key_file=Path("/k/id"), known_hosts=Path("/k/known_hosts"),
            timeout=4)


@pytest.mark.parametrize(("stderr", "want"), [
    ("ssh: connect to host n1.example port 2222: Connection refused\r\n",
     "n1.example:2222: unreachable: connection refused on port 2222"),
    ("ssh: connect to host n1.example port 2222: Connection timed out\r\n",
     "n1.example:2222: unreachable: no answer within 4s"),
    ("Connection timed out during banner exchange\r\nConnection to 10.0.0.1 port 2222 timed out\r\n",
     "n1.example:2222: unreachable: no answer within 4s"),
    ("ops@n1.example: Permission denied (publickey).\r\n",
     "n1.example:2222: authentication refused for user ops with key /k/id"),
    ("No ED25519 host key is known for [n1.example]:2222 and you have requested strict checking.\r\n"
     "Host key verification failed.\r\n",
     "n1.example:2222: host key not in /k/known_hosts; refusing to connect to an unknown host"),
    ("@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
     "Offending ED25519 key in /k/known_hosts:1\r\nHost key verification failed.\r\n",
     "n1.example:2222: host key mismatch: /k/known_hosts has a different key for this host"),
    ("ssh: Could not resolve hostname n1.example: Name or service not known\r\n",
     "n1.example:2222: unreachable: cannot resolve host name 'n1.example'"),
    ("kex_exchange_identification: read: Connection reset by peer\r\n",
     "n1.example:2222: ssh failed: kex_exchange_identification: read: Connection reset by peer"),
])
def test_openssh_stderr(stderr: str, want: str) -> None:
    assert describe_ssh_stderr(NODE, stderr).message.startswith(want)



@pytest.mark.parametrize(("exc", "want"), [
    (ConnectionRefusedError(111, "Connection refused"), "n1.example:2222: unreachable: connection refused"),
    (paramiko.ssh_exception.NoValidConnectionsError({("10.0.0.1", 2222): ConnectionRefusedError()}),
     "n1.example:2222: unreachable: connection refused on port 2222"),
    (TimeoutError(), "n1.example:2222: unreachable: no answer within 4s"),
    (socket.gaierror(-2, "Name or service not known"), "n1.example:2222: unreachable: cannot resolve host name"),
    (paramiko.AuthenticationException("Authentication failed."),
     "n1.example:2222: authentication refused for user ops with key /k/id"),
    (paramiko.SSHException("Server '[n1.example]:2222' not found in known_hosts"),
     "n1.example:2222: host key not in /k/known_hosts"),
    (paramiko.SSHException("Error reading SSH protocol banner"),
     "n1.example:2222: unreachable: no SSH answer within 4s"),
    (OSError(113, "No route to host"), "n1.example:2222: unreachable: No route to host"),
])
def test_paramiko_and_socket_errors(exc: BaseException, want: str) -> None:
    assert describe_exception(NODE, exc).message.startswith(want)


def test_bad_host_key_names_the_presented_key() -> None:
    key, other = paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)
    err = describe_exception(NODE, paramiko.BadHostKeyException("n1.example", key, other))
    assert err.message.startswith(f"n1.example:2222: host key mismatch: the server presented ssh-rsa {key.fingerprint}")
    assert err.host == "n1.example:2222"


def test_ssh_backend_options_are_strict(tmp_path: Path) -> None:
    kh = tmp_path / "known hosts"
    kh.write_text("")
    opts = ssh_extra_args(Node(host="n1", known_hosts=kh, key_file=tmp_path / "k", timeout=7))
    for want in ("StrictHostKeyChecking=yes", f"UserKnownHostsFile='{kh}'", "BatchMode=yes", "ConnectTimeout=7",
                 "IdentitiesOnly=yes", "GlobalKnownHostsFile=/dev/null"):
        assert want in opts
    assert "StrictHostKeyChecking=no" not in opts and "accept-new" not in opts
