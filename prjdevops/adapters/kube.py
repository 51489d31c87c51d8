"""The Kubernetes adapter: one official-client ``ApiClient`` per environment (kubeconfig + context).

Never switches the user's current context. Every API failure leaves as a ``ClusterError`` (or
``ClusterUnreachable``) with the operation, the object and the server's own message.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from prjdevops.errors import ClusterError, ClusterUnreachable, ConfigError, Conflict
from prjdevops.model import Cluster
from prjdevops.yamlio import read_yaml

if TYPE_CHECKING:
    from prjdevops.adapters.apiproxy import Upstream

T = TypeVar("T")

LOOPBACK_ONLY_ENV = "PRJDEVOPS_LOOPBACK_ONLY"
RETRY_SECONDS_ENV = "PRJDEVOPS_API_RETRY_SECONDS"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Verbs whose retry cannot apply a change twice: reads, and writes a repeat of which the server refuses when the
# first attempt did land (create -> 409 AlreadyExists, replace with a resourceVersion -> 409 Conflict,
# delete -> 404). Patches are not in the list: a JSON patch applied twice is not the same as once.
RETRY_SAFE_PREFIXES = ("read_", "list_", "get_", "create_", "replace_", "delete_")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for transient API failures.

    Attempt n (from 0) waits ``min(cap, base * 2**n)`` scaled by a random factor in [0.5, 1] (jitter, so many
    clients do not retry in lockstep), honouring a 429's ``Retry-After`` up to ``cap``; it gives up after
    ``attempts`` tries or once ``total`` seconds have passed, whichever comes first.
    """

    attempts: int = 8
    base: float = 0.2
    cap: float = 3.0
    total: float = 20.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The default policy; ``PRJDEVOPS_API_RETRY_SECONDS`` bounds its total time (0 = no retries)."""
        raw = os.environ.get(RETRY_SECONDS_ENV, "").strip()
        if not raw:
            return cls()
        try:
            total = max(0.0, float(raw))
        except ValueError as e:
            raise ConfigError(f"{RETRY_SECONDS_ENV}={raw!r} is not a number of seconds") from e
        return cls(total=total, attempts=cls.attempts if total > 0 else 1)

    def delay(self, attempt: int, retry_after: float | None = None, rng: Callable[[], float] = random.random,
              ) -> float:
        backoff = min(self.cap, self.base * (2 ** attempt)) * (0.5 + rng() / 2)
        return float(min(self.cap, max(backoff, retry_after or 0.0)))


def transient(e: BaseException) -> bool:
    """An API failure worth retrying: 429/5xx answers and connection-level errors (no answer at all)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(e, ApiException):
        return e.status in RETRYABLE_STATUS
    return isinstance(e, HTTPError | OSError)


def _retry_after(e: BaseException) -> float | None:
    headers = getattr(e, "headers", None) or {}
    try:
        return float(headers.get("Retry-After", "")) if headers.get("Retry-After") else None
    except (TypeError, ValueError):
        return None


def with_retries(fn: Callable[[], T], *, policy: RetryPolicy, retry_on: Callable[[BaseException], bool] = transient,
                 sleep: Callable[[float], None] = time.sleep,
                 notify: Callable[[int, float, BaseException], None] | None = None) -> tuple[T, int]:
    """Call ``fn`` until it succeeds, a non-transient error occurs, or the policy gives up (the last error is
    raised with ``retry_attempts`` set on it). Returns the result and how many attempts it took. ``notify`` hears
    (attempt, seconds until the next, error) before each wait."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn(), attempt + 1
        except Exception as e:
            attempt += 1
            wait = policy.delay(attempt - 1, _retry_after(e))
            if (not retry_on(e) or attempt >= policy.attempts
                    or time.monotonic() - started + wait > policy.total):
                e.retry_attempts = attempt  # type: ignore[attr-defined]
                raise
            if notify is not None:
                notify(attempt, wait, e)
            sleep(wait)


def _short_error(err: BaseException) -> str:
    """One short phrase for a transient failure: the HTTP status, or the connection problem."""
    status = getattr(err, "status", None)
    if isinstance(status, int) and status:
        return f"HTTP {status} {getattr(err, 'reason', '') or ''}".strip()
    text = str(err)
    for phrase in ("Connection refused", "timed out", "Name or service not known", "Connection reset"):
        if phrase.lower() in text.lower():
            return phrase.lower()
    return type(err).__name__


def is_loopback(server: str) -> bool:
    """True when an API server URL points at this machine (127.0.0.0/8, ::1 or localhost)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(server).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_only() -> bool:
    return os.environ.get(LOOPBACK_ONLY_ENV, "").strip() not in ("", "0")


