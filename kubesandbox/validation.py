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


def warm_up() -> None:
    """Import the models and index the common kinds, so the first validated request is not slow."""
    for group, version, kind in (("apps", "v1", "Deployment"), ("", "v1", "Service"), ("", "v1", "Secret")):
        model = model_for(group, version, kind)
        if model is not None:
            unknown_fields(model, {})


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


# Quantities are typed "str" in the models but the API server also takes JSON numbers (cpu: 1).
_QUANTITY_MAPS = frozenset({"limits", "requests", "hard", "used", "capacity", "allocatable", "overhead", "max",
                            "min", "default", "defaultRequest", "maxLimitRequestRatio"})
_QUANTITY_FIELDS = frozenset({"sizeLimit", "divisor"})
# resource.ParseQuantity's complaint, which the decoder reports as is (400).
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
QUANTITY_ERROR = r"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_JSON_TYPE = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}


class Findings:
    """What one walk found: unknown field paths and type mismatches (``path: expected X, got Y``)."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.type_errors: list[str] = []


def unknown_fields(model: str, obj: Any, path: str = "", prune: bool = False) -> list[str]:
    """Paths (``spec.template.spec.containers[0].imagee``) of fields the model does not declare."""
    found = Findings()
    inspect(model, obj, found, path, prune)
    return found.unknown


def inspect(model: str, obj: Any, found: Findings, path: str = "", prune: bool = False) -> None:
    """Walk ``obj`` against a generated model, recording unknown fields and scalar type mismatches."""
    fields = _fields(model)
    if fields is None or not isinstance(obj, dict):
        return
    for key in list(obj):
        here = f"{path}.{key}" if path else key
        typ = fields.get(key)
        if typ is None:
            found.unknown.append(here)
            if prune:
                del obj[key]
            continue
        _check_value(typ, obj[key], here, key, found, prune)


def _scalar_ok(typ: str, value: Any, key: str) -> bool:
    if typ == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if typ == "bool":
        return isinstance(value, bool)
    if typ == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if typ == "str":
        return isinstance(value, str) or (key in _QUANTITY_FIELDS and isinstance(value, int | float))
    return True


def _check_value(typ: str, value: Any, path: str, key: str, found: Findings, prune: bool) -> None:
    if typ in _OPAQUE:
        return
    if value is None:
        if path.endswith("]"):  # a null list item or map value is not "unset": it cannot be decoded
            found.type_errors.append(f"{path}: expected {typ}, got null")
        return
    m = _LIST.match(typ)
    if m:
        if not isinstance(value, list):
            found.type_errors.append(f"{path}: expected array, got {_JSON_TYPE.get(type(value), 'value')}")
            return
        for i, item in enumerate(value):
            _check_value(m.group(1), item, f"{path}[{i}]", key, found, prune)
        return
    m = _DICT.match(typ)
    if m:
        if not isinstance(value, dict):
            found.type_errors.append(f"{path}: expected object, got {_JSON_TYPE.get(type(value), 'value')}")
            return
        inner = m.group(1) or m.group(2)
        for k, item in value.items():
            if inner == "str" and key in _QUANTITY_MAPS and isinstance(item, int | float):
                continue
            if inner == "str" and key in _QUANTITY_MAPS and isinstance(item, str) and not _QUANTITY.match(item):
                found.type_errors.append(QUANTITY_ERROR)
                continue
            _check_value(inner, item, f"{path}[{k}]", key, found, prune)
        return
    if typ[:1] == "V" and _fields(typ) is not None:
        if not isinstance(value, dict):
            found.type_errors.append(f"{path}: expected object, got {_JSON_TYPE.get(type(value), 'value')}")
            return
        inspect(typ, value, found, path, prune)
        return
    if not _scalar_ok(typ, value, key):
        want = {"int": "integer", "str": "string", "bool": "boolean", "float": "number"}.get(typ, typ)
        found.type_errors.append(f"{path}: expected {want}, got {_JSON_TYPE.get(type(value), 'value')}")
