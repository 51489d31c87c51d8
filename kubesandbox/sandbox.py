"""The in-process sandbox: store + API + controllers + HTTP server on loopback."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import threading
from pathlib import Path
from types import TracebackType

import yaml

from kubesandbox.errors import SandboxError

from . import openapi, validation
from .api import Api
from .controllers import Controllers
from .faults import FaultSet
from .resources import Registry
from .server import Server
from .store import Store

log = logging.getLogger("kubesandbox")

SAVE_INTERVAL = 1.0


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address: the sandbox has no auth and no TLS."""
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SandboxError(f"the sandbox only binds loopback addresses, not {host!r}",
                           hint="use 127.0.0.1")


class Sandbox:
    """A Kubernetes API emulator on 127.0.0.1.

    >>> with Sandbox() as sb:
    ...     sb.write_kubeconfig(tmp / "kubeconfig")

    Attributes: ``store`` (objects, see :class:`Store`), ``faults`` (:class:`FaultSet`),
    ``controllers`` (:class:`Controllers`), ``api`` (object semantics), ``url`` once started.
    """

    def __init__(self, port: int = 0, state_file: str | os.PathLike[str] | None = None,
                 controllers: bool = True, pod_ready_delay: float = 0.2,
                 lb_pool: str | None = None, host: str = "127.0.0.1",
                 ssa_conflicts: bool = True, probe_time_scale: float = 0.01) -> None:
        check_loopback(host)
        self.host = host
        self.port = port
        self.registry = Registry()
        self.store = Store(self.registry, Path(state_file) if state_file is not None else None)
        self.api = Api(self.registry, self.store)
        # On by default, as on a real API server: an apply (force=false) that changes a field another
        # manager owns is a 409 (e.g. "kubectl scale, then helm upgrade"); ssa_conflicts=False turns it off.
        self.api.ssa_conflicts = ssa_conflicts
        self.faults = FaultSet()
        self.openapi = openapi.Documents()
        self.controllers = Controllers(self.api, self.faults, pod_ready_delay=pod_ready_delay,
                                       lb_pool=lb_pool, enabled=controllers, probe_time_scale=probe_time_scale)
        self._server: Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._requests: dict[str, int] = {}  # Kubernetes API requests served, by verb (not /sandbox/ control)
        self._requests_lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._server is None:
            raise SandboxError("the sandbox is not running", hint="call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Sandbox:
        """Load state, bind, and serve in background threads; returns self."""
        if self._server is not None:
            return self
        check_loopback(self.host)
        try:
            self.store.load()
        except (OSError, ValueError, KeyError) as e:
            raise SandboxError(f"cannot read sandbox state {self.store.state_file}: {e}",
                               hint="reset the sandbox to start empty") from e
        self.api.bootstrap()
        try:
            self._server = Server((self.host, self.port), self)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise SandboxError(f"port {self.port} on {self.host} is busy",
                                   hint="pick another port or stop what uses it") from e
            raise SandboxError(f"cannot listen on {self.host}:{self.port}: {e.strerror or e}") from e
        self.port = self._server.server_port
        self._stopped.clear()
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                 name="sandbox-http", daemon=True)
        serve.start()
        self._threads = [serve]
        self.controllers.start()
        # The field lists for fieldValidation come from the official client's models (~0.2 s to import):
        # load them now, off the request path.
        threading.Thread(target=validation.warm_up, name="sandbox-warm-up", daemon=True).start()
        if self.store.state_file is not None:
            saver = threading.Thread(target=self._saver, name="sandbox-saver", daemon=True)
            saver.start()
            self._threads.append(saver)
        return self

    def _saver(self) -> None:
        while not self._stopped.wait(SAVE_INTERVAL):
            if self.store.dirty:
                try:
                    self.store.save()
                except OSError as e:
                    log.error("cannot save sandbox state: %s", e)

    def count_request(self, method: str) -> None:
        with self._requests_lock:
            self._requests[method] = self._requests.get(method, 0) + 1

    def request_counts(self) -> dict[str, int]:
        """Kubernetes API requests served so far by method, and ``total`` (like kube-apiserver's
        ``apiserver_request_total``; the ``/sandbox/`` control API is not counted). ``GET /sandbox/requests``."""
        with self._requests_lock:
            counts = dict(sorted(self._requests.items()))
        return {**counts, "total": sum(counts.values())}

    def fault_counts(self) -> dict[int, int]:
        """How often each fault ever added fired, by fault id (see :meth:`FaultSet.counts`)."""
        return self.faults.counts()

    def stop(self) -> None:
        """Stop serving, stop the controllers and save the state (if there is a state file)."""
        if self._server is None:
            return
        self._stopped.set()
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self.controllers.stop()
        for t in self._threads:
            t.join(timeout=5)
        self._server = None
        self.store.save()

    def write_kubeconfig(self, path: str | os.PathLike[str], context: str = "sandbox",
                         namespace: str = "default") -> Path:
        """Write a kubeconfig (plain http, no credentials) for this sandbox; file mode 0600."""
        return write_kubeconfig(path, self.url, context=context, namespace=namespace)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def write_kubeconfig(path: str | os.PathLike[str], url: str, *, context: str = "sandbox",
                     namespace: str = "default") -> Path:
    """A kubeconfig whose cluster, user and context are all named ``context``."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                  "namespace": namespace}}],
        "current-context": context,
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    os.chmod(out, 0o600)
    return out
