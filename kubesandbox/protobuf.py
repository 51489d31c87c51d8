"""Hand-written decoding of the Kubernetes protobuf wire format for the few kinds client-go sends that way.

client-go's typed clients (Helm's release storage among them) send built-in objects as
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\x00`` then a ``runtime.Unknown`` message whose
``raw`` field holds the object. Field numbers follow k8s.io/api and apimachinery ``generated.proto``.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b"k8s\x00"

Obj = dict[str, Any]


class ProtobufError(ValueError):
    """The body is not a protobuf message we can read (HTTP 400)."""


class UnsupportedKind(ProtobufError):
    """A well-formed envelope of a kind (or field) this decoder has no schema for (HTTP 415)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value); value is int for varints, bytes for length-delimited."""
    if not isinstance(buf, bytes):
        raise ProtobufError("expected a length-delimited (message) field")
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
            yield num, wt, val
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > len(buf):
                raise ProtobufError("truncated field")
            yield num, wt, buf[pos:pos + ln]
            pos += ln
        elif wt == 1:
            yield num, wt, int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            yield num, wt, int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")


def _s(v: Any) -> str:
    if not isinstance(v, bytes):
        raise ProtobufError("expected a string field")
    return v.decode("utf-8")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _map_entry(buf: bytes) -> tuple[str, bytes]:
    key, val = "", b""
    for num, _, v in fields(buf):
        if num == 1:
            key = _s(v)
        elif num == 2:
            val = v
    return key, val


def _time(buf: bytes) -> str:
    secs = 0
    for num, _, v in fields(buf):
        if num == 1:
            secs = _signed(v)
    return dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_ref(buf: bytes) -> Obj:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    out: Obj = {}
    for num, _, v in fields(buf):
        if num in names:
            out[names[num]] = _s(v)
        elif num == 6:
            out["controller"] = bool(v)
        elif num == 7:
            out["blockOwnerDeletion"] = bool(v)
    return out


def object_meta(buf: bytes) -> Obj:
    """ObjectMeta (apimachinery meta/v1); managedFields are dropped (the server owns them)."""
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: Obj = {}
    for num, _, v in fields(buf):
        # gogo-protobuf writes every non-pointer field, so empty strings and zero times are "unset".
        if num in strings:
            if v:
                meta[strings[num]] = _s(v)
        elif num == 7:
            if v:
                meta["generation"] = _signed(v)
        elif num in (8, 9):
            ts = _time(v)
            if not ts.startswith("1970-01-01T00:00:00"):
                meta["creationTimestamp" if num == 8 else "deletionTimestamp"] = ts
        elif num == 10:
            meta["deletionGracePeriodSeconds"] = _signed(v)
        elif num in (11, 12):
            k, val = _map_entry(v)
            meta.setdefault("labels" if num == 11 else "annotations", {})[k] = val.decode("utf-8")
        elif num == 13:
            meta.setdefault("ownerReferences", []).append(_owner_ref(v))
        elif num == 14:
            meta.setdefault("finalizers", []).append(_s(v))
    return meta


def _secret(buf: bytes) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {}}
    for num, _, v in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(v)
        elif num == 2:
            k, val = _map_entry(v)
            obj.setdefault("data", {})[k] = base64.b64encode(val).decode()
        elif num == 3:
            obj["type"] = _s(v)
        elif num == 4:
            k, val = _map_entry(v)
            obj.setdefault("stringData", {})[k] = val.decode("utf-8")
        elif num == 5:
            obj["immutable"] = bool(v)
    return obj


def _configmap(buf: bytes) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    for num, _, v in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(v)
        elif num == 2:
            k, val = _map_entry(v)
            obj.setdefault("data", {})[k] = val.decode("utf-8")
        elif num == 3:
            k, val = _map_entry(v)
            obj.setdefault("binaryData", {})[k] = base64.b64encode(val).decode()
        elif num == 4:
            obj["immutable"] = bool(v)
    return obj


def _namespace(buf: bytes) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}
    for num, _, v in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(v)
        elif num == 2:
            fins = [_s(f) for n, _, f in fields(v) if n == 1]
            if fins:
                obj["spec"] = {"finalizers": fins}
    return obj


def _delete_options(buf: bytes) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
    for num, _, v in fields(buf):
        if num == 1:
            obj["gracePeriodSeconds"] = _signed(v)
        elif num == 2:
            pre: Obj = {}
            for n, _, pv in fields(v):
                if n == 1:
                    pre["uid"] = _s(pv)
                elif n == 2:
                    pre["resourceVersion"] = _s(pv)
            obj["preconditions"] = pre
        elif num == 3:
            obj["orphanDependents"] = bool(v)
        elif num == 4:
            obj["propagationPolicy"] = _s(v)
        elif num == 5:
            obj.setdefault("dryRun", []).append(_s(v))
    return obj


# --- schema-driven decoding for what `kubectl create ...` sends -------------------------------------------
#
# message -> field number -> (JSON name, type). Types: "s" string, "i" integer, "b" bool, "meta" ObjectMeta,
# "q" Quantity, "ios" IntOrString, "ms" map<string,string>, "mq" map<string,Quantity>, "skip" (status: the
# server owns it), a message name, or "inline:<message>" (Go embedded struct: its fields join the parent).
# A leading "*" marks repeated fields; a trailing "!" marks Go pointers/required fields, whose zero value is
# meaningful (non-pointer zero values are always on the wire and mean "unset"). A field number missing here
# makes the whole body 415, so nothing is ever silently dropped.
F = dict[int, tuple[str, str]]
SCHEMAS: dict[str, F] = {
    "LabelSelector": {1: ("matchLabels", "ms"), 2: ("matchExpressions", "*LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "*s")},
    "PodTemplateSpec": {1: ("metadata", "meta"), 2: ("spec", "PodSpec")},
    "PodSpec": {2: ("containers", "*Container"), 3: ("restartPolicy", "s"),
                4: ("terminationGracePeriodSeconds", "i!"), 5: ("activeDeadlineSeconds", "i!"),
                6: ("dnsPolicy", "s"), 7: ("nodeSelector", "ms"), 8: ("serviceAccountName", "s"),
                9: ("serviceAccount", "s"), 10: ("nodeName", "s"), 11: ("hostNetwork", "b"),
                12: ("hostPID", "b"), 13: ("hostIPC", "b"), 15: ("imagePullSecrets", "*LocalObjectReference"),
                16: ("hostname", "s"), 17: ("subdomain", "s"), 19: ("schedulerName", "s"),
                20: ("initContainers", "*Container"), 21: ("automountServiceAccountToken", "b!"),
                24: ("priorityClassName", "s")},
    "Container": {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "*s"), 4: ("args", "*s"),
                  5: ("workingDir", "s"), 6: ("ports", "*ContainerPort"), 7: ("env", "*EnvVar"),
                  8: ("resources", "ResourceRequirements"), 13: ("terminationMessagePath", "s"),
                  14: ("imagePullPolicy", "s"), 16: ("stdin", "b"), 17: ("stdinOnce", "b"), 18: ("tty", "b"),
                  20: ("terminationMessagePolicy", "s")},
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i!"), 4: ("protocol", "s"),
                      5: ("hostIP", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s")},
    "LocalObjectReference": {1: ("name", "s")},
    "ResourceRequirements": {1: ("limits", "mq"), 2: ("requests", "mq")},
    "Deployment": {1: ("metadata", "meta"), 2: ("spec", "DeploymentSpec"), 3: ("status", "skip")},
    "DeploymentSpec": {1: ("replicas", "i!"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       4: ("strategy", "DeploymentStrategy"), 5: ("minReadySeconds", "i"),
                       6: ("revisionHistoryLimit", "i!"), 7: ("paused", "b"), 9: ("progressDeadlineSeconds", "i!")},
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "ios"), 2: ("maxSurge", "ios")},
    "Job": {1: ("metadata", "meta"), 2: ("spec", "JobSpec"), 3: ("status", "skip")},
    "JobSpec": {1: ("parallelism", "i!"), 2: ("completions", "i!"), 3: ("activeDeadlineSeconds", "i!"),
                4: ("selector", "LabelSelector"), 5: ("manualSelector", "b!"), 6: ("template", "PodTemplateSpec"),
                7: ("backoffLimit", "i!"), 8: ("ttlSecondsAfterFinished", "i!"), 9: ("completionMode", "s"),
                10: ("suspend", "b!")},
    "CronJob": {1: ("metadata", "meta"), 2: ("spec", "CronJobSpec"), 3: ("status", "skip")},
    "CronJobSpec": {1: ("schedule", "s"), 2: ("startingDeadlineSeconds", "i!"), 3: ("concurrencyPolicy", "s"),
                    4: ("suspend", "b!"), 5: ("jobTemplate", "JobTemplateSpec"),
                    6: ("successfulJobsHistoryLimit", "i!"), 7: ("failedJobsHistoryLimit", "i!"),
                    8: ("timeZone", "s")},
    "JobTemplateSpec": {1: ("metadata", "meta"), 2: ("spec", "JobSpec")},
    "Pod": {1: ("metadata", "meta"), 2: ("spec", "PodSpec"), 3: ("status", "skip")},
    "Service": {1: ("metadata", "meta"), 2: ("spec", "ServiceSpec"), 3: ("status", "skip")},
    "ServiceSpec": {1: ("ports", "*ServicePort"), 2: ("selector", "ms"), 3: ("clusterIP", "s"), 4: ("type", "s"),
                    5: ("externalIPs", "*s"), 7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"),
                    10: ("externalName", "s"), 11: ("externalTrafficPolicy", "s"), 12: ("healthCheckNodePort", "i"),
                    13: ("publishNotReadyAddresses", "b"), 17: ("ipFamilyPolicy", "s"),
                    18: ("clusterIPs", "*s"), 19: ("ipFamilies", "*s"),
                    20: ("allocateLoadBalancerNodePorts", "b!"), 22: ("internalTrafficPolicy", "s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i!"), 4: ("targetPort", "ios"),
                    5: ("nodePort", "i"), 6: ("appProtocol", "s")},
    "ServiceAccount": {1: ("metadata", "meta"), 3: ("imagePullSecrets", "*LocalObjectReference"),
                       4: ("automountServiceAccountToken", "b!")},
    "Role": {1: ("metadata", "meta"), 2: ("rules", "*PolicyRule")},
    "ClusterRole": {1: ("metadata", "meta"), 2: ("rules", "*PolicyRule")},
    "PolicyRule": {1: ("verbs", "*s"), 2: ("apiGroups", "*s"), 3: ("resources", "*s"), 4: ("resourceNames", "*s"),
                   5: ("nonResourceURLs", "*s")},
    "RoleBinding": {1: ("metadata", "meta"), 2: ("subjects", "*Subject"), 3: ("roleRef", "RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "meta"), 2: ("subjects", "*Subject"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    "Ingress": {1: ("metadata", "meta"), 2: ("spec", "IngressSpec"), 3: ("status", "skip")},
    "IngressSpec": {1: ("defaultBackend", "IngressBackend"), 2: ("tls", "*IngressTLS"), 3: ("rules", "*IngressRule"),
                    4: ("ingressClassName", "s")},
    "IngressTLS": {1: ("hosts", "*s"), 2: ("secretName", "s")},
    "IngressRule": {1: ("host", "s"), 2: ("", "inline:IngressRuleValue")},
    "IngressRuleValue": {1: ("http", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "*HTTPIngressPath")},
    "HTTPIngressPath": {1: ("path", "s"), 2: ("backend", "IngressBackend"), 3: ("pathType", "s")},
    "IngressBackend": {4: ("service", "IngressServiceBackend")},
    "IngressServiceBackend": {1: ("name", "s"), 2: ("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", "s"), 2: ("number", "i")},
    "PodDisruptionBudget": {1: ("metadata", "meta"), 2: ("spec", "PodDisruptionBudgetSpec"), 3: ("status", "skip")},
    "PodDisruptionBudgetSpec": {1: ("minAvailable", "ios"), 2: ("selector", "LabelSelector"),
                                3: ("maxUnavailable", "ios"), 4: ("unhealthyPodEvictionPolicy", "s")},
    "PriorityClass": {1: ("metadata", "meta"), 2: ("value", "i!"), 3: ("globalDefault", "b"),
                      4: ("description", "s"), 5: ("preemptionPolicy", "s")},
    "ResourceQuota": {1: ("metadata", "meta"), 2: ("spec", "ResourceQuotaSpec"), 3: ("status", "skip")},
    "ResourceQuotaSpec": {1: ("hard", "mq"), 2: ("scopes", "*s")},
}


def _quantity(buf: bytes) -> str:
    return next((_s(v) for n, _, v in fields(buf) if n == 1), "0")


def _int_or_string(buf: bytes) -> int | str:
    typ, ival, sval = 0, 0, ""
    for n, _, v in fields(buf):
        if n == 1:
            typ = v
        elif n == 2:
            ival = _signed(v)
        elif n == 3:
            sval = _s(v)
    return sval if typ == 1 else ival


def _scalar(typ: str, wt: int, v: Any) -> Any:
    if typ == "s":
        return _s(v)
    if wt != 0:
        raise ProtobufError(f"expected a varint for a {typ} field")
    return bool(v) if typ == "b" else _signed(v)


def decode_message(name: str, buf: bytes) -> Obj:
    """Decode one message by its schema into its JSON form (omitempty-like for non-pointer fields)."""
    schema = SCHEMAS[name]
    out: Obj = {}
    for num, wt, v in fields(buf):
        if num not in schema:
            raise UnsupportedKind(f"the sandbox cannot decode protobuf field {num} of {name}: send JSON "
                                  f"(e.g. kubectl apply -f instead of kubectl create)")
        key, typ = schema[num]
        repeated = typ.startswith("*")
        keep_zero = typ.endswith("!")
        typ = typ.strip("*!")
        value: Any
        if typ == "skip":
            continue
        if typ.startswith("inline:"):
            out.update(decode_message(typ.split(":", 1)[1], v))
            continue
        if typ in ("ms", "mq"):
            k, raw = _map_entry(v)
            out.setdefault(key, {})[k] = _quantity(raw) if typ == "mq" else raw.decode("utf-8")
            continue
        if typ == "meta":
            value = object_meta(v)
        elif typ == "q":
            value = _quantity(v)
        elif typ == "ios":
            value = _int_or_string(v)
        elif typ in ("s", "i", "b"):
            value = _scalar(typ, wt, v)
        else:
            if not isinstance(v, bytes):
                raise ProtobufError(f"expected a message for {name}.{key}")
            value = decode_message(typ, v)
        if repeated:
            out.setdefault(key, []).append(value)
        elif keep_zero or _is_set(key, typ, value):
            out[key] = value
    return out


def _is_set(key: str, typ: str, value: Any) -> bool:
    if typ == "meta":
        return True  # ObjectMeta is a non-pointer struct: JSON always carries it
    if typ == "ios":
        # IntOrString fields are pointers (set when present) except a Service port's targetPort
        return not (key == "targetPort" and value == 0)
    return value not in ("", 0, False, {})


def _schema_decoder(kind: str) -> Callable[[bytes], Obj]:
    def decode_kind(buf: bytes) -> Obj:
        return {"kind": kind, **decode_message(kind, buf)}
    return decode_kind


DECODERS: dict[str, Callable[[bytes], Obj]] = {
    "Secret": _secret,
    "ConfigMap": _configmap,
    "Namespace": _namespace,
    "DeleteOptions": _delete_options,
    **{kind: _schema_decoder(kind) for kind in (
        "Deployment", "Job", "CronJob", "Pod", "Service", "ServiceAccount", "Role", "ClusterRole", "RoleBinding",
        "ClusterRoleBinding", "Ingress", "PodDisruptionBudget", "PriorityClass", "ResourceQuota")},
}


def decode(body: bytes) -> Obj:
    """Decode a ``k8s\\x00``-enveloped object to its JSON form; raises ProtobufError if we cannot."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for num, _, v in fields(body[len(MAGIC):]):
        if num == 1:
            for n, _, tv in fields(v):
                if n == 1:
                    api_version = _s(tv)
                elif n == 2:
                    kind = _s(tv)
        elif num == 2:
            raw = v
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise UnsupportedKind(f"the sandbox decodes protobuf bodies only for {', '.join(sorted(DECODERS))}, "
                              f"not {kind or '?'}: send JSON (e.g. kubectl apply -f instead of kubectl create)")
    obj = decoder(raw)
    if api_version:
        obj["apiVersion"] = api_version
    return obj
