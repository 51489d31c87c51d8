"""Unknown-field detection for built-in kinds (``fieldValidation`` Strict/Warn/Ignore).

A real API server decodes built-in objects into Go structs: with ``fieldValidation=Strict`` (what kubectl
and Helm 4 send) an unknown field is a 400, otherwise it is dropped with a warning. The field list comes
from the official client's generated models (``openapi_types``/``attribute_map``), already a dependency.
Custom resources are not checked (their CRD schemas are not interpreted).
"""

from __future__ import annotations

import functools
import re
from typing import Any

_LIST = re.compile(r"^[Ll]ist\[(.+)\]$")
_DICT = re.compile(r"^(?:Dict\[str, (.+)\]|dict\(str, (.+)\))$")
# Free-form subtrees: JSON schemas inside CRDs, RawExtension/IntOrString ("object") and the like.
_OPAQUE = frozenset({"object", "V1JSONSchemaProps", "V1JSON"})
_OVERRIDES = {("", "Event"): "CoreV1Event", ("events.k8s.io", "Event"): "EventsV1Event"}


@functools.cache
def _models() -> Any:
    from kubernetes.client import models  # imported on first use: ~0.2 s

    return models


@functools.cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> type string for a generated model, or None if there is no such model."""
    cls = getattr(_models(), model, None)
    amap = getattr(cls, "attribute_map", None)
    types = getattr(cls, "openapi_types", None)
    if not isinstance(amap, dict) or not isinstance(types, dict):
        return None
    return {json_name: str(types.get(attr, "object")) for attr, json_name in amap.items()}


@functools.cache
def model_for(group: str, version: str, kind: str) -> str | None:
    """The generated model of a built-in top-level kind (``V1Deployment``), if the client has one."""
    name = _OVERRIDES.get((group, kind), f"{version[:1].upper()}{version[1:]}{kind}")
    fields = _fields(name)
    return name if fields and "kind" in fields and "apiVersion" in fields else None


def unknown_fields(model: str, obj: Any, path: str = "", prune: bool = False) -> list[str]:
    """Paths (``spec.template.spec.containers[0].imagee``) of fields the model does not declare."""
    fields = _fields(model)
    if fields is None or not isinstance(obj, dict):
        return []
    out: list[str] = []
    for key in list(obj):
        here = f"{path}.{key}" if path else key
        typ = fields.get(key)
        if typ is None:
            out.append(here)
            if prune:
                del obj[key]
            continue
        out += _check_value(typ, obj[key], here, prune)
    return out


def _check_value(typ: str, value: Any, path: str, prune: bool) -> list[str]:
    if typ in _OPAQUE or value is None:
        return []
    m = _LIST.match(typ)
    if m:
        if not isinstance(value, list):
            return []
        return [p for i, item in enumerate(value) for p in _check_value(m.group(1), item, f"{path}[{i}]", prune)]
    m = _DICT.match(typ)
    if m:
        if not isinstance(value, dict):
            return []
        inner = m.group(1) or m.group(2)
        return [p for k, item in value.items() for p in _check_value(inner, item, f"{path}[{k}]", prune)]
    if typ[:1] == "V" and isinstance(value, dict) and _fields(typ) is not None:
        return unknown_fields(typ, value, path, prune)
    return []