def check_loopback_only(server: str, context: str) -> None:
    """With ``PRJDEVOPS_LOOPBACK_ONLY=1`` (set by the test suite) refuse any API server but this machine's."""
    if loopback_only() and not is_loopback(server):
        raise ConfigError(f"context {context!r} points at {server or '(no server)'}, which is not a loopback "
                          f"address; {LOOPBACK_ONLY_ENV} allows only 127.0.0.1/localhost",
                          hint=f"unset {LOOPBACK_ONLY_ENV} to reach other clusters")


@dataclass(frozen=True)
class ContextInfo:
    """What a kubeconfig says about one context: the cluster it points at."""

    name: str
    cluster: str
    server: str
    namespace: str | None
    ca_fingerprint: str | None  # sha256 hex of the CA certificate (DER), when the kubeconfig carries one


def kubeconfig_path(cluster: Cluster) -> Path:
    import os

    if cluster.kubeconfig is not None:
        return cluster.kubeconfig
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path("~/.kube/config").expanduser()


def read_context(cluster: Cluster) -> ContextInfo:
    """Resolve the environment's context in its kubeconfig, without touching the API server."""
    path = kubeconfig_path(cluster)
    if not path.is_file():
        hint = "run invoke sandbox.up" if cluster.sandbox else "set cluster.kubeconfig or KUBECONFIG"
        raise ConfigError(f"kubeconfig {path} does not exist", hint=hint)
    doc = read_yaml(path, what="kubeconfig")
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig (no mapping at the top)")
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
    if cluster.context not in contexts:
        known = ", ".join(sorted(str(n) for n in contexts)) or "none"
        raise ConfigError(f"context {cluster.context!r} is not in kubeconfig {path} (contexts: {known})")
    ctx = contexts[cluster.context]
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or [] if isinstance(c, dict)}
    cl = clusters.get(ctx.get("cluster"))
    if cl is None:
        raise ConfigError(f"context {cluster.context!r} names cluster {ctx.get('cluster')!r}, "
                          f"which kubeconfig {path} does not define")
    return ContextInfo(name=cluster.context, cluster=str(ctx.get("cluster")), server=str(cl.get("server", "")),
                       namespace=ctx.get("namespace"), ca_fingerprint=_ca_fingerprint(cl, path))


def _ca_fingerprint(cl: dict[str, Any], kubeconfig: Path) -> str | None:
    pem: bytes | None = None
    if cl.get("certificate-authority-data"):
        pem = base64.b64decode(cl["certificate-authority-data"])
    elif cl.get("certificate-authority"):
        ca = Path(cl["certificate-authority"])
        ca = ca if ca.is_absolute() else kubeconfig.parent / ca
        try:
            pem = ca.read_bytes()
        except OSError:
            return None
    if not pem:
        return None
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    try:
        der = base64.b64decode(body)
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(value: str) -> str:
    return value.replace(":", "").strip().lower()


