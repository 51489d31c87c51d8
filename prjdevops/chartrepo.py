"""A real Helm chart repository on loopback (``index.yaml`` + packaged ``.tgz`` over HTTP), for stand-in charts.

The official repositories (jetstack, metallb, jenkins, argo, bitnami) are unreachable from test machines, so the
``local`` environment and the tests pull stand-in charts with the same names, versions, CRDs and workload shapes
from here, through the same Helm pull code path. Packages and the index are built by real Helm (the adapter).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import shutil
import threading
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from prjdevops.adapters.helm import generate_repo_index, package_chart
from prjdevops.environments import project_root
from prjdevops.errors import ConfigError, DeployError

log = logging.getLogger("prjdevops.chartrepo")

DEFAULT_PORT = 8879  # `helm serve`'s historical port


def standin_sources(root: Path | None = None) -> Path:
    return (root or project_root()) / "helm" / "standins"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_repository(sources: Path, dest: Path) -> list[Path]:
    """Package every chart folder under ``sources`` into ``dest`` and write its ``index.yaml``.

    ``dest`` is emptied first so a removed stand-in does not linger in the index.
    """
    charts = sorted(p for p in sources.iterdir() if (p / "Chart.yaml").is_file()) if sources.is_dir() else []
    if not charts:
        raise ConfigError(f"no charts to serve in {sources} (each chart is a folder with a Chart.yaml)")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    packages = [package_chart(chart, dest) for chart in charts]
    generate_repo_index(dest)
    return packages


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_OCI_PATH = re.compile(r"^/v2/(?P<repo>.+)/(?P<what>manifests|blobs|tags)/(?P<ref>[^/]+)$")


class _Handler(SimpleHTTPRequestHandler):
    """Read-only files of one folder (an HTTP chart repository) and the same charts as a read-only OCI
    registry under ``/v2/`` (any path prefix, e.g. ``oci://127.0.0.1:8879/bitnamicharts/harbor``).
    Loopback clients only; no directory listings."""

    server: _RepoServer

    def do_GET(self) -> None:
        if self.path.startswith("/v2/"):
            self._oci(head=False)
        elif self._allowed():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self.path.startswith("/v2/"):
            self._oci(head=True)
        elif self._allowed():
            super().do_HEAD()

    def _oci(self, *, head: bool) -> None:
        """The distribution API subset ``helm pull oci://`` uses: tags list, manifest by tag or digest, blobs."""
        if not _is_loopback(self.client_address[0]):
            self.send_error(403, "loopback clients only")
            return
        path = self.path.split("?", 1)[0]
        self.server.record(path)
        if path == "/v2/":
            self._send(200, b"{}", "application/json", head)
            return
        m = _OCI_PATH.match(path)
        chart = m["repo"].rsplit("/", 1)[-1] if m else ""
        store = self.server.oci_store(chart) if m else {}
        if m is None or not store:
            self._send(404, json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": path}]}).encode(),
                       "application/json", head)
            return
        if m["what"] == "tags":
            tags = sorted(t for t in store if not t.startswith("sha256:"))
            self._send(200, json.dumps({"name": m["repo"], "tags": tags}).encode(), "application/json", head)
            return
        ref = m["ref"].replace("+", "_")
        if m["what"] == "manifests" and ref in store:
            body, _ = store[ref]
            self._send(200, body, OCI_MANIFEST, head, digest=_digest(body))
        elif m["what"] == "blobs" and ref in store:
            body, kind = store[ref]
            self._send(200, body, kind, head, digest=ref)
        else:
            self._send(404, json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": ref}]}).encode(),
                       "application/json", head)

    def _send(self, code: int, body: bytes, content_type: str, head: bool, digest: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _allowed(self) -> bool:
        if not _is_loopback(self.client_address[0]):
            self.send_error(403, "loopback clients only")
            return False
        path = self.path.split("?", 1)[0]
        if path.endswith("/") or not (path.endswith(".tgz") or path.endswith("/index.yaml")):
            self.send_error(404, "only index.yaml and chart archives are served")
            return False
        self.server.record(path)
        return True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: requests are recorded, not printed
        log.debug("chart repository: " + format, *args)


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _oci_entries(directory: Path, chart: str) -> dict[str, tuple[bytes, str]]:
    """OCI artifacts Helm would push for each ``<chart>-<version>.tgz``: config (Chart.yaml as JSON), layer,
    manifest; keyed by tag (the version, ``+`` as ``_``) and by digest."""
    index = yaml.safe_load((directory / "index.yaml").read_text()) if (directory / "index.yaml").is_file() else {}
    out: dict[str, tuple[bytes, str]] = {}
    for entry in (index.get("entries") or {}).get(chart) or []:
        archive = directory / f"{chart}-{entry['version']}.tgz"
        if not archive.is_file():
            continue
        meta = {k: v for k, v in entry.items() if k not in ("urls", "digest", "created", "removed")}
        config = json.dumps(meta, sort_keys=True).encode()
        layer = archive.read_bytes()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": HELM_LAYER, "digest": _digest(layer), "size": len(layer)}],
            "annotations": {"org.opencontainers.image.title": chart,
                            "org.opencontainers.image.version": str(entry["version"])},
        }).encode()
        out[_digest(config)] = (config, HELM_CONFIG)
        out[_digest(layer)] = (layer, HELM_LAYER)
        out[_digest(manifest)] = (manifest, OCI_MANIFEST)
        out[str(entry["version"]).replace("+", "_")] = (manifest, OCI_MANIFEST)
    return out


