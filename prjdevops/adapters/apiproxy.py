"""A retrying loopback proxy in front of the Kubernetes API server, for Helm's own client.

One Helm action is some 40 API requests and Helm's client (client-go) retries none of them on a 5xx, so a small
share of failing answers fails whole upgrades and rollbacks. The tool's own reads already retry (``adapters/kube``);
this proxy gives Helm the same, where repeating a request keeps Helm's semantics:

* reads (GET/HEAD, not watches) on 429, 5xx and connection failures;
* writes whose repeat is the same write — PATCH, PUT (a stale resourceVersion makes a repeat a 409, never a
  double write) and DELETE — on the same failures;
* POST (create) only on answers that prove the request was not processed: 429, a 503 whose Status reason is
  ``ServiceUnavailable`` (the API server refusing before handling), or no connection at all;
* watches stream through as they come; only a refusal before the first byte is retried; a client that hangs up
  ends its upstream stream at once.

It listens on 127.0.0.1 only, on a free port, and answers only paths under a random token (the server URL in
Helm's kubeconfig carries it; anything else is answered 401); it authenticates upstream as the environment's
kubeconfig says (client certificate, token, CA).

Speed (one Helm action is tens of requests): both its sockets set ``TCP_NODELAY`` (an answer is written as headers
then body; without it Nagle's algorithm holds the body until the client's delayed ACK, ~40 ms a request); the TLS
context is made once; idempotent requests reuse one upstream connection per client connection (a create always
gets a fresh one, so "no connection" still means "nothing was sent" for the POST rule above).

Helm's client caches discovery and OpenAPI answers on disk under ``~/.kube/cache``, keyed by the server's address:
for this proxy, a port and token no later run uses again. So when it stops, the proxy removes what Helm cached
about it (``client_cache_entries``); otherwise every run of the tool would leave some 2 MB there for good.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import select
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from prjdevops.adapters.kube import RetryPolicy

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade", "host", "authorization", "content-length"}
RETRY_STATUSES = {429, 500, 502, 503, 504}
IDEMPOTENT = {"GET", "HEAD", "PATCH", "PUT", "DELETE", "OPTIONS"}


@dataclass(frozen=True)
class Upstream:
    """Where the API server is and how to authenticate to it (from the kubeconfig, read by ``adapters/kube``)."""

    url: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    verify: bool = True

    def tls_context(self) -> ssl.SSLContext:
        """The client TLS context (CA, client certificate): made once per proxy, shared by its connections."""
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.verify else ssl._create_unverified_context()
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def connection(self, timeout: float | None, context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        if parts.scheme == "https":
            return http.client.HTTPSConnection(host, parts.port or 443, timeout=timeout,
                                               context=context or self.tls_context())
        return http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)

    @property
    def base_path(self) -> str:
        return urlsplit(self.url).path.rstrip("/")


@dataclass
class Stats:
    """What the proxy did (benchmarks and tests read it)."""

    requests: int = 0
    retried: int = 0
    gave_up: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *, retried: int = 0, gave_up: bool = False) -> None:
        with self.lock:
            self.requests += 1
            self.retried += retried
            self.gave_up += int(gave_up)


def retryable(method: str, status: int | None, body: bytes) -> bool:
    """Whether a request that got ``status`` (None: no connection, nothing sent) may be sent again (pure)."""
    if status is None:
        return True
    if status not in RETRY_STATUSES:
        return False
    if method in IDEMPOTENT:
        return True
    if status == 429:
        return True
    if status == 503:
        try:
            return bool(json.loads(body or b"{}").get("reason") == "ServiceUnavailable")
        except (ValueError, AttributeError):
            return False
    return False


def client_cache_entries(cache_root: Path, port: int, paths: Iterable[str]) -> list[Path]:
    """What Helm's client (client-go) cached on disk about a server at ``http://127.0.0.1:<port>`` (pure): the
    discovery folder ``discovery/127.0.0.1_<port>`` and, in ``http/``, one file per GET it made there, named by the
    SHA-256 of the request's URL (client-go's ``cached/disk`` round tripper keys its HTTP cache that way)."""
    urls = dict.fromkeys(f"http://127.0.0.1:{port}{p}" for p in paths)
    return [cache_root / "discovery" / f"127.0.0.1_{port}",
            *(cache_root / "http" / hashlib.sha256(u.encode()).hexdigest() for u in urls)]


def discovery_path(path: str) -> bool:
    """Whether a GET of ``path`` is one client-go's discovery client makes, the only answers it caches on disk:
    ``/version``, ``/api``, ``/apis``, a group-version's resource list, OpenAPI documents (pure). A bounded set, so
    recording them does not grow with a long run."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    if not parts:
        return False
    if parts[0] in ("version", "openapi"):
        return True
    return (parts[0] == "api" and len(parts) <= 2) or (parts[0] == "apis" and len(parts) <= 3)


