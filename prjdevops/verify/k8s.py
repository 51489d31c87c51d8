"""What the team's own verify tests read: ``k8s`` assertion helpers and ``release(name)`` views.

The helpers read like testinfra's modules (``host.service("kubelet").is_running``)::

    k8s.deployment("plate-web", "plate-web").is_available
    k8s.service("plate-web", "plate-web").endpoints        # ["10.0.0.7:8080", ...]
    k8s.job("migrate", "plate-web").succeeded
    k8s.configmap("plate-web", "plate-web").data["FEATURE_X"]
    k8s.http_get("plate-web", "/healthz", ns="plate-web", port="http").status

Every property reads the live object when it is accessed (nothing is cached, as in testinfra), through the
project's Kubernetes adapter, so API failures are one-line project errors. Reading the data of an object that does
not exist fails the test with ``kind/namespace/name does not exist`` (:class:`Missing`, an ``AssertionError``);
``.exists`` is the way to ask. The verdicts (``is_available``, ``succeeded``) are the same pure functions the
generated checks use (:mod:`prjdevops.verify.checks`), and each comes with ``.why``: the reason to put in an assert.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prjdevops.adapters.kube import KubeClient
from prjdevops.health import READINESS, pod_restarts, selector_string
from prjdevops.manifests import parse_manifest
from prjdevops.values import REDACTED, Redactor
from prjdevops.verify import checks
from prjdevops.verify.checks import Outcome


class Missing(AssertionError):
    """The object a test reads does not exist (an assertion failure of the test, not an error of the suite)."""


class ProxyNotServed(Exception):
    """The API server does not serve the Service (or Pod) proxy, so ``http_get`` cannot run there."""


@dataclass(frozen=True)
class HttpResponse:
    """What the application answered through the API server's proxy."""

    status: int
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    url: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        first = self.text.strip().splitlines()[0][:200] if self.text.strip() else ""
        return f"GET {self.url} answered {self.status}" + (f": {first}" if first else "")


class _Object:
    """One named object, read live on every property access."""

    kind = ""

    def __init__(self, k8s: K8s, name: str, namespace: str) -> None:
        self._k8s, self.name, self.namespace = k8s, name, namespace

    def __repr__(self) -> str:
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"

    def _read(self) -> dict[str, Any] | None:
        return self._k8s.read(self.kind, self.name, self.namespace)

    @property
    def exists(self) -> bool:
        return self._read() is not None

    @property
    def obj(self) -> dict[str, Any]:
        """The live object as the API serves it (a plain dict)."""
        live = self._read()
        if live is None:
            raise Missing(f"{self!r} does not exist")
        return live

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.obj.get("metadata") or {}).get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict((self.obj.get("metadata") or {}).get("annotations") or {})


class Pod(_Object):
    kind = "Pod"

    def __init__(self, k8s: K8s, name: str, namespace: str, live: dict[str, Any] | None = None) -> None:
        super().__init__(k8s, name, namespace)
        self._live = live  # a pod from a list keeps what the list said (pods come and go)

    def _read(self) -> dict[str, Any] | None:
        return self._live if self._live is not None else super()._read()

    @property
    def phase(self) -> str:
        return str((self.obj.get("status") or {}).get("phase") or "")

    @property
    def is_ready(self) -> bool:
        return READINESS["Pod"](self.obj)[0]

    @property
    def restarts(self) -> int:
        return pod_restarts(self.obj)

    @property
    def node(self) -> str:
        return str((self.obj.get("spec") or {}).get("nodeName") or "")


