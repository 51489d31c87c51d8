"""The Kubernetes adapter: one official-client ``ApiClient`` per environment (kubeconfig + context).

Never switches the user's current context. Every API failure leaves as a ``ClusterError`` (or
``ClusterUnreachable``) with the operation, the object and the server's own message.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prjdevops.errors import ClusterError, ClusterUnreachable, ConfigError
from prjdevops.model import Cluster
from prjdevops.yamlio import read_yaml

T = TypeVar("T")


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

    def __init__(self, cluster: Cluster, *, request_timeout: float = 10.0) -> None:
        self.cluster = cluster
        self.request_timeout = request_timeout
        self._api: Any = None

    @property
    def api_client(self) -> Any:
        if self._api is None:
            from kubernetes import config

            path = kubeconfig_path(self.cluster)
            read_context(self.cluster)  # clear errors for a missing file/context before the client's own
            try:
                self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=str(path), context=self.cluster.context)
            except Exception as e:  # the loader raises bare ConfigException/ValueError/TypeError
                raise ConfigError(f"kubeconfig {path} context {self.cluster.context!r} is unusable: {e}") from e
        return self._api

    @property
    def server(self) -> str:
        return str(self.api_client.configuration.host)

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

    # --- calls ------------------------------------------------------------------------------------

    @contextmanager
    def wrap(self, what: str) -> Iterator[None]:
        """Turn client failures into project errors naming ``what`` was attempted."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ApiException as e:
            raise ClusterError(f"{what}: API answered {e.status} {_api_message(e)}") from e
        except (HTTPError, OSError) as e:
            raise ClusterUnreachable(
                f"{what}: Kubernetes API at {self.cluster_server_hint()} is unreachable ({type(e).__name__})",
                hint="start the sandbox with invoke sandbox.up" if self.cluster.sandbox
                else "check the environment's kubeconfig and context") from e

    def cluster_server_hint(self) -> str:
        try:
            return read_context(self.cluster).server
        except ConfigError:
            return "(unknown server)"

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        kwargs.setdefault("_request_timeout", self.request_timeout)
        with self.wrap(what):
            return fn(*args, **kwargs)

    def get_or_none(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Like :meth:`call` but a 404 is ``None``."""
        from kubernetes.client.exceptions import ApiException

        kwargs.setdefault("_request_timeout", self.request_timeout)
        try:
            with self.wrap(what):
                return fn(*args, **kwargs)
        except ClusterError as e:
            if isinstance(e.__cause__, ApiException) and e.__cause__.status == 404:
                return None
            raise

    def version(self) -> dict[str, Any]:
        from kubernetes import client

        info = self.call("read server version", client.VersionApi(self.api_client).get_code)
        return dict(info.to_dict())

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


def _api_message(e: Any) -> str:
    """The Status message of an ApiException, or its reason."""
    try:
        body = json.loads(e.body or "{}")
        return f"{body.get('reason', e.reason)}: {body.get('message', '')}".rstrip(": ")
    except (ValueError, TypeError):
        return str(e.reason)
