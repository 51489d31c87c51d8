"""API semantics independent of HTTP: create/update/patch/delete with uid, resourceVersion, generation,
defaulting, namespaces, finalizers, CRD registration and Events.

Every method raises :class:`ApiError` for what the real API server answers with a ``Status``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import ipaddress
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from . import admission, rules, schema, validation
from .fielderrors import TYPES, FieldError, invalid_status
from .ownership import Conflicts, Op, Ownership, conflict_message, prunable, strip_times
from .ownership import render as render_path
from .patch import PatchError, apply, json_patch, merge_patch, strategic_merge
from .resources import Registry, ResourceType
from .store import Obj, Store

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}

INITIAL_STATUS: dict[str, Obj] = {
    "ReplicaSet": {"replicas": 0},
    "ReplicationController": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0},
    "HorizontalPodAutoscaler": {"desiredReplicas": 0, "currentReplicas": 0},
    "PodDisruptionBudget": {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                            "expectedPods": 0},
    "Ingress": {"loadBalancer": {}},
}
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NODE_NAME = "sandbox-node"
DEFAULT_STORAGE_CLASS = "standard"
# Kinds whose REST strategy never sets metadata.generation.
NO_GENERATION = frozenset({("", "ConfigMap"), ("", "Secret"), ("", "ServiceAccount"), ("", "Endpoints"),
                           ("", "Event"), ("events.k8s.io", "Event"), ("coordination.k8s.io", "Lease"),
                           ("discovery.k8s.io", "EndpointSlice")})
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class ApiError(Exception):
    """An error the server answers as a Kubernetes ``Status``."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> Obj:
        out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": self.message, "reason": self.reason, "code": self.code}
        if not self.reason:
            del out["reason"]
        if self.details:
            details = dict(self.details)
            if not details.get("group"):
                details.pop("group", None)  # Go omits an empty group (the core API group)
            out["details"] = details
        return out


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def qualified(rt: ResourceType) -> str:
    """``deployments.apps`` / ``configmaps``: how error messages name a resource."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, f'{qualified(rt)} "{name}" not found',
                    details={"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt: ResourceType, name: str, why: str = "the object has been modified; please apply your "
             "changes to the latest version and try again") -> ApiError:
    return ApiError(409, f'Operation cannot be fulfilled on {qualified(rt)} "{name}": {why}',
                    details={"name": name, "group": rt.group, "kind": rt.plural})


_CAUSE_OF = {word: reason for reason, word in TYPES.items() if reason != "FieldValueTypeInvalid"}


def invalid(rt: ResourceType, name: str, field: str, what: str) -> ApiError:
    """One field error given as its rendered body (``Required value``, ``Invalid value: ...``)."""
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    reason = _CAUSE_OF.get(what.split(":", 1)[0], "FieldValueInvalid")
    return ApiError(422, f'{kind} "{name}" is invalid: {field}: {what}',
                    details={"name": name, "group": rt.group, "kind": rt.kind,
                             "causes": [{"reason": reason, "message": what, "field": field}]})


def invalid_errors(rt: ResourceType, name: str, errs: list[FieldError]) -> ApiError:
    """422 Invalid as ``errors.NewInvalid`` builds it from a field error list."""
    message, details = invalid_status(rt.kind, rt.group, name, errs)
    return ApiError(422, message, details=details)


def _okey(rt: ResourceType, ns: str, name: str) -> str:
    return f"{rt.group}|{rt.plural}|{ns}|{name}"


def _apply_conflict(rt: ResourceType, name: str, err: Conflicts) -> ApiError:
    return ApiError(409, conflict_message(err.found), reason="Conflict",
                    details={"causes": [{"reason": "FieldManagerConflict", "message": f"conflict with {e.label()}",
                                         "field": render_path(p)} for e, p in err.found]})


_ALLOCATED = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")


def _allocated(rt: ResourceType, body: Obj) -> frozenset[tuple[str, ...]]:
    """Service fields the allocator fills after kube-apiserver has recorded ownership (unless the client set them)."""
    if rt.kind != "Service" or rt.group:
        return frozenset()
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    return frozenset(("f:spec", f"f:{k}") for k in _ALLOCATED if k not in (spec or {}))


def _sans_managed(obj: Obj | None) -> Obj | None:
    """A shallow view without managedFields: patches need not copy them (unset in the result means "keep")."""
    meta = obj.get("metadata") if obj is not None else None
    if obj is None or not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _clone(obj: Obj) -> Obj:
    out: Obj = json.loads(json.dumps(obj))
    return out


def _body_sans(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _meta_sans_rv(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    if "managedFields" in meta:  # only a change of owners counts, not of their times
        meta["managedFields"] = strip_times(meta["managedFields"])
    out["metadata"] = meta
    return out


class Api:
    """The object semantics shared by the HTTP front end and the simulated controllers."""

    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store
        self.on_change: list[Callable[[], None]] = []
        # Field ownership is always recorded; conflicts are raised only when ssa_conflicts is on.
        self.ownership = Ownership()
        self.ssa_conflicts = True
        # Set by the controllers so synchronous allocation (cluster IPs) happens at create time.
        self.service_allocator: Callable[[Obj], None] | None = None
        self._event_lock = threading.Lock()

    # --- bootstrap --------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Default namespaces, the node, the ``kubernetes`` service; re-register stored CRDs."""
        crd = self.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd is not None
        for obj, _ in self.store.scan(crd.key):
            self.registry.register_crd(obj)
        ns_rt = self.rt("", "v1", "namespaces")
        fresh = self.store.peek(ns_rt.key, "", "default") is None
        sc_rt = self.rt("storage.k8s.io", "v1", "storageclasses")
        if fresh and self.store.peek(sc_rt.key, "", DEFAULT_STORAGE_CLASS) is None:
            # Ships with a new sandbox, like kind's "standard"; once deleted it stays deleted.
            self.create(sc_rt, "", {
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": DEFAULT_STORAGE_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
                "provisioner": "sandbox.prjdevops.io/hostpath", "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate"})
        cr_rt = self.rt("rbac.authorization.k8s.io", "v1", "clusterroles")
        if fresh:
            for role in _bootstrap_cluster_roles():
                if self.store.peek(cr_rt.key, "", role["metadata"]["name"]) is None:
                    self.create(cr_rt, "", role)
        for ns in DEFAULT_NAMESPACES:
            if self.store.peek(ns_rt.key, "", ns) is None:
                self.create(ns_rt, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        node_rt = self.rt("", "v1", "nodes")
        if self.store.peek(node_rt.key, "", NODE_NAME) is None:
            self.create(node_rt, "", _node())
        svc_rt = self.rt("", "v1", "services")
        if self.store.peek(svc_rt.key, "default", "kubernetes") is None:
            self.create(svc_rt, "default", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "type": "ClusterIP",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.lookup(group, version, plural)
        if rt is None:
            raise KeyError(f"{group}/{version}/{plural}")
        return rt

    # --- reads ------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self.store.copy(rt.key, ns, name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    # --- create -----------------------------------------------------------------------------------

    def _check_body(self, rt: ResourceType, ns: str, body: Any, name: str | None = None) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON or YAML object")
        kind = body.get("kind")
        if kind and kind != rt.kind:
            raise ApiError(400, f"the API version in the data ({body.get('apiVersion')}) and kind "
                                f"({kind}) do not match the resource {qualified(rt)} ({rt.kind})")
        api_version = body.get("apiVersion")
        if api_version and api_version != rt.group_version:
            other = self.registry.by_kind(str(api_version), rt.kind)
            if other is None or other.key != rt.key:
                raise ApiError(400, f"the API version in the data ({api_version}) does not match the "
                                    f"expected API version ({rt.group_version})")
        _drop_nulls(body)  # a JSON null means "unset", as when the server decodes into its types
        body["kind"] = rt.kind
        body["apiVersion"] = rt.group_version
        meta = body.get("metadata")
        if meta is None:
            meta = body["metadata"] = {}
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and ns and body_ns != ns:
                raise ApiError(400, "the namespace of the provided object does not match the namespace "
                                    "sent on the request")
            meta["namespace"] = ns or body_ns or ""
            if not meta["namespace"]:
                raise ApiError(400, "a namespace is required for namespaced resources")
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name") and meta["name"] != name:
            raise ApiError(400, f"the name of the object ({meta['name']}) does not match the name on the "
                                f"URL ({name})")
        for k in ("labels", "annotations"):
            v = meta.get(k)
            if v is not None and (not isinstance(v, dict) or
                                  not all(isinstance(x, str) for x in v.values())):
                raise invalid(rt, str(meta.get("name", "")), f"metadata.{k}",
                              "Invalid value: values must be strings")
        return body

    def _check_namespace(self, rt: ResourceType, ns: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns_obj = self.store.peek(("", "namespaces"), "", ns)
        if ns_obj is None:
            raise ApiError(404, f'namespaces "{ns}" not found',
                           details={"name": ns, "kind": "namespaces"})
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f'{qualified(rt)} "{name}" is forbidden: unable to create new content in '
                                f"namespace {ns} because it is being terminated")

    def validate_fields(self, rt: ResourceType, obj: Any, mode: str | None, warnings: list[str] | None) -> None:
        """``fieldValidation``: Strict refuses unknown fields (400), Warn/Ignore drop them (Warn reports).

        ``mode`` None means an internal write (controllers), which is not checked.
        """
        if mode is None:
            return
        found = validation.Findings()
        if rt.group not in _BUILTIN_GROUPS:
            sch = self.cr_schema(rt)
            if sch is None or not isinstance(obj, dict):
                return
            # Custom resources are always pruned; Strict refuses what would have been pruned.
            found.unknown = schema.prune(obj, sch)
        else:
            model = validation.model_for(rt.group, rt.version, rt.kind)
            if model is None:
                return
            validation.inspect(model, obj, found, prune=mode != "Strict")
        if found.type_errors:
            # A value of the wrong type cannot be decoded whatever fieldValidation says (e.g. a quoted
            # "8080" for containerPort, a classic templating slip).
            raise ApiError(400, f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                + "; ".join(found.type_errors))
        unknown = found.unknown
        if not unknown:
            return
        listed = ", ".join(f'unknown field "{p}"' for p in unknown)
        if mode == "Strict":
            raise ApiError(400, f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                f"strict decoding error: {listed}")
        if mode == "Warn" and warnings is not None:
            warnings.extend(f'unknown field "{p}"' for p in unknown)

    def create(self, rt: ResourceType, ns: str, body: Any, *, dry_run: bool = False,
               validate_only: bool = False, field_validation: str | None = None,
               warnings: list[str] | None = None, field_manager: str | None = None,
               admit: bool | None = None, op: Op | None = None) -> Obj:
        """POST semantics; returns the stored object.

        ``admit`` (default: whether this is a client's request, i.e. ``field_validation`` is set) runs the
        admission webhooks; the controllers' own writes skip them.
        """
        if admit is None:
            admit = field_validation is not None
        obj = self._check_body(rt, ns, body)
        self.validate_fields(rt, obj, field_validation, warnings)
        skip = _allocated(rt, obj)
        meta = obj["metadata"]
        name = meta.get("name")
        if not name:
            gen = meta.get("generateName")
            if not gen:
                raise invalid(rt, "", "metadata.name",
                              "Required value: name or generateName is required")
            name = meta["name"] = f"{gen}{secrets.token_hex(3)[:5]}"
        if not isinstance(name, str):
            raise ApiError(400, "metadata.name must be a string")
        ns = meta.get("namespace", "")
        with self.store.lock:
            self._check_namespace(rt, ns, name)
            if self.store.peek(rt.key, ns, name) is not None:
                raise ApiError(409, f'{qualified(rt)} "{name}" already exists', reason="AlreadyExists",
                               details={"name": name, "group": rt.group, "kind": rt.plural})
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if (rt.group, rt.kind) not in NO_GENERATION:
                meta["generation"] = 1
            for k in ("resourceVersion", "deletionTimestamp", "managedFields", "selfLink"):
                meta.pop(k, None)
            if "status" in rt.subresources and rt.kind not in ("Pod", "Node"):
                # Status is the controllers' to fill; Go's non-omitempty fields are there from the start
                # (and the official client's models require them).
                if rt.group in _BUILTIN_GROUPS:
                    obj["status"] = dict(INITIAL_STATUS.get(rt.kind, {}))
                else:
                    obj.pop("status", None)  # a custom resource has no status until /status writes one
            self._defaults(rt, obj, None)
            if op is None and field_manager:
                op = Op(field_manager, "Update", rt.group_version, skip=skip)
            if op is not None:
                self._managed(rt, None, obj, op, None)
            if admit:
                self._admit(rt, "CREATE", obj, None, "", "MutatingWebhookConfiguration")
            self._validate(rt, obj, None)
            if admit:
                self._admit(rt, "CREATE", obj, None, "", "ValidatingWebhookConfiguration")
            if dry_run or validate_only:
                meta["resourceVersion"] = ""
                return obj
            self.store.write(rt.key, obj, created=True)
            self._after_write(rt, obj)
            return self.store.copy(rt.key, ns, name) or _clone(obj)

    # --- update -----------------------------------------------------------------------------------

    def update(self, rt: ResourceType, ns: str, name: str, body: Any, *, subresource: str = "",
               dry_run: bool = False, check_rv: bool = True, field_validation: str | None = None,
               warnings: list[str] | None = None, field_manager: str | None = None,
               admit: bool | None = None, op: Op | None = None) -> Obj:
        """PUT semantics (also the tail of PATCH): preconditions, generation, status/spec separation.

        ``op`` (or ``field_manager``, an Update) records field ownership in ``metadata.managedFields``.
        """
        if admit is None:
            admit = field_validation is not None
        obj = self._check_body(rt, ns, body, name)
        self.validate_fields(rt, obj, field_validation, warnings)
        meta = obj["metadata"]
        meta["name"] = name
        given = meta.get("managedFields")
        if op is None and field_manager:
            op = Op(field_manager, "Update", rt.group_version, subresource)
        with self.store.lock:
            old = self.store.peek(rt.key, ns, name)
            if old is None:
                raise not_found(rt, name)
            rv = meta.get("resourceVersion")
            if check_rv and rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            new = self._merge_system(rt, old, obj, subresource)
            return self._commit(rt, old, new, dry_run=dry_run, subresource=subresource, admit=admit, op=op,
                                given=given)

    def _merge_system(self, rt: ResourceType, old: Obj, obj: Obj, subresource: str) -> Obj:
        """Keep server-owned fields; a write to the main resource cannot change status and vice versa."""
        old_meta = old["metadata"]
        meta = obj["metadata"]
        for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "namespace"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta.pop("managedFields", None)
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            return new
        if "status" in rt.subresources:
            if "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        return obj

    def _service_state(self, ns: str, name: str) -> str:
        if self.store.peek(("", "services"), ns, name) is None:
            return "not-found"
        ep = self.store.peek(("", "endpoints"), ns, name) or {}
        ready = any(sub.get("addresses") for sub in ep.get("subsets") or [] if isinstance(sub, dict))
        return "ready" if ready else "no-endpoints"

    def _admit(self, rt: ResourceType, operation: str, obj: Obj, old: Obj | None, subresource: str,
               config_kind: str) -> None:
        """Webhooks of ``config_kind`` that match and cannot be called fail the request (failurePolicy Fail)."""
        plural = "mutatingwebhookconfigurations" if config_kind.startswith("Mutating") else \
            "validatingwebhookconfigurations"
        configs = [o for o, _ in self.store.scan(("admissionregistration.k8s.io", plural))]
        if not configs:
            return
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        ns_obj = self.store.peek(("", "namespaces"), "", ns) if ns else None
        req = admission.Request(operation, rt.group, rt.version, rt.plural, subresource, ns,
                                dict(meta.get("labels") or {}),
                                dict((old or {}).get("metadata", {}).get("labels") or {}) if old else None)
        why = admission.failures(configs, req, rt.namespaced,
                                 dict((ns_obj or {}).get("metadata", {}).get("labels") or {}),
                                 self._service_state)
        if why is not None:
            raise ApiError(500, f"Internal error occurred: {why}", details={"causes": [{"message": why}]})

    def cr_schema(self, rt: ResourceType) -> schema.Schema | None:
        """The ``openAPIV3Schema`` of a custom resource's version, if its CRD has one."""
        crd = self.store.peek(("apiextensions.k8s.io", "customresourcedefinitions"), "",
                              f"{rt.plural}.{rt.group}")
        return schema.version_schema(crd, rt.version) if crd is not None else None

    def _validate(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """kube-apiserver's validation of the kind (422 Invalid with every error found)."""
        builtin = rt.group in _BUILTIN_GROUPS
        errs = rules.validate(rt.group if builtin else "*", rt.kind, obj, old)
        sch = None if builtin else self.cr_schema(rt)
        if sch is not None:
            schema.prune(obj, sch)
            schema.apply_defaults(obj, sch)
            found = schema.validate(obj, sch, cel_rules=False)
            blocking = {"FieldValueTypeInvalid", "FieldValueRequired", "FieldValueNotSupported"}
            if any(e.type in blocking for e in found):
                # apiextensions-apiserver does not run CEL rules on an object whose shape is wrong (types,
                # required fields, enums); other schema errors do not stop them
                if schema.has_cel(sch):
                    found.append(FieldError("FieldValueInvalid", "<nil>", None, "some validation rules were not "
                                            "checked because the object was invalid; correct the existing errors "
                                            "to complete validation"))
            else:
                found = schema.validate(obj, sch)
            errs.extend(found)
        if errs:
            raise invalid_errors(rt, str(obj["metadata"].get("name", "")), errs)

    def _managed(self, rt: ResourceType, old: Obj | None, new: Obj, op: Op, given: Any) -> None:
        """Set ``new``'s managedFields after ``op`` (409 on apply conflicts)."""
        meta = new["metadata"]
        okey = _okey(rt, meta.get("namespace", ""), meta["name"])
        try:
            managed = self.ownership.next(okey, old, new, op, given, now(), conflicts=self.ssa_conflicts)
        except Conflicts as e:
            raise _apply_conflict(rt, meta["name"], e) from None
        if managed:
            meta["managedFields"] = managed
        else:
            meta.pop("managedFields", None)

    def _commit(self, rt: ResourceType, old: Obj, new: Obj, *, dry_run: bool = False,
                subresource: str = "", admit: bool = False, op: Op | None = None, given: Any = None) -> Obj:
        self._defaults(rt, new, old)
        if op is not None:
            self._managed(rt, old, new, op, given)
        elif old["metadata"].get("managedFields"):  # internal writes keep the owners
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"]
        else:
            new["metadata"].pop("managedFields", None)
        if admit:
            self._admit(rt, "UPDATE", new, old, subresource, "MutatingWebhookConfiguration")
        if subresource != "status":
            self._validate(rt, new, old)
        if admit:
            self._admit(rt, "UPDATE", new, old, subresource, "ValidatingWebhookConfiguration")
        if _body_sans(new) != _body_sans(old) and "generation" in old["metadata"]:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _meta_sans_rv(new) == _meta_sans_rv(old) or dry_run:
            # No-op writes do not bump resourceVersion (as etcd3 storage skips them).
            return _clone(new)
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and rt.kind != "Namespace":
            self.store.write(rt.key, new, created=False)
            self._finalize_delete(rt, new)
            return _clone(new)
        self.store.write(rt.key, new, created=False)
        self._after_write(rt, new)
        return self.store.copy(rt.key, meta.get("namespace", ""), meta["name"]) or _clone(new)

    def write_status(self, rt: ResourceType, obj: Obj) -> bool:
        """Controllers' write path: replace an object as given if it changed (status included).

        Optimistic like a real controller's update: if the object changed since the controller read it
        (another resourceVersion), nothing is written and the next pass works from the new state.
        """
        meta = obj["metadata"]
        with self.store.lock:
            old = self.store.peek(rt.key, meta.get("namespace", ""), meta["name"])
            if old is None or old["metadata"]["uid"] != meta.get("uid"):
                return False
            if old["metadata"].get("resourceVersion") != meta.get("resourceVersion"):
                return False
            if _meta_sans_rv(obj) == _meta_sans_rv(old):
                return False
            if meta.get("deletionTimestamp") and not meta.get("finalizers") and rt.kind != "Namespace":
                self.store.write(rt.key, obj, created=False)
                self._finalize_delete(rt, obj)
                return True
            self.store.write(rt.key, obj, created=False)
            return True

    # --- patch ------------------------------------------------------------------------------------

    def patch(self, rt: ResourceType, ns: str, name: str, content_type: str, patch: Any, *,
              subresource: str = "", field_manager: str | None = None, force: bool = False,
              dry_run: bool = False, field_validation: str | None = None,
              warnings: list[str] | None = None) -> tuple[Obj, bool]:
        """PATCH semantics; returns (object, created). Apply patches create when absent."""
        ct = content_type.split(";")[0].strip().lower()
        is_apply = ct == "application/apply-patch+yaml"
        if is_apply and not field_manager:
            raise ApiError(422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                                "is required for apply patch")
        with self.store.lock:
            old = self.store.peek(rt.key, ns, name)
            if old is None and not is_apply:
                raise not_found(rt, name)
            try:
                if is_apply:
                    if not isinstance(patch, dict):
                        raise ApiError(400, "an apply patch must be an object")
                    if not patch.get("kind"):
                        raise ApiError(400, f"Object 'Kind' is missing in '{json.dumps(patch)}'")
                    if patch.get("kind") and patch.get("kind") != rt.kind:
                        raise ApiError(400, f"the kind in the apply configuration ({patch.get('kind')}) "
                                            f"does not match the resource ({rt.kind})")
                    pmeta = patch.get("metadata")
                    if pmeta is None:
                        pmeta = patch["metadata"] = {}
                    if not isinstance(pmeta, dict):
                        raise ApiError(400, "metadata must be an object")
                    if pmeta.get("name") and pmeta["name"] != name:
                        raise ApiError(400, "the name of the apply configuration does not match the URL")
                    # kube-apiserver v1.36 answers an apply with an unknown field under Strict with a 500
                    # ("failed to create typed patch object ... field not declared in schema"); the sandbox keeps
                    # the 400 so clients do not take a chart typo for a transient server error.
                    self.validate_fields(rt, patch, field_validation, warnings)
                    prev = self.store.applied(rt.key, ns, name, field_manager or "")
                    if prev is not None and old is not None:
                        # only what this applier's entry owns, and no other entry does, can be pruned
                        mine = (field_manager or "", "Apply", "", subresource)
                        entries = self.ownership.entries(_okey(rt, ns, name), old)
                        own = {p for e in entries if e.ident() == mine for p in e.fields}
                        others = {p for e in entries if e.ident() != mine for p in e.fields}
                        prev = prunable(prev, own - others)
                    if old is None:
                        body = apply(None, patch, None)
                        body.setdefault("metadata", {})["name"] = name
                        created = self.create(rt, ns, body, dry_run=dry_run,
                                              admit=field_validation is not None,
                                              op=Op(field_manager or "", "Apply", rt.group_version, subresource,
                                                    applied=patch, force=force, ))
                        if not dry_run:
                            self.store.set_applied(rt.key, ns, name, field_manager or "", patch)
                        return created, True
                    merged = apply(copy.deepcopy(_sans_managed(old)), patch, prev)
                elif ct == "application/json-patch+json":
                    if not isinstance(patch, list):
                        raise ApiError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
                    merged = json_patch(copy.deepcopy(old), patch)
                elif ct == "application/merge-patch+json":
                    merged = merge_patch(_sans_managed(old), patch)
                elif ct == "application/strategic-merge-patch+json":
                    if rt.group not in _BUILTIN_GROUPS:
                        raise ApiError(415, "strategic merge patch is not supported for custom resources; "
                                            "use a merge patch")
                    merged = strategic_merge(_sans_managed(old), patch)
                else:
                    raise ApiError(415, f"the body of the request was in an unknown format - accepted media "
                                        f"types include: application/json-patch+json, application/merge-"
                                        f"patch+json, application/apply-patch+yaml, application/strategic-"
                                        f"merge-patch+json (got {ct or 'none'})")
            except PatchError as e:
                raise ApiError(422, str(e)) from e
            if not isinstance(merged, dict):
                raise ApiError(422, "the patch result is not an object")
            if not is_apply:
                try:
                    self.validate_fields(rt, merged, field_validation, warnings)
                except ApiError as e:
                    if "strict decoding error" in e.message:  # a patch's unknown field is a 422 there
                        raise ApiError(422, e.message) from e
                    raise
            assert old is not None
            op = None
            if is_apply:
                op = Op(field_manager or "", "Apply", rt.group_version, subresource, applied=patch, force=force)
            elif field_manager:
                op = Op(field_manager, "Update", rt.group_version, subresource)
            result = self.update(rt, ns, name, merged, subresource=subresource, dry_run=dry_run,
                                 admit=field_validation is not None, op=op)
            if not dry_run and is_apply:
                self.store.set_applied(rt.key, ns, name, field_manager or "", patch)
            return result, False

    # --- delete -----------------------------------------------------------------------------------

    def delete(self, rt: ResourceType, ns: str, name: str, options: Obj | None = None, *,
               propagation: str | None = None, dry_run: bool = False, admit: bool = False) -> tuple[Obj, bool]:
        """DELETE semantics; returns (object or Status, still_pending)."""
        options = options or {}
        policy = propagation or options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        if policy not in (None, "Foreground", "Background", "Orphan"):
            err = FieldError("FieldValueNotSupported", "propagationPolicy", policy,
                             'supported values: "Foreground", "Background", "Orphan", "nil"')
            message, details = invalid_status("DeleteOptions", "meta.k8s.io", "", [err])
            raise ApiError(422, message, details=details)
        with self.store.lock:
            old = self.store.peek(rt.key, ns, name)
            if old is None:
                raise not_found(rt, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
                raise conflict(rt, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                                         f"object meta: {old['metadata'].get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if admit:
                for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
                    self._admit(rt, "DELETE", old, old, "", kind)
            if dry_run:
                return _clone(old), False
            obj = _clone(old)
            meta = obj["metadata"]
            if rt.kind == "Namespace":
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now()
                    meta["deletionGracePeriodSeconds"] = 0
                    obj.setdefault("status", {})["phase"] = "Terminating"
                    self.store.write(rt.key, obj, created=False)
                return _clone(obj), True
            if policy == "Orphan":
                self._orphan(meta["uid"])
            fins = list(meta.get("finalizers") or [])
            if policy == "Foreground" and "foregroundDeletion" not in fins:
                fins.append("foregroundDeletion")
            if fins:
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now()
                    meta["deletionGracePeriodSeconds"] = 0
                meta["finalizers"] = fins
                if _meta_sans_rv(obj) != _meta_sans_rv(old):
                    self.store.write(rt.key, obj, created=False)
                return _clone(obj), True
            gone = self.store.remove(rt.key, ns, name)
            assert gone is not None
            self._after_delete(rt, gone)
            return gone, False

    def _finalize_delete(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        gone = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"])
        if gone is not None:
            self._after_delete(rt, gone)

    def remove_now(self, rt: ResourceType, ns: str, name: str) -> None:
        """Controllers' hard delete (namespace cleanup, GC): finalizers other than GC ones block it."""
        with self.store.lock:
            old = self.store.peek(rt.key, ns, name)
            if old is None:
                return
            if old["metadata"].get("finalizers"):
                if not old["metadata"].get("deletionTimestamp"):
                    obj = _clone(old)
                    obj["metadata"]["deletionTimestamp"] = now()
                    self.store.write(rt.key, obj, created=False)
                return
            gone = self.store.remove(rt.key, ns, name)
            if gone is not None:
                self._after_delete(rt, gone)

    def _orphan(self, uid: str) -> None:
        for key, obj in list(self.store.iter_all()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs):
                new = _clone(obj)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                self.store.write(key, new, created=False)

    # --- side effects -----------------------------------------------------------------------------

    def _after_write(self, rt: ResourceType, obj: Obj) -> None:
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            self.registry.register_crd(obj)
            status = _crd_status(obj)
            if obj.get("status") != status:
                obj = _clone(obj)
                obj["status"] = status
                self.store.write(rt.key, obj, created=False)

    def _after_delete(self, rt: ResourceType, obj: Obj) -> None:
        self.ownership.forget(_okey(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            spec = obj.get("spec") or {}
            key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", "")))
            self.registry.unregister_crd(obj["metadata"]["name"])
            for o, _ in self.store.scan(key):
                self.store.remove(key, o["metadata"].get("namespace", ""), o["metadata"]["name"])

    # --- defaulting -------------------------------------------------------------------------------

    def _defaults(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        kind = rt.kind if rt.group in _BUILTIN_GROUPS else ""
        spec = obj.get("spec")
        if kind == "CustomResourceDefinition" and isinstance(spec, dict):
            spec.setdefault("conversion", {"strategy": "None"})
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job") and not isinstance(spec,
                                                                                                      dict):
            raise invalid(rt, obj["metadata"]["name"], "spec", "Required value")
        if kind in ("Secret", "ConfigMap"):
            _check_size(rt, obj)
        if kind == "Secret":
            string_data = obj.pop("stringData", None)
            if string_data:
                data = obj.setdefault("data", {}) or {}
                obj["data"] = data
                for k, v in string_data.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
            for k, v in (obj.get("data") or {}).items():
                try:
                    base64.b64decode(v, validate=True)
                except (ValueError, TypeError) as e:
                    # the decoder, not validation, refuses it
                    raise ApiError(400, f'Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                                        f"data at input byte 0 (data[{k}])") from e
            obj.setdefault("type", "Opaque")
        elif kind == "Namespace":
            meta = obj["metadata"]
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            if old is not None and "status" in old:
                obj["status"] = old["status"]
            else:
                obj.setdefault("status", {}).setdefault("phase", "Active")
        elif kind == "Deployment":
            assert isinstance(spec, dict)
            _template_required(rt, obj)
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy["type"] = "RollingUpdate"
                strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        elif kind == "ReplicaSet":
            assert isinstance(spec, dict)
            spec.setdefault("replicas", 1)
            pod_spec_defaults((spec.get("template") or {}).get("spec"))
        elif kind == "StatefulSet":
            assert isinstance(spec, dict)
            _template_required(rt, obj)
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("revisionHistoryLimit", 10)
            retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
            if isinstance(retention, dict):
                retention.setdefault("whenDeleted", "Retain")
                retention.setdefault("whenScaled", "Retain")
            for vct in spec.get("volumeClaimTemplates") or []:
                if isinstance(vct, dict) and isinstance(vct.setdefault("spec", {}), dict):
                    vct["spec"].setdefault("volumeMode", "Filesystem")
            us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if us.get("type", "RollingUpdate") == "RollingUpdate":
                us["type"] = "RollingUpdate"
                us.setdefault("rollingUpdate", {"partition": 0})
        elif kind == "DaemonSet":
            assert isinstance(spec, dict)
            _template_required(rt, obj)
            spec.setdefault("revisionHistoryLimit", 10)
            us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if us.get("type", "RollingUpdate") == "RollingUpdate":
                us["type"] = "RollingUpdate"
                us.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        elif kind == "Job":
            assert isinstance(spec, dict)
            tmpl_spec = (spec.get("template") or {}).get("spec")
            if not isinstance(tmpl_spec, dict) or not tmpl_spec.get("containers"):
                raise invalid(rt, obj["metadata"]["name"], "spec.template.spec.containers", "Required value")
            check_containers(rt, obj["metadata"]["name"], tmpl_spec, "spec.template.spec")
            pod_spec_defaults(tmpl_spec, None)
            if old is None and not spec.get("manualSelector") and "selector" not in spec:
                # The Job strategy's generated selector: the Job's uid, also stamped on the template.
                uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
                tmeta = spec["template"].setdefault("metadata", {})
                tmeta.setdefault("labels", {}).update({
                    "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid, "job-name": name})
                spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            if "completions" not in spec and "parallelism" not in spec:
                spec["completions"] = 1
            spec.setdefault("parallelism", 1)
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("suspend", False)
            spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
        elif kind == "CronJob" and isinstance(spec, dict):
            spec.setdefault("concurrencyPolicy", "Allow")
            spec.setdefault("suspend", False)
            spec.setdefault("successfulJobsHistoryLimit", 3)
            spec.setdefault("failedJobsHistoryLimit", 1)
        elif kind == "Pod":
            pspec = obj.get("spec")
            if not isinstance(pspec, dict) or not pspec.get("containers"):
                raise invalid(rt, obj["metadata"]["name"], "spec.containers", "Required value")
            check_containers(rt, obj["metadata"]["name"], pspec, "spec")
            pod_spec_defaults(pspec)
            if old is None:
                # SetDefaults_Pod and the ServiceAccount, Priority and DefaultTolerationSeconds admission plugins
                pspec.setdefault("enableServiceLinks", True)
                pspec.setdefault("serviceAccountName", "default")
                pspec.setdefault("serviceAccount", pspec["serviceAccountName"])
                pspec.setdefault("priority", 0)
                tolerations = pspec.setdefault("tolerations", [])
                for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
                    if isinstance(tolerations, list) and not any(
                            isinstance(t, dict) and t.get("key") == taint for t in tolerations):
                        tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                            "tolerationSeconds": 300})
                obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif kind == "Service":
            rules.normalize_cluster_ips(obj, old)
            sspec = obj.setdefault("spec", {})
            sspec.setdefault("type", "ClusterIP")
            sspec.setdefault("sessionAffinity", "None")
            if sspec["type"] == "LoadBalancer":
                sspec.setdefault("allocateLoadBalancerNodePorts", True)
            for p in sspec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                if sspec["type"] != "ExternalName":
                    p.setdefault("targetPort", p.get("port"))
            if old is not None:
                ospec = old.get("spec") or {}
                for k in ("clusterIP", "clusterIPs"):
                    if k in ospec and not sspec.get(k):
                        sspec[k] = ospec[k]
                for p in sspec.get("ports") or []:
                    op = next((x for x in ospec.get("ports") or [] if x.get("port") == p.get("port")), None)
                    if op and "nodePort" in op and "nodePort" not in p and sspec["type"] != "ClusterIP":
                        p["nodePort"] = op["nodePort"]
            if self.service_allocator is not None:
                self.service_allocator(obj)
            if old is None:
                obj["status"] = {"loadBalancer": {}}
        elif kind == "PersistentVolumeClaim" and old is None:
            pspec = obj.setdefault("spec", {})
            if isinstance(pspec, dict):
                pspec.setdefault("volumeMode", "Filesystem")
                if "storageClassName" not in pspec:  # the DefaultStorageClass admission plugin
                    default = self.default_storage_class()
                    if default is not None:
                        pspec["storageClassName"] = default
            obj["status"] = {"phase": "Pending"}  # the volume controller binds it when a class applies
        elif kind == "StorageClass" and old is None:
            obj.setdefault("reclaimPolicy", "Delete")
            obj.setdefault("volumeBindingMode", "Immediate")

    def default_storage_class(self) -> str | None:
        """The newest StorageClass annotated default (as kube-apiserver picks among several), if any."""
        found = [o for o, _ in self.store.scan(("storage.k8s.io", "storageclasses"))
                 if (o["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
                 and not o["metadata"].get("deletionTimestamp")]
        if not found:
            return None
        found.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
        return str(found[-1]["metadata"]["name"])

    # --- events -----------------------------------------------------------------------------------

    def record_event(self, involved: Obj, etype: str, reason: str, message: str,
                     component: str = "sandbox") -> None:
        """Emit (or bump the count of) a core/v1 Event about ``involved``."""
        meta = involved["metadata"]
        ns = meta.get("namespace") or "default"
        ev_rt = self.rt("", "v1", "events")
        with self._event_lock, self.store.lock:
            for ev, _ in self.store.scan(ev_rt.key, ns):
                io = ev.get("involvedObject") or {}
                if io.get("uid") == meta.get("uid") and ev.get("reason") == reason:
                    new = _clone(ev)
                    new["count"] = int(ev.get("count", 1)) + 1
                    new["lastTimestamp"] = now()
                    new["message"] = message
                    self.store.write(ev_rt.key, new, created=False)
                    return
            ts = now()
            body = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": ns},
                "involvedObject": {"kind": involved.get("kind"), "apiVersion": involved.get("apiVersion"),
                                   "name": meta["name"], "namespace": meta.get("namespace"),
                                   "uid": meta.get("uid"),
                                   "resourceVersion": meta.get("resourceVersion")},
                "reason": reason, "message": message, "type": etype, "count": 1,
                "firstTimestamp": ts, "lastTimestamp": ts,
                "source": {"component": component, "host": NODE_NAME},
                "reportingComponent": component, "reportingInstance": NODE_NAME,
            }
            # A namespace that is going away has nowhere to put the event.
            with contextlib.suppress(ApiError):
                self.create(ev_rt, ns, body)


_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "networking.k8s.io", "policy", "autoscaling",
                             "rbac.authorization.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io",
                             "discovery.k8s.io", "events.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
                             "admissionregistration.k8s.io", "apiregistration.k8s.io",
                             "certificates.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io",
                             "resource.k8s.io"})


def _drop_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            _drop_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _drop_nulls(v)


def check_containers(rt: ResourceType, name: str, spec: Any, where: str) -> None:
    """Every container needs a name and an image (422 otherwise, as the API server validates)."""
    if not isinstance(spec, dict):
        raise invalid(rt, name, where, "Required value")
    for key in ("containers", "initContainers"):
        items = spec.get(key) or []
        if not isinstance(items, list):
            raise invalid(rt, name, f"{where}.{key}", "Invalid value: must be a list")
        for i, c in enumerate(items):
            for field in ("name", "image"):
                if not isinstance(c, dict) or not isinstance(c.get(field), str) or not c.get(field):
                    raise invalid(rt, name, f"{where}.{key}[{i}].{field}", "Required value")


def pod_spec_defaults(spec: Any, restart: str | None = "Always") -> None:
    """The API server's defaulting of a PodSpec (the fields kubectl describe/diff show)."""
    if not isinstance(spec, dict):
        return
    if restart:
        spec.setdefault("restartPolicy", restart)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
            c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for port in c.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


MAX_DATA_BYTES = 1024 * 1024  # the API server's limit on Secret/ConfigMap payloads


def _check_size(rt: ResourceType, obj: Obj) -> None:
    """A Secret or ConfigMap over 1 MiB is refused (a Helm release too big for its storage Secret)."""
    size = 0
    for key in ("data", "stringData", "binaryData"):
        for k, v in (obj.get(key) or {}).items():
            raw = str(v)
            size += len(k) + (len(raw) * 3 // 4 if key in ("binaryData",) or (key == "data" and rt.kind == "Secret")
                              else len(raw.encode()))
    if size > MAX_DATA_BYTES:
        # ValidateSecret reports it on "data"; ValidateConfigMap on the whole object (Go prints "[]").
        raise invalid(rt, obj["metadata"]["name"], "data" if rt.kind == "Secret" else "[]",
                      f"Too long: may not be more than {MAX_DATA_BYTES} bytes")


def _template_required(rt: ResourceType, obj: Obj) -> None:
    spec = obj["spec"]
    name = obj["metadata"]["name"]
    if spec.get("selector") is not None and not isinstance(spec.get("selector"), dict):
        raise invalid(rt, name, "spec.selector", "Required value")
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict) or not tmpl["spec"].get("containers"):
        raise invalid(rt, name, "spec.template.spec.containers", "Required value")
    check_containers(rt, name, tmpl["spec"], "spec.template.spec")
    pod_spec_defaults(tmpl["spec"], None if rt.kind == "Job" else "Always")


def _bootstrap_cluster_roles() -> list[Obj]:
    """The user-facing roles kube-apiserver bootstraps (their aggregated rules are not computed here)."""
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    ann = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    out: list[Obj] = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                       "metadata": {"name": "cluster-admin", "labels": dict(labels), "annotations": dict(ann)},
                       "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                 {"nonResourceURLs": ["*"], "verbs": ["*"]}]}]
    for name in ("admin", "edit", "view"):
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": name, "labels": dict(labels), "annotations": dict(ann)},
                    "aggregationRule": {"clusterRoleSelectors": [
                        {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}}]},
                    "rules": []})
    return out


def _crd_status(crd: Obj) -> Obj:
    spec = crd.get("spec") or {}
    ts = now()
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": ts},
        ],
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
    }


def _node() -> Obj:
    ts = now()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_NAME, "labels": {
            "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": NODE_NAME}],
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": ts,
                            "lastTransitionTime": ts}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "sandbox://1.0",
                         "bootID": "00000000-0000-0000-0000-000000000001", "kernelVersion": "6.1.0-sandbox",
                         "machineID": "sandbox", "osImage": "prj-devops sandbox",
                         "systemUUID": "00000000-0000-0000-0000-000000000001"},
        },
    }