class KubeClient:
    """Typed helpers over the official client for one environment's cluster."""

    def __init__(self, cluster: Cluster, *, request_timeout: float = 10.0, retry: RetryPolicy | None = None,
                 ) -> None:
        self.cluster = cluster
        self.request_timeout = request_timeout
        self.retry = retry or RetryPolicy.from_env()
        self._api: Any = None
        # hears each retry of a request ("what failed, attempt n of m, next try in s"): a wait is never silent
        self.on_retry: Callable[[str], None] | None = None
        # group-version -> {kind: the server validates its fields itself}, read once per client (one run)
        self._field_validation: dict[str, dict[str, bool]] = {}
        self._openapi_index: dict[str, str] | None = None
        self._openapi_lock = threading.Lock()

    @property
    def api_client(self) -> Any:
        if self._api is None:
            from kubernetes import config

            path = kubeconfig_path(self.cluster)
            info = read_context(self.cluster)  # clear errors for a missing file/context before the client's own
            check_loopback_only(info.server, info.name)
            try:
                self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=str(path), context=self.cluster.context)
            except Exception as e:  # the loader raises bare ConfigException/ValueError/TypeError
                raise ConfigError(f"kubeconfig {path} context {self.cluster.context!r} is unusable: {e}") from e
        return self._api

    @property
    def server(self) -> str:
        return str(self.api_client.configuration.host)

    def upstream(self) -> Upstream:
        """Where and how the environment's kubeconfig reaches the API server (for the loopback proxy Helm uses)."""
        from prjdevops.adapters.apiproxy import Upstream

        cfg = self.api_client.configuration
        auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken") or ""
        prefix = (cfg.api_key_prefix or {}).get("authorization", "")
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else (auth if prefix or auth else "")
        return Upstream(url=str(cfg.host), ca_file=cfg.ssl_ca_cert or None, cert_file=cfg.cert_file or None,
                        key_file=cfg.key_file or None, token=token or None, verify=bool(cfg.verify_ssl))

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- API groups -------------------------------------------------------------------------------

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api_client)

    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api_client)

    def networking(self) -> Any:
        from kubernetes import client

        return client.NetworkingV1Api(self.api_client)

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def coordination(self) -> Any:
        from kubernetes import client

        return client.CoordinationV1Api(self.api_client)

    def apiextensions(self) -> Any:
        from kubernetes import client

        return client.ApiextensionsV1Api(self.api_client)

    # --- calls ------------------------------------------------------------------------------------

    @contextmanager
    def wrap(self, what: str) -> Iterator[None]:
        """Turn client failures into project errors naming ``what`` was attempted."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ApiException as e:
            kind = Conflict if e.status == 409 else ClusterError
            raise kind(f"{what}: API answered {e.status} {_api_message(e)}{_tries(e)}") from e
        except (HTTPError, OSError) as e:
            raise ClusterUnreachable(
                f"{what}: Kubernetes API at {self.cluster_server_hint()} is unreachable ({type(e).__name__})"
                f"{_tries(e)}",
                hint="start the sandbox with invoke sandbox.up" if self.cluster.sandbox
                else "check the environment's kubeconfig and context") from e

    def cluster_server_hint(self) -> str:
        try:
            return read_context(self.cluster).server
        except ConfigError:
            return "(unknown server)"

    def _attempt(self, fn: Callable[..., T], args: Any, kwargs: dict[str, Any], retry: bool | None,
                 what: str = "") -> T:
        """``fn(*args, **kwargs)``, retried on transient failures when a repeat is safe (see RETRY_SAFE_PREFIXES)."""
        kwargs.setdefault("_request_timeout", self.request_timeout)
        if retry is None:
            retry = getattr(fn, "__name__", "").startswith(RETRY_SAFE_PREFIXES)
        if not retry:
            return fn(*args, **kwargs)
        hear = self.on_retry

        def notify(attempt: int, wait: float, err: BaseException) -> None:
            if hear is not None:
                hear(f"  {what or 'API request'}: {_short_error(err)}; attempt {attempt} of {self.retry.attempts} "
                     f"failed, next try in {wait:.1f}s")

        result, _ = with_retries(lambda: fn(*args, **kwargs), policy=self.retry, notify=notify)
        return result

    def call(self, what: str, fn: Callable[..., T], *args: Any, retry: bool | None = None, **kwargs: Any) -> T:
        """Call the client; transient failures (429, 5xx, no connection) are retried for reads and safe writes
        (``retry=True/False`` overrides the verb-based choice); failures become project errors naming ``what``."""
        with self.wrap(what):
            return self._attempt(fn, args, kwargs, retry, what)

    def helm_descriptions(self, release: str, namespace: str) -> dict[int, str]:
        """Revision -> description, as Helm stored it in its default storage (Secrets ``sh.helm.release.v1.NAME.vN``
        labelled ``owner=helm,name=NAME``: base64 of gzipped JSON); the SDK's summaries leave the description out.
        Only the description is read; a record that cannot be decoded is left out."""
        found = self.call("list Helm's release records", self.core().list_namespaced_secret, namespace,
                          label_selector=f"owner=helm,name={release}")
        out: dict[int, str] = {}
        for secret in found.items or []:
            try:
                raw = base64.b64decode(base64.b64decode((secret.data or {})["release"]))
                record = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
                out[int(record["version"])] = str((record.get("info") or {}).get("description") or "")
            except (KeyError, TypeError, ValueError, OSError):
                continue
        return out

    def _rest(self, what: str, method: str, path: str, body: Any = None, *,
              content_type: str = "application/json") -> Any:
        """One request by path (what the typed clients do not cover: OpenAPI documents, any kind by its REST path),
        its JSON answer as plain data. Reads are retried like every read; a PATCH is not."""
        from kubernetes.client.exceptions import ApiException

        api = self.api_client

        def go(_request_timeout: float | None = None) -> Any:
            req = api.param_serialize(method, path, header_params={"Accept": "application/json",
                                                                   "Content-Type": content_type},
                                      body=body, auth_settings=["BearerToken"])
            resp = api.call_api(*req, _request_timeout=_request_timeout)
            resp.read()
            if not 200 <= int(resp.status) < 300:
                raise ApiException(status=int(resp.status), reason=str(resp.reason), body=resp.data)
            return resp

        go.__name__ = "read_by_path" if method == "GET" else "patch_by_path"  # the retry policy goes by the verb
        response = self.call(what, go)
        try:
            return json.loads(response.data)
        except ValueError as e:
            raise ClusterError(f"{what}: the API server's answer is not JSON ({e})") from e

    def object_path(self, api_version: str, kind: str, namespace: str, name: str) -> str:
        """The REST path of an object (its resource found in the group version's discovery)."""
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        found = self._rest(f"discover {api_version}", "GET", base)
        res = next((r for r in found.get("resources") or [] if r.get("kind") == kind and "/" not in r.get("name", "")),
                   None)
        if res is None:
            raise ClusterError(f"the API server serves no {kind} in {api_version}")
        scope = f"/namespaces/{namespace}" if res.get("namespaced") and namespace else ""
        return f"{base}{scope}/{res['name']}/{name}"

    def take_fields(self, api_version: str, kind: str, namespace: str, name: str, managers: set[str],
                    to: str) -> bool:
        """Give the server-side-apply fields of ``managers`` (their Apply entries in ``managedFields``) to ``to``,
        in one patch guarded by the object's resourceVersion; False when they own nothing there."""
        from prjdevops.fieldowners import handover

        path = self.object_path(api_version, kind, namespace, name)
        live = self._rest(f"read {kind}/{name}", "GET", path)
        meta = live.get("metadata") or {}
        entries = handover(meta.get("managedFields") or [], managers, to)
        if entries is None:
            return False
        self._rest(f"hand over the fields of {kind}/{name}", "PATCH", path,
                   {"metadata": {"managedFields": entries, "resourceVersion": meta.get("resourceVersion")}},
                   content_type="application/merge-patch+json")
        return True

    def get_or_none(self, what: str, fn: Callable[..., T], *args: Any, retry: bool | None = None,
                    **kwargs: Any) -> T | None:
        """Like :meth:`call` but a 404 is ``None``."""
        from kubernetes.client.exceptions import ApiException

        try:
            with self.wrap(what):
                return self._attempt(fn, args, kwargs, retry, what)
        except ClusterError as e:
            if isinstance(e.__cause__, ApiException) and e.__cause__.status == 404:
                return None
            raise

    def version(self) -> dict[str, Any]:
        from kubernetes import client

        info = self.call("read server version", client.VersionApi(self.api_client).get_code)
        return dict(info.to_dict())

    def get_json(self, what: str, path: str) -> Any:
        """A raw GET of an API path (e.g. ``/openapi/v3``) as JSON, retried like every read."""
        return self._rest(what, "GET", path)

    def validates_writes(self) -> bool:
        """Whether the API server validates every object's fields itself (``fieldValidation``, GA in 1.27): then a
        client's own OpenAPI check only asks it whether it does (see ``adapters/helm.py``)."""
        info = self.version()
        try:
            major, minor = int(str(info.get("major", "0")).rstrip("+")), int(str(info.get("minor", "0")).rstrip("+"))
        except ValueError:
            return False
        return (major, minor) >= (1, 27)

    def validates_fields(self, kinds: Iterable[tuple[str, str, str]]) -> bool:
        """Whether the API server validates the fields of every ``(group, version, kind)`` itself: in its OpenAPI
        v3 document of the group-version, every PATCH operation of the kind takes the ``fieldValidation`` query
        parameter. That is the check kubectl's query-parameter verifier makes before Helm installs or upgrades
        (``Build`` with validation): where it holds, Helm's client validates nothing and leaves it to the server.
        Each document is read once per client (one run) and only the answer is kept. Any doubt (no document, no
        PATCH operation for the kind, an error) is False."""
        for group, version, kind in sorted(set(kinds)):
            gv = f"apis/{group}/{version}" if group else f"api/{version}"
            if not self._kinds_validated(gv).get(kind, False):
                return False
        return True

    def _kinds_validated(self, gv: str) -> dict[str, bool]:
        with self._openapi_lock:
            known = self._field_validation.get(gv)
            if known is not None:
                return known
            try:
                if self._openapi_index is None:
                    index = self.get_json("read the OpenAPI v3 index", "/openapi/v3")
                    paths = index.get("paths") if isinstance(index, dict) else None
                    self._openapi_index = {str(k): str((v or {}).get("serverRelativeURL") or "")
                                           for k, v in (paths or {}).items() if isinstance(v, dict)}
                url = self._openapi_index.get(gv)
                doc = self.get_json(f"read the OpenAPI v3 document of {gv}", url) if url else None
            except (ClusterError, ConfigError):
                doc = None  # not known: every release of this group-version gets Helm's own client checks
            group, _, version = gv.removeprefix("apis/").removeprefix("api/").rpartition("/")
            known = patch_field_validation(doc, group, version)
            self._field_validation[gv] = known
            return known

    def pods(self, namespace: str, selector: str | None = None) -> list[Any]:
        result = self.call(f"list pods in {namespace}", self.core().list_namespaced_pod, namespace,
                           label_selector=selector or "")
        return list(result.items)

    def events(self, namespace: str, *, involved: str | None = None) -> list[Any]:
        sel = f"involvedObject.name={involved}" if involved else ""
        result = self.call(f"list events in {namespace}", self.core().list_namespaced_event, namespace,
                           field_selector=sel)
        return sorted(result.items, key=lambda e: str(e.last_timestamp or e.event_time or ""))

    def ensure_namespace(self, name: str) -> bool:
        """Create the namespace when absent; True when it was created."""
        from kubernetes import client

        core = self.core()
        if self.get_or_none(f"read namespace {name}", core.read_namespace, name) is not None:
            return False
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        self.call(f"create namespace {name}", core.create_namespace, body)
        return True


    # --- Leases (coordination.k8s.io/v1), as plain dicts so no flow needs the client's models ----------------

    def read_lease(self, name: str, namespace: str) -> dict[str, Any] | None:
        lease = self.get_or_none(f"read lease {namespace}/{name}", self.coordination().read_namespaced_lease, name,
                                 namespace)
        return None if lease is None else dict(self.api_client.sanitize_for_serialization(lease))

    def write_lease(self, name: str, namespace: str, spec: dict[str, Any], *,
                    resource_version: str | None = None) -> dict[str, Any]:
        """Create the Lease (``resource_version`` None) or replace the version we read: a racing writer makes
        this a :class:`Conflict` (409), never a silent overwrite."""
        api = self.coordination()
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if resource_version is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}
            out = self.call(f"create lease {namespace}/{name}", api.create_namespaced_lease, namespace, body)
        else:
            meta["resourceVersion"] = resource_version
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}
            out = self.call(f"write lease {namespace}/{name}", api.replace_namespaced_lease, name, namespace, body)
        return dict(self.api_client.sanitize_for_serialization(out))

    def delete_lease(self, name: str, namespace: str, *, resource_version: str) -> None:
        """Delete the version we read (a precondition: a Lease someone took meanwhile is left alone)."""
        body = {"preconditions": {"resourceVersion": resource_version}}
        self.get_or_none(f"delete lease {namespace}/{name}", self.coordination().delete_namespaced_lease, name,
                         namespace, body=body)


