"""The sandbox's API resource table: what discovery shows and what the router accepts.

Built-in types are listed here; CustomResourceDefinitions add to the table at run time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One resource (plural) served in one group/version."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""

    @property
    def group_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: one store per group+plural whatever the version."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def discovery(self) -> list[dict[str, Any]]:
        """APIResource entries for ``/apis/<g>/<v>``, subresources included."""
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        for sub, verbs in DISCOVERY_ONLY_SUBRESOURCES.get((self.group, self.plural), ()):
            out.append({"name": f"{self.plural}/{sub}", "singularName": "", "namespaced": self.namespaced,
                        "kind": self.kind, "verbs": list(verbs)})
        for sub in self.subresources:
            kind = "Scale" if sub == "scale" else self.kind
            entry: dict[str, Any] = {
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": ["get", "patch", "update"],
            }
            if sub == "scale":
                entry["group"] = "autoscaling"
                entry["version"] = "v1"
            out.append(entry)
        return out


# Subresources kube-apiserver lists beyond status/scale, listed so discovery matches. The proxies are left
# out on purpose: clients (e.g. the verify suite) look for services/proxy to decide whether to use it, and
# the sandbox does not serve it.
_CG = ("create", "get")
DISCOVERY_ONLY_SUBRESOURCES: dict[tuple[str, str], tuple[tuple[str, tuple[str, ...]], ...]] = {
    ("", "pods"): (("attach", _CG), ("binding", ("create",)), ("ephemeralcontainers", ("get", "patch", "update")),
                   ("eviction", ("create",)), ("exec", _CG), ("log", ("get",)), ("portforward", _CG),
                   ("resize", ("get", "patch", "update"))),
    ("", "namespaces"): (("finalize", ("update",)),),
    ("", "serviceaccounts"): (("token", ("create",)),),
}


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool = True, *,
        short: tuple[str, ...] = (), verbs: tuple[str, ...] = ALL_VERBS,
        sub: tuple[str, ...] = (), cat: tuple[str, ...] = ()) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, short, verbs, sub, cat)


_ALL = ("all",)
BUILTIN: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", False, short=("ns",), sub=("status",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _rt("", "v1", "pods", "Pod", short=("po",), sub=("status",), cat=_ALL),
    _rt("", "v1", "services", "Service", short=("svc",), sub=("status",), cat=_ALL,
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    _rt("", "v1", "endpoints", "Endpoints", short=("ep",)),
    _rt("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _rt("", "v1", "secrets", "Secret"),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _rt("", "v1", "events", "Event", short=("ev",)),
    _rt("", "v1", "nodes", "Node", False, short=("no",), sub=("status",)),
    _rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), sub=("status",)),
    _rt("", "v1", "persistentvolumes", "PersistentVolume", False, short=("pv",), sub=("status",)),
    _rt("", "v1", "resourcequotas", "ResourceQuota", short=("quota",), sub=("status",)),
    _rt("", "v1", "limitranges", "LimitRange", short=("limits",)),
    _rt("", "v1", "podtemplates", "PodTemplate"),
    _rt("", "v1", "replicationcontrollers", "ReplicationController", short=("rc",),
        sub=("status", "scale"), cat=_ALL),
    _rt("apps", "v1", "deployments", "Deployment", short=("deploy",), sub=("status", "scale"), cat=_ALL),
    _rt("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), sub=("status", "scale"), cat=_ALL),
    _rt("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), sub=("status", "scale"), cat=_ALL),
    _rt("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), sub=("status",), cat=_ALL),
    _rt("apps", "v1", "controllerrevisions", "ControllerRevision"),
    _rt("batch", "v1", "jobs", "Job", sub=("status",), cat=_ALL),
    _rt("batch", "v1", "cronjobs", "CronJob", short=("cj",), sub=("status",), cat=_ALL),
    _rt("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",), sub=("status",)),
    _rt("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), sub=("status",)),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",),
        sub=("status",), cat=_ALL),
    _rt("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",),
        sub=("status",), cat=_ALL),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _rt("coordination.k8s.io", "v1", "leases", "Lease"),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
        short=("crd", "crds"), sub=("status",)),
    _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _rt("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _rt("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, short=("sc",)),
    _rt("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
    _rt("storage.k8s.io", "v1", "csinodes", "CSINode", False),
    _rt("storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity"),
    _rt("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", False, sub=("status",)),
    _rt("storage.k8s.io", "v1", "volumeattributesclasses", "VolumeAttributesClass", False, short=("vac",)),
    _rt("", "v1", "bindings", "Binding", verbs=("create",)),
    _rt("", "v1", "componentstatuses", "ComponentStatus", False, short=("cs",), verbs=("get", "list")),
    _rt("networking.k8s.io", "v1", "ipaddresses", "IPAddress", False, short=("ip",)),
    _rt("networking.k8s.io", "v1", "servicecidrs", "ServiceCIDR", False, sub=("status",)),
    _rt("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False),
    _rt("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "FlowSchema", False, sub=("status",)),
    _rt("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "PriorityLevelConfiguration", False,
        sub=("status",)),
    _rt("resource.k8s.io", "v1", "deviceclasses", "DeviceClass", False),
    _rt("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim", sub=("status",)),
    _rt("resource.k8s.io", "v1", "resourceclaimtemplates", "ResourceClaimTemplate"),
    _rt("resource.k8s.io", "v1", "resourceslices", "ResourceSlice", False),
    _rt("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, short=("pc",)),
    _rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration", False),
    _rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration", False),
    _rt("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, sub=("status",)),
    _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
        verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
        verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)),
    _rt("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",)),
    _rt("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False,
        short=("csr",), sub=("status",)),
)

# Preferred version per group, in discovery order (kubectl picks the first listed).
_PREFERRED = {"autoscaling": "v2"}


@dataclass
class Registry:
    """Thread-safe resource table: built-ins plus CRD-registered kinds."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _crd_owned: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        for rt in BUILTIN:
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        """Any served version of a storage key (the preferred one if possible)."""
        with self._lock:
            found = [rt for rt in self._types.values() if rt.key == key]
        if not found:
            return None
        pref = _PREFERRED.get(key[0])
        for rt in found:
            if rt.version == pref:
                return rt
        return found[0]

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rt in self._types.values():
                if rt.group == group and rt.version == version and rt.kind == kind:
                    return rt
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> versions, preferred first ("" is the core group)."""
        with self._lock:
            out: dict[str, list[str]] = {}
            for rt in self._types.values():
                versions = out.setdefault(rt.group, [])
                if rt.version not in versions:
                    versions.append(rt.version)
        for group, versions in out.items():
            pref = _PREFERRED.get(group)
            if pref in versions:
                versions.remove(pref)
                versions.insert(0, pref)
        return out

    def resources(self, group: str, version: str) -> list[ResourceType]:
        with self._lock:
            return [rt for rt in self._types.values() if rt.group == group and rt.version == version]

    def all_keys(self) -> set[tuple[str, str]]:
        with self._lock:
            return {rt.key for rt in self._types.values()}

    def namespaced_keys(self) -> set[tuple[str, str]]:
        with self._lock:
            return {rt.key for rt in self._types.values() if rt.namespaced}

    def register_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        """Serve the kinds a CRD defines; returns what was registered."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = str(spec.get("group", ""))
        plural = str(names.get("plural", ""))
        kind = str(names.get("kind", ""))
        if not (group and plural and kind):
            return []
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        added: list[ResourceType] = []
        crd_name = str((crd.get("metadata") or {}).get("name", ""))
        with self._lock:
            self.unregister_crd(crd_name)
            keys: list[tuple[str, str, str]] = []
            for ver in spec.get("versions") or []:
                if not ver.get("served", True):
                    continue
                subs = ver.get("subresources") or {}
                sub = tuple(s for s in ("status", "scale") if s in subs)
                rt = ResourceType(group, str(ver["name"]), plural, kind, namespaced,
                                  tuple(names.get("shortNames") or ()), ALL_VERBS, sub,
                                  tuple(names.get("categories") or ()), str(names.get("singular", "")))
                self._types[(group, rt.version, plural)] = rt
                keys.append((group, rt.version, plural))
                added.append(rt)
            self._crd_owned[crd_name] = keys
        return added

    def unregister_crd(self, crd_name: str) -> None:
        with self._lock:
            for k in self._crd_owned.pop(crd_name, []):
                self._types.pop(k, None)