def kube_cache_root() -> Path:
    """Where Helm's client keeps its disk cache: ``~/.kube/cache`` (the Helm library reads no KUBECACHEDIR)."""
    return Path.home() / ".kube" / "cache"


def is_watch(path: str) -> bool:
    parts = urlsplit(path)
    q = parse_qs(parts.query)
    return "/watch/" in parts.path or q.get("watch", ["false"])[0] in ("true", "1")


def _nodelay(conn: http.client.HTTPConnection) -> None:
    """Connect now, with Nagle's algorithm off (see the module's doc)."""
    conn.connect()
    if conn.sock is not None:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _kept: http.client.HTTPConnection | None = None  # this client connection's upstream, for idempotent requests

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._kept is not None:
                self._kept.close()
                self._kept = None

    def _upstream(self, *, watch: bool) -> tuple[http.client.HTTPConnection, bool]:
        """(connection, reusable): the kept one for an idempotent non-watch request, else a fresh one."""
        proxy = self.server.proxy
        if watch or self.command not in IDEMPOTENT:
            conn = proxy.upstream.connection(timeout=None if watch else proxy.timeout, context=proxy.tls)
            _nodelay(conn)
            return conn, False
        if self._kept is None:
            conn = proxy.upstream.connection(timeout=proxy.timeout, context=proxy.tls)
            _nodelay(conn)  # raises when the API server cannot be reached: nothing kept then
            self._kept = conn
        return self._kept, True

    def _release(self, conn: http.client.HTTPConnection, kept: bool) -> None:
        conn.close()
        if kept and conn is self._kept:
            self._kept = None

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _refuse(self, code: int, message: str) -> None:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                           "reason": "Unauthorized" if code == 401 else "ServiceUnavailable", "code": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        proxy = self.server.proxy
        prefix = f"/{proxy.token}"
        if not (self.path == prefix or self.path.startswith(prefix + "/") or self.path.startswith(prefix + "?")):
            self._refuse(401, "the prjdevops API proxy answers only the client it was started for")
            return
        request_path = self.path[len(prefix):] or "/"
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if proxy.upstream.token:
            headers["Authorization"] = f"Bearer {proxy.upstream.token}"
        if body:
            headers["Content-Length"] = str(len(body))
        path = proxy.upstream.base_path + request_path
        watch = is_watch(request_path)
        if self.command == "GET" and discovery_path(request_path):
            proxy.got(self.path)
        policy = proxy.policy
        started = time.monotonic()
        attempt = 0
        stale_retry = True  # one immediate retry when a kept connection turns out closed by the server
        while True:
            status: int | None = None
            payload = b""
            out_headers: list[tuple[str, str]] = []
            conn: http.client.HTTPConnection | None = None
            reused = reusable = False
            try:
                reused = self._kept is not None and not watch and self.command in IDEMPOTENT
                conn, reusable = self._upstream(watch=watch)
                conn.request(self.command, path, body=body or None, headers=headers)
                resp = conn.getresponse()
                status = resp.status
                if watch and status == 200:
                    proxy.stats.add(retried=attempt)
                    self._stream(resp, conn)
                    return
                payload = resp.read()
                out_headers = resp.getheaders()
                if not (reusable and not resp.will_close):
                    self._release(conn, reusable)
            except (OSError, http.client.HTTPException) as e:
                if conn is not None:
                    self._release(conn, reusable)
                if reused and stale_retry and status is None:
                    stale_retry = False  # the server closed the idle connection: not the API failing
                    continue
                proxy.last_failure = (f"Kubernetes API at {proxy.upstream.url} is unreachable "
                                      f"({getattr(e, 'strerror', None) or type(e).__name__})").replace(
                    "(Connection refused)", "(connection refused)")
            wait = policy.delay(attempt)
            if (status is not None and status < 500 and status != 429) or not retryable(self.command, status,
                                                                                        payload) \
                    or attempt + 1 >= policy.attempts or time.monotonic() - started + wait > policy.total:
                break
            attempt += 1
            proxy.failing(f"HTTP {status}" if status is not None else "no answer", self.command,
                          request_path.split("?", 1)[0], wait)
            time.sleep(wait)
        proxy.stats.add(retried=attempt, gave_up=status is None or status in RETRY_STATUSES)
        if status is not None and status not in RETRY_STATUSES:
            proxy.answered()
        if status is None:
            self._refuse(503, f"the Kubernetes API at {proxy.upstream.url} is unreachable (tried {attempt + 1} "
                              "times)")
            return
        self.send_response(status)
        for k, v in out_headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _stream(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> None:
        """Forward a watch as it comes (chunked); a client that hangs up ends the upstream stream at once."""
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        ended = threading.Event()
        failed: list[bool] = []

        def pump() -> None:
            try:
                while True:
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
            except Exception:
                failed.append(True)
            finally:
                ended.set()

        reader = threading.Thread(target=pump, name="api-proxy-watch", daemon=True)
        reader.start()
        client_gone = False
        while not ended.wait(0.5):
            if self.server.proxy.stopping.is_set():
                client_gone = True
                break
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    client_gone = True
                    break
            except (OSError, ValueError):
                client_gone = True
                break
        if client_gone or failed:
            self.close_connection = True
            try:
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        conn.close()
        reader.join(timeout=5)
        if not client_gone and not failed:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: RetryingProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (Helm cancelled, the command ending) is not an error to print: the
        tool's output stays one line."""
        return None


class RetryingProxy:
    """The proxy's lifetime: ``start()`` on a free loopback port, ``kubeconfig()`` for Helm, ``stop()``."""

    def __init__(self, upstream: Upstream, *, policy: RetryPolicy | None = None, timeout: float = 60.0,
                 on_retry: Callable[[str], None] | None = None) -> None:
        self.upstream = upstream
        self.on_retry = on_retry  # hears retries (at most one line a second): a wait is never silent
        self._noted = 0.0
        self._failing_since = 0.0
        self._note_lock = threading.Lock()
        self.policy = policy or RetryPolicy(attempts=6, base=0.05, cap=1.0, total=15.0)
        self.timeout = timeout
        self.token = secrets.token_urlsafe(24)
        self.stats = Stats()
        self.last_failure: str | None = None  # why the upstream could not be reached, for the one-line error
        self.stopping = threading.Event()
        self.tls = upstream.tls_context() if urlsplit(upstream.url).scheme == "https" else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._gets: set[str] = set()  # the paths of the GETs served: what Helm's client may have cached
        self._gets_lock = threading.Lock()
        self.port = 0

    def got(self, path: str) -> None:
        with self._gets_lock:
            self._gets.add(path)

    def gets(self) -> list[str]:
        """The paths (token, query) of the GETs served so far."""
        with self._gets_lock:
            return sorted(self._gets)

    def failing(self, what: str, method: str, path: str, wait: float) -> None:
        """A request failed and will be tried again: say so, at most once a second, with how long the API has
        been failing (Helm's own client tries again on top of these retries)."""
        if self.on_retry is None:
            return
        with self._note_lock:
            now = time.monotonic()
            self._failing_since = self._failing_since or now
            if now - self._noted < 1.0:
                return
            self._noted = now
            since = now - self._failing_since
        why = f"{what} ({self.last_failure.rsplit('(', 1)[-1].rstrip(')')})" if what == "no answer" and \
            self.last_failure else what
        self.on_retry(f"  Kubernetes API at {self.upstream.url}: {why} to {method} {path} for {since:.0f}s; "
                      f"trying again in {wait:.1f}s")

    def answered(self) -> None:
        self._failing_since = 0.0

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RetryingProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="api-proxy", daemon=True)
        self._thread.start()
        return self

    def kubeconfig(self, path: Path, context: str = "prjdevops-proxy") -> Path:
        """A kubeconfig (mode 0600) whose one context reaches the API through this proxy."""
        # the token is the server URL's path prefix: client-go sends no bearer token to a plain-http server
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": context,
               "clusters": [{"name": context, "cluster": {"server": f"{self.url}/{self.token}"}}],
               "users": [{"name": context, "user": {}}],
               "contexts": [{"name": context, "context": {"cluster": context, "user": context}}]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(doc))
        return path

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.forget_client_cache()

    def forget_client_cache(self) -> None:
        """Remove what Helm's client cached on disk about this proxy (its address is never used again)."""
        with self._gets_lock:
            paths, self._gets = list(self._gets), set()
        for entry in client_cache_entries(kube_cache_root(), self.port, paths):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
