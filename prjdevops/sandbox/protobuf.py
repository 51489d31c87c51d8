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
    """A well-formed envelope of a kind this decoder has no schema for (HTTP 415)."""


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
        if num in strings:
            meta[strings[num]] = _s(v)
        elif num == 7:
            meta["generation"] = _signed(v)
        elif num == 8:
            meta["creationTimestamp"] = _time(v)
        elif num == 9:
            meta["deletionTimestamp"] = _time(v)
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


DECODERS: dict[str, Callable[[bytes], Obj]] = {
    "Secret": _secret,
    "ConfigMap": _configmap,
    "Namespace": _namespace,
    "DeleteOptions": _delete_options,
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