def patch_field_validation(doc: Any, group: str, version: str) -> dict[str, bool]:
    """For each kind of the group-version whose PATCH operations an OpenAPI v3 document lists: whether every one
    of them takes the ``fieldValidation`` query parameter (inline or as a ``$ref`` to components.parameters),
    as kubectl's ``supportsQueryParamV3`` looks for it (pure)."""
    if not isinstance(doc, dict):
        return {}
    shared = (doc.get("components") or {}).get("parameters") or {}
    out: dict[str, bool] = {}
    for item in (doc.get("paths") or {}).values():
        op = item.get("patch") if isinstance(item, dict) else None
        if not isinstance(op, dict):
            continue
        ext = op.get("x-kubernetes-group-version-kind")
        for gvk in ext if isinstance(ext, list) else [ext]:
            if not isinstance(gvk, dict) or gvk.get("group", "") != group or gvk.get("version") != version:
                continue
            has = False
            for param in op.get("parameters") or []:
                ref = param.get("$ref") if isinstance(param, dict) else None
                if isinstance(ref, str) and ref.startswith("#/components/parameters/"):
                    param = shared.get(ref.rsplit("/", 1)[-1])
                if isinstance(param, dict) and param.get("name") == "fieldValidation" and param.get("in") == "query":
                    has = True
                    break
            kind = str(gvk.get("kind", ""))
            out[kind] = out.get(kind, True) and has
    return out


def _tries(e: BaseException) -> str:
    n = getattr(e, "retry_attempts", 1)
    return f" (gave up after {n} attempts)" if n > 1 else ""


def _api_message(e: Any) -> str:
    """The Status message of an ApiException, or its reason."""
    try:
        body = json.loads(e.body or "{}")
        return f"{body.get('reason', e.reason)}: {body.get('message', '')}".rstrip(": ")
    except (ValueError, TypeError):
        return str(e.reason)