class Workload(_Object):
    """A Deployment, StatefulSet or DaemonSet."""

    def __init__(self, k8s: K8s, kind: str, name: str, namespace: str) -> None:
        super().__init__(k8s, name, namespace)
        self.kind = kind

    def _status(self) -> dict[str, Any]:
        return dict(self.obj.get("status") or {})

    @property
    def check(self) -> Outcome:
        """``(available, reason)``: the generated ``workloads`` check's verdict (replicas, rollout, crash loops)."""
        live = self._read()
        if live is None:
            return False, f"{self!r} does not exist"
        return checks.workload_available(live, [p.obj for p in self._pods(live)])

    @property
    def is_available(self) -> bool:
        return self.check[0]

    @property
    def why(self) -> str:
        return self.check[1]

    @property
    def replicas(self) -> int:
        spec = self.obj.get("spec") or {}
        return int(spec["replicas"]) if spec.get("replicas") is not None else 1

    @property
    def ready_replicas(self) -> int:
        st = self._status()
        return int(st.get("numberReady" if self.kind == "DaemonSet" else "readyReplicas") or 0)

    @property
    def available_replicas(self) -> int:
        st = self._status()
        return int(st.get("numberAvailable" if self.kind == "DaemonSet" else "availableReplicas") or 0)

    @property
    def images(self) -> list[str]:
        spec = ((self.obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        return [str(c.get("image")) for c in spec.get("containers") or []]

    @property
    def readiness_probe(self) -> tuple[str, int | str] | None:
        """``(path, port)`` of the first container's HTTP readiness probe, or None."""
        return checks.http_probe(self.obj, "readiness")

    def _pods(self, live: dict[str, Any]) -> list[Pod]:
        sel = selector_string(((live.get("spec") or {}).get("selector") or {}).get("matchLabels"))
        return self._k8s.pods(self.namespace, sel) if sel else []

    @property
    def pods(self) -> list[Pod]:
        return self._pods(self.obj)


class Service(_Object):
    kind = "Service"

    def _endpoints(self) -> dict[str, Any] | None:
        return self._k8s.read("Endpoints", self.name, self.namespace)

    @property
    def endpoints(self) -> list[str]:
        """Ready endpoint addresses as ``ip:port``, sorted (empty when none is ready)."""
        self.obj  # noqa: B018  (a missing Service fails here, naming it, instead of reading as "no endpoints")
        return checks.endpoint_addresses(self._endpoints())

    @property
    def not_ready_endpoints(self) -> list[str]:
        self.obj  # noqa: B018
        return checks.endpoint_addresses(self._endpoints(), ready=False)

    @property
    def check(self) -> Outcome:
        """``(has ready endpoints, reason)``: the generated ``services`` check's verdict."""
        svc = self._read()
        if svc is None:
            return False, f"{self!r} does not exist"
        return checks.service_endpoints({"kind": "Service", **svc}, self._endpoints())

    @property
    def why(self) -> str:
        return self.check[1]

    @property
    def type(self) -> str:
        return str((self.obj.get("spec") or {}).get("type") or "ClusterIP")

    @property
    def ports(self) -> list[dict[str, Any]]:
        return list((self.obj.get("spec") or {}).get("ports") or [])


class Job(_Object):
    kind = "Job"

    @property
    def check(self) -> Outcome:
        live = self._read()
        if live is None:
            return False, f"{self!r} does not exist"
        return checks.job_succeeded({"kind": "Job", **live})

    @property
    def succeeded(self) -> bool:
        return self.check[0]

    @property
    def why(self) -> str:
        return self.check[1]

    @property
    def failed(self) -> int:
        return int((self.obj.get("status") or {}).get("failed") or 0)

    @property
    def active(self) -> int:
        return int((self.obj.get("status") or {}).get("active") or 0)


class ConfigMap(_Object):
    kind = "ConfigMap"

    @property
    def data(self) -> dict[str, str]:
        return dict(self.obj.get("data") or {})


class Secret(_Object):
    """Only whether it exists, its type and its keys: a smoke test never reads (or prints) secret values."""

    kind = "Secret"

    @property
    def keys(self) -> list[str]:
        obj = self.obj
        return sorted({*(obj.get("data") or {}), *(obj.get("stringData") or {})})

    @property
    def type(self) -> str:
        return str(self.obj.get("type") or "Opaque")


class K8s:
    """The ``k8s`` fixture: typed views of live objects in the environment's cluster."""

    def __init__(self, kube: KubeClient, *, namespace: str = "default",
                 on_unserved: Callable[[str], Any] | None = None, timeout: float = 10.0) -> None:
        self.kube = kube
        self.namespace = namespace  # the default when a helper is called without one
        self.timeout = timeout
        self._on_unserved = on_unserved
        self._core_resources: list[str] | None = None

    # --- reads ---------------------------------------------------------------------------------

    def _plain(self, obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.kube.api_client.sanitize_for_serialization(obj)
        return data

    def read(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """One object as a plain dict, or None when it does not exist (Secret values are dropped)."""
        apps, core, batch = self.kube.apps(), self.kube.core(), self.kube.batch()
        readers: dict[str, Callable[..., Any]] = {
            "Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
            "DaemonSet": apps.read_namespaced_daemon_set, "Service": core.read_namespaced_service,
            "Endpoints": core.read_namespaced_endpoints, "ConfigMap": core.read_namespaced_config_map,
            "Secret": core.read_namespaced_secret, "Pod": core.read_namespaced_pod,
            "Job": batch.read_namespaced_job,
        }
        live = self.kube.get_or_none(f"read {kind} {namespace}/{name}", readers[kind], name, namespace)
        if live is None:
            return None
        data = self._plain(live)
        if kind == "Secret":
            data = {**data, "data": dict.fromkeys(data.get("data") or {}, REDACTED),
                    "stringData": dict.fromkeys(data.get("stringData") or {}, REDACTED)}
        data.setdefault("kind", kind)
        return data

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    def deployment(self, name: str, namespace: str | None = None) -> Workload:
        return Workload(self, "Deployment", name, self._ns(namespace))

    def statefulset(self, name: str, namespace: str | None = None) -> Workload:
        return Workload(self, "StatefulSet", name, self._ns(namespace))

    def daemonset(self, name: str, namespace: str | None = None) -> Workload:
        return Workload(self, "DaemonSet", name, self._ns(namespace))

    def service(self, name: str, namespace: str | None = None) -> Service:
        return Service(self, name, self._ns(namespace))

    def job(self, name: str, namespace: str | None = None) -> Job:
        return Job(self, name, self._ns(namespace))

    def configmap(self, name: str, namespace: str | None = None) -> ConfigMap:
        return ConfigMap(self, name, self._ns(namespace))

    def secret(self, name: str, namespace: str | None = None) -> Secret:
        return Secret(self, name, self._ns(namespace))

    def pod(self, name: str, namespace: str | None = None) -> Pod:
        return Pod(self, name, self._ns(namespace))

    def pods(self, namespace: str | None = None, selector: str = "") -> list[Pod]:
        ns = self._ns(namespace)
        return [Pod(self, str((d.get("metadata") or {}).get("name")), ns, {"kind": "Pod", **d})
                for d in (self._plain(p) for p in self.kube.pods(ns, selector))]

    # --- HTTP through the API server's proxy -------------------------------------------------------

    def core_resources(self) -> list[str]:
        """The resource names ``/api/v1`` lists (``services/proxy`` among them on kube-apiserver)."""
        if self._core_resources is None:
            res = self.kube.call("read the /api/v1 discovery document", self.kube.core().get_api_resources)
            self._core_resources = [str(r.name) for r in res.resources or []]
        return self._core_resources

    def _get(self, kind: str, name: str, path: str, namespace: str | None, port: int | str | None,
             ) -> HttpResponse:
        url = checks.proxy_path(kind, self._ns(namespace), name, port, path)
        api = self.kube.api_client

        def get(_request_timeout: float) -> Any:
            req = api.param_serialize(method="GET", resource_path=url, header_params={"Accept": "*/*"},
                                      auth_settings=["BearerToken"])
            resp = api.call_api(*req, _request_timeout=_request_timeout)  # any status: the app's answer
            resp.read()
            return resp

        # never retried: a proxied GET reaches the application, whose answer (502/503 too) is the result
        resp = self.kube.call(f"GET {url}", get, retry=False, _request_timeout=self.timeout)
        out = HttpResponse(int(resp.status), bytes(resp.data or b""), dict(resp.getheaders() or {}), url)
        if checks.proxy_unserved(out.status, self.core_resources(), kind):
            why = (f"the API server does not serve the {kind} proxy ({url} answered {out.status} and /api/v1 "
                   f"lists no {kind}s/proxy)")
            if self._on_unserved is not None:
                self._on_unserved(why)
            raise ProxyNotServed(why)
        return out

    def http_get(self, service: str, path: str = "/", *, ns: str | None = None, port: int | str | None = None,
                 ) -> HttpResponse:
        """GET ``path`` from the Service through ``/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH``
        (``port``: the Service port's name or number; None for its only port). Whatever the application
        answers is returned; where the API server serves no Service proxy the test is skipped."""
        return self._get("service", service, path, ns, port)

    def pod_http_get(self, pod: str, path: str = "/", *, ns: str | None = None, port: int | str | None = None,
                     ) -> HttpResponse:
        """GET ``path`` from one pod through the API server's pod proxy (same rules as :meth:`http_get`)."""
        return self._get("pod", pod, path, ns, port)


# --- release(name) ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseView:
    """A Helm release as it runs: status, revision, values (secrets redacted) and its parsed manifest."""

    name: str
    namespace: str
    status: str | None  # None: not installed
    revision: int | None = None
    chart: str = ""
    chart_version: str = ""
    app_version: str = ""
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    manifest: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def exists(self) -> bool:
        return self.status is not None

    @property
    def deployed(self) -> bool:
        return self.status == "deployed"

    def objects(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The manifest's objects (of one kind)."""
        return [o for o in self.manifest if kind is None or o.get("kind") == kind]

    def object(self, kind: str, name: str) -> dict[str, Any]:
        for o in self.objects(kind):
            if (o.get("metadata") or {}).get("name") == name:
                return o
        raise Missing(f"release {self.name} has no {kind} {name} in its manifest")


def release_view(helm: Any, name: str, namespace: str) -> ReleaseView:
    """Read a release through the Helm adapter; values under secret keys, and every string equal to one of them
    (also base64, in Secret manifests), read as ``***REDACTED***``."""
    info = helm.status(name, namespace=namespace)
    if info is None:
        return ReleaseView(name, namespace, None)
    raw: dict[str, Any] = helm.get_values(name, namespace=namespace, all_values=True)
    redactor = Redactor().add_secrets_of(raw)
    objects = parse_manifest(redactor.text(str(info.manifest or "")), namespace)
    for obj in objects:
        if obj.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if isinstance(obj.get(key), dict):
                    obj[key] = dict.fromkeys(obj[key], REDACTED)
    return ReleaseView(name=name, namespace=namespace, status=info.status, revision=info.revision,
                       chart=info.chart, chart_version=info.chart_version, app_version=info.app_version,
                       values=redactor.values(raw), manifest=objects)