class _RepoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], directory: Path) -> None:
        self.directory = directory
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._oci: dict[str, dict[str, tuple[bytes, str]]] = {}
        super().__init__(address, lambda *a: _Handler(*a, directory=str(directory)))

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def oci_store(self, chart: str) -> dict[str, tuple[bytes, str]]:
        """Tag and digest -> (body, media type) for every packaged version of ``chart`` (built on first use)."""
        with self._lock:
            if chart not in self._oci:
                self._oci[chart] = _oci_entries(self.directory, chart)
            return self._oci[chart]


class ChartRepository:
    """Serve a folder of packaged charts on a loopback address (background thread).

    >>> with ChartRepository(folder) as repo:
    ...     repo.url  # http://127.0.0.1:<port>
    """

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ConfigError(f"the chart repository only binds loopback addresses, not {host!r}")
        self.directory = directory
        self.host = host
        self.port = port
        self._server: _RepoServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise DeployError("the chart repository is not running")
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def requests(self) -> list[str]:
        """Paths asked for so far (tests use it to see cache hits)."""
        return list(self._server.requests) if self._server else []

    def start(self) -> ChartRepository:
        if self._server is not None:
            return self
        try:
            self._server = _RepoServer((self.host, self.port), self.directory)
        except OSError as e:
            raise DeployError(f"cannot serve the chart repository on {self.host}:{self.port}: {e.strerror or e}",
                              hint="pick another port or stop what uses it") from e
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="chart-repository", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> ChartRepository:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` serves a chart repository index."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/index.yaml", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def serve_standins(url: str, workdir: Path, *, sources: Path | None = None) -> ChartRepository | None:
    """Make the stand-in repository answer at ``url`` (a loopback ``http://host:port``).

    When something already serves an index there, use it and return None. Otherwise package the stand-ins
    into ``workdir`` and serve them from this process; the caller stops the returned repository when done.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not _is_loopback(parts.hostname):
        raise ConfigError(f"the stand-in chart repository must be an http:// loopback URL, not {url!r}")
    if answers(url):
        return None
    build_repository(sources or standin_sources(), workdir)
    return ChartRepository(workdir, host=parts.hostname, port=parts.port or 80).start()
