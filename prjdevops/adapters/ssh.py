"""SSH to inventory nodes: testinfra hosts (``paramiko``/``ssh`` backends) and Fabric connections, all strict.

Host keys are always checked against the node's ``known_hosts`` file (default ``~/.ssh/known_hosts``): an unknown
key or a changed key refuses the connection, never a silent accept. Connections carry timeouts, so an
unreachable node, a refused key or a host-key mismatch becomes an :class:`SSHError` naming the host, never a hang.

testinfra's own ``paramiko`` backend accepts any host key (``WarningPolicy`` and no known_hosts loaded), so the
``paramiko`` backend here is a subclass whose client uses ``RejectPolicy`` with the node's known_hosts; the ``ssh``
backend gets ``StrictHostKeyChecking=yes`` and the node's known_hosts on the command line.
"""

from __future__ import annotations

import functools
import logging
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prjdevops.errors import DeployError
from prjdevops.model import Node

# paramiko logs transport failures (with tracebacks) at ERROR; without a handler Python prints them to stderr on
# top of the one-line failure we report. Callers that configure logging still see them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class SSHError(DeployError):
    """A node could not be reached or refused us; the message names the host."""

    def __init__(self, host: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"{host}: {reason}", hint=hint)
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str


class Probe(Protocol):
    """Runs a shell command on a node; raises :class:`SSHError` when the node cannot be reached."""

    name: str

    def run(self, command: str) -> CommandResult: ...


def known_hosts_path(node: Node) -> Path:
    return node.known_hosts or Path("~/.ssh/known_hosts").expanduser()


def _require_known_hosts(node: Node) -> Path:
    path = known_hosts_path(node)
    if not path.is_file():
        raise SSHError(node.name, f"known_hosts file {path} does not exist; refusing to connect without host-key "
                       "checking", hint=_keyscan_hint(node, path))
    return path


def _keyscan_hint(node: Node, path: Path) -> str:
    return (f"check the node's host key fingerprint out of band, then add it: "
            f"ssh-keyscan -p {node.port} {node.host} >> {path}")


# --- turning failures into one line that names the host --------------------------------------------------


def describe_exception(node: Node, e: BaseException) -> SSHError:
    """A paramiko/socket failure as an :class:`SSHError` naming the host and what to do."""
    import paramiko

    kh = known_hosts_path(node)
    if isinstance(e, SSHError):
        return e
    if isinstance(e, paramiko.BadHostKeyException):
        return SSHError(node.name, f"host key mismatch: the server presented {e.key.get_name()} "
                        f"{e.key.fingerprint}, {kh} has a different key; refusing to connect (possible "
                        "man-in-the-middle, or the node was reinstalled)",
                        hint=f"verify the new key out of band, then replace the entry in {kh}")
    if isinstance(e, paramiko.AuthenticationException):
        key = f"key {node.key_file}" if node.key_file else "the default keys"
        return SSHError(node.name, f"authentication refused for user {node.user or '(current user)'} with {key}")
    if isinstance(e, paramiko.SSHException):
        text = str(e)
        if "not found in known_hosts" in text:
            return SSHError(node.name, f"host key not in {kh}; refusing to connect to an unknown host",
                            hint=_keyscan_hint(node, kh))
        if "protocol banner" in text or "No existing session" in text:
            # the port answered TCP but no SSH server spoke within the banner timeout (a hung or wrong service)
            return SSHError(node.name, f"unreachable: no SSH answer within {node.timeout}s")
        return SSHError(node.name, f"SSH handshake failed: {text or type(e).__name__}")
    if isinstance(e, socket.gaierror):
        return SSHError(node.name, f"unreachable: cannot resolve host name {node.host!r}")
    if isinstance(e, TimeoutError | socket.timeout):
        return SSHError(node.name, f"unreachable: no answer within {node.timeout}s")
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError | ConnectionRefusedError):
        return SSHError(node.name, f"unreachable: connection refused on port {node.port}")
    if isinstance(e, OSError):
        return SSHError(node.name, f"unreachable: {e.strerror or e}")
    return SSHError(node.name, f"SSH failed: {type(e).__name__}: {e}")


def describe_ssh_stderr(node: Node, stderr: str) -> SSHError:
    """What OpenSSH's client said on exit code 255, as an :class:`SSHError` naming the host."""
    kh = known_hosts_path(node)
    text = stderr.replace("\r", "")
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Offending" in text:
        return SSHError(node.name, f"host key mismatch: {kh} has a different key for this host; refusing to "
                        "connect (possible man-in-the-middle, or the node was reinstalled)",
                        hint=f"verify the new key out of band, then replace the entry in {kh}")
    if "Host key verification failed" in text or "host key is known" in text:
        return SSHError(node.name, f"host key not in {kh}; refusing to connect to an unknown host",
                        hint=_keyscan_hint(node, kh))
    if "Permission denied" in text:
        key = f"key {node.key_file}" if node.key_file else "the default keys"
        return SSHError(node.name, f"authentication refused for user {node.user or '(current user)'} with {key}")
    if "Connection refused" in text:
        return SSHError(node.name, f"unreachable: connection refused on port {node.port}")
    if "timed out" in text:
        return SSHError(node.name, f"unreachable: no answer within {node.timeout}s")
    if "Could not resolve hostname" in text:
        return SSHError(node.name, f"unreachable: cannot resolve host name {node.host!r}")
    lines = [line for line in text.splitlines() if line.strip()]
    return SSHError(node.name, f"ssh failed: {lines[-1] if lines else 'exit code 255'}")


# --- paramiko -------------------------------------------------------------------------------------------


def connect_kwargs(node: Node) -> dict[str, Any]:
    """Keyword arguments for ``SSHClient.connect``: the node's key only when given, every phase timed out."""
    kw: dict[str, Any] = {"banner_timeout": node.timeout, "auth_timeout": node.timeout,
                          "channel_timeout": node.timeout}
    if node.key_file is not None:
        kw.update(key_filename=str(node.key_file), look_for_keys=False, allow_agent=False)
    return kw


def paramiko_client(node: Node) -> Any:
    """A connected ``paramiko.SSHClient`` that rejects unknown and changed host keys."""
    import paramiko

    kh = _require_known_hosts(node)
    client = paramiko.SSHClient()
    client.load_host_keys(str(kh))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(hostname=str(node.host), port=node.port, username=node.user, timeout=node.timeout,
                       **connect_kwargs(node))
    except Exception as e:
        client.close()
        raise describe_exception(node, e) from e
    return client


def _strict_paramiko_backend() -> type:
    from testinfra.backend.paramiko import ParamikoBackend

    class StrictParamikoBackend(ParamikoBackend):  # type: ignore[misc]  # testinfra ships no type hints
        """testinfra's paramiko backend with host keys checked against the node's known_hosts."""

        def __init__(self, node: Node) -> None:
            super().__init__(f"{node.user + '@' if node.user else ''}{node.host}:{node.port}", timeout=node.timeout)
            self.node = node

        @functools.cached_property
        def client(self) -> Any:
            return paramiko_client(self.node)

    return StrictParamikoBackend


# --- testinfra ------------------------------------------------------------------------------------------


def ssh_extra_args(node: Node) -> str:
    """OpenSSH options that make the ``ssh`` backend strict, non-interactive and bounded in time."""
    kh = _require_known_hosts(node)
    opts = ["-o StrictHostKeyChecking=yes", f"-o UserKnownHostsFile={shlex.quote(str(kh))}",
            "-o GlobalKnownHostsFile=/dev/null", "-o BatchMode=yes", f"-o ConnectTimeout={node.timeout}",
            "-o ServerAliveInterval=5", "-o ServerAliveCountMax=2"]
    if node.key_file is not None:
        opts.append("-o IdentitiesOnly=yes")
    return " ".join(opts)


def testinfra_host(node: Node) -> Any:
    """A testinfra ``Host`` for an SSH inventory node, through the node's backend (``paramiko`` or ``ssh``)."""
    import testinfra
    from testinfra.host import Host

    if node.host is None:
        raise SSHError(node.name, "is not reached over SSH (it has no host)")
    if node.backend == "ssh":
        spec = f"ssh://{node.user + '@' if node.user else ''}{node.host}:{node.port}"
        kw: dict[str, Any] = {"timeout": node.timeout, "controlpersist": 0, "ssh_extra_args": ssh_extra_args(node)}
        if node.key_file is not None:
            kw["ssh_identity_file"] = str(node.key_file)
        return testinfra.get_host(spec, **kw)
    backend = _strict_paramiko_backend()(node)
    host = Host(backend)
    backend.set_host(host)
    return host


class TestinfraProbe:
    """Runs node commands through a testinfra host; the first connection failure is remembered, so every later
    check of the node fails at once with the same reason instead of waiting for another timeout."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, node: Node) -> None:
        self.node = node
        self.name = node.name
        self._host: Any = None
        self._failure: SSHError | None = None

    @property
    def host(self) -> Any:
        if self._host is None:
            self._host = testinfra_host(self.node)
        return self._host

    def run(self, command: str) -> CommandResult:
        if self._failure is not None:
            raise self._failure
        try:
            out = self.host.run(f"timeout {self.node.timeout} sh -c {shlex.quote(command)}")
        except RuntimeError as e:  # the ssh backend raises RuntimeError(CommandResult) on exit code 255
            self._failure = describe_ssh_stderr(self.node, str(getattr(e.args[0], "stderr", e)) if e.args else "")
            raise self._failure from e
        except Exception as e:
            self._failure = describe_exception(self.node, e)
            raise self._failure from e
        return CommandResult(int(out.rc), str(out.stdout), str(out.stderr))


# --- Fabric ---------------------------------------------------------------------------------------------


def fabric_connection(node: Node) -> Any:
    """A Fabric ``Connection`` whose client rejects unknown/changed host keys (Fabric's default auto-adds)."""
    import paramiko
    from fabric import Connection

    if node.host is None:
        raise SSHError(node.name, "is not reached over SSH (it has no host)")
    kh = _require_known_hosts(node)
    conn = Connection(node.host, user=node.user, port=node.port, connect_timeout=node.timeout,
                      connect_kwargs=connect_kwargs(node))
    conn.client.load_host_keys(str(kh))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return conn


class FabricProbe:
    """Runs node commands over a Fabric connection (``invoke nodes.check`` / ``nodes.diagnose``)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.name = node.name
        self._conn: Any = None
        self._failure: SSHError | None = None

    def run(self, command: str) -> CommandResult:
        if self._failure is not None:
            raise self._failure
        try:
            if self._conn is None:
                self._conn = fabric_connection(self.node)
                self._conn.open()
            res = self._conn.run(command, hide=True, warn=True, timeout=self.node.timeout, in_stream=False)
        except Exception as e:
            # Fabric raises Invoke's CommandTimedOut; matched by name so the library never imports Invoke.
            if type(e).__name__ == "CommandTimedOut":
                return CommandResult(124, "", f"timed out after {self.node.timeout}s")
            self._failure = describe_exception(self.node, e)
            self.close()
            raise self._failure from e
        return CommandResult(int(res.exited), str(res.stdout), str(res.stderr))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
