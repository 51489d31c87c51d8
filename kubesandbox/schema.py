"""Custom resources against their CRD's structural ``openAPIV3Schema``, as apiextensions-apiserver does it.

Three pure steps, in the server's order: :func:`prune` (unknown fields: reported for ``fieldValidation`` and
dropped, except under ``x-kubernetes-preserve-unknown-fields``), :func:`apply_defaults` (``default:`` values
for absent properties of present objects) and :func:`validate` (types, ``required``, ``enum``, ``pattern``,
``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems``, common ``format`` values,
``nullable``, ``x-kubernetes-int-or-string``). Messages are kube-openapi's (``spec.replicas in body must be
of type integer: "string"``) turned into field errors the way ``kubeOpenAPIResultToFieldErrors`` does.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import ipaddress
import re
import uuid
from typing import Any

from .fielderrors import OMIT, FieldError, not_supported, required, too_long, too_many

Schema = dict[str, Any]
_ROOT_META = ("apiVersion", "kind", "metadata")


def version_schema(crd: dict[str, Any], version: str) -> Schema | None:
    """The ``openAPIV3Schema`` of one version of a CRD (or the legacy top-level ``validation``)."""
    spec = crd.get("spec") or {}
    for ver in spec.get("versions") or []:
        if ver.get("name") == version:
            sch = (ver.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(sch, dict):
                return sch
    sch = (spec.get("validation") or {}).get("openAPIV3Schema")
    return sch if isinstance(sch, dict) else None


def _preserves(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def prune(obj: Any, schema: Schema, path: str = "", root: bool = True) -> list[str]:
    """Drop fields the schema does not know (in place); returns their paths (``spec.foo``, ``a[0].b``)."""
    unknown: list[str] = []
    if isinstance(obj, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(obj):
            here = _join(path, key)
            if (root or embedded) and key in _ROOT_META:
                continue
            if isinstance(props, dict) and key in props:
                unknown.extend(prune(obj[key], props[key] or {}, here, False))
            elif isinstance(additional, dict):
                unknown.extend(prune(obj[key], additional, here, False))
            elif additional is True or _preserves(schema) or (props is None and not schema):
                continue  # free-form here, or nothing known about this level
            else:
                unknown.append(here)
                del obj[key]
    elif isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(obj):
                unknown.extend(prune(item, items, f"{path}[{i}]", False))
    return unknown


def apply_defaults(obj: Any, schema: Schema) -> None:
    """Structural defaulting: a property's ``default`` when the property is absent from a present object."""
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if not isinstance(sub, dict):
                continue
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                apply_defaults(obj[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key, value in obj.items():
                if key not in (schema.get("properties") or {}):
                    apply_defaults(value, additional)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_num(v: Any) -> str:
    """Go's %v of a float64 bound (1 -> "1", 0.5 -> "0.5")."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _type_ok(value: Any, schema: Schema) -> tuple[bool, str]:
    if schema.get("x-kubernetes-int-or-string"):
        return json_type(value) in ("integer", "string") or (
            isinstance(value, float) and value.is_integer()), "integer,string"
    want = schema.get("type")
    if not want:
        return True, ""
    got = json_type(value)
    ok = got == want or (want == "number" and got == "integer") or (
        want == "integer" and isinstance(value, float) and value.is_integer())
    return ok, str(want)


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date-time":
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return "T" in value or "t" in value
        if fmt == "date":
            dt.date.fromisoformat(value)
        elif fmt == "uuid":
            uuid.UUID(value)
        elif fmt == "ipv4":
            ipaddress.IPv4Address(value)
        elif fmt == "ipv6":
            ipaddress.IPv6Address(value)
        elif fmt == "cidr":
            ipaddress.ip_network(value, strict=False)
        elif fmt == "byte":
            base64.b64decode(value, validate=True)
        elif fmt == "email":
            return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) is not None
        elif fmt == "hostname":
            label = r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,62})"
            return re.fullmatch(rf"{label}(\.{label})*", value) is not None
        elif fmt == "duration":
            return re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+|0", value) is not None
    except ValueError:
        return False
    return True


def _invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, value, detail)


def has_cel(schema: Any) -> bool:
    """Whether a schema carries ``x-kubernetes-validations`` anywhere."""
    if isinstance(schema, dict):
        return bool(schema.get("x-kubernetes-validations")) or any(has_cel(v) for v in schema.values())
    if isinstance(schema, list):
        return any(has_cel(v) for v in schema)
    return False


def validate(obj: Any, schema: Schema, path: str = "", cel_rules: bool = True) -> list[FieldError]:
    """Field errors of ``obj`` against a structural schema (paths as kube-openapi names them)."""
    errs: list[FieldError] = []
    name = path or "."
    if obj is None:
        if schema.get("nullable") or not schema.get("type"):
            return errs
        return [FieldError("FieldValueTypeInvalid", path, "null",
                           f"{name} in body must be of type {schema['type']}: \"null\"")]
    ok, want = _type_ok(obj, schema)
    if not ok:
        got = json_type(obj)
        return [FieldError("FieldValueTypeInvalid", path, got, f'{name} in body must be of type {want}: "{got}"')]
    if isinstance(obj, str):
        if "maxLength" in schema and len(obj) > int(schema["maxLength"]):
            errs.append(too_long(path, int(schema["maxLength"])))
        if "minLength" in schema and len(obj) < int(schema["minLength"]):
            errs.append(_invalid(path, obj, f"{name} in body should be at least {schema['minLength']} chars long"))
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                if re.search(pattern, obj) is None:
                    errs.append(_invalid(path, obj, f"{name} in body should match '{pattern}'"))
            except re.error:
                pass
        fmt = schema.get("format")
        if isinstance(fmt, str) and schema.get("type") == "string" and not _format_ok(fmt, obj):
            errs.append(FieldError("FieldValueTypeInvalid", path, obj,
                                   f'{name} in body must be of type {fmt}: "{obj}"'))
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        if "maximum" in schema:
            mx = schema["maximum"]
            if obj > mx or (schema.get("exclusiveMaximum") and obj == mx):
                word = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
                errs.append(_invalid(path, obj, f"{name} in body should be {word} {_go_num(mx)}"))
        if "minimum" in schema:
            mn = schema["minimum"]
            if obj < mn or (schema.get("exclusiveMinimum") and obj == mn):
                word = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
                errs.append(_invalid(path, obj, f"{name} in body should be {word} {_go_num(mn)}"))
        mult = schema.get("multipleOf")
        if isinstance(mult, int | float) and mult > 0 and (obj / mult) != int(obj / mult):
            errs.append(_invalid(path, obj, f"{name} in body should be a multiple of {_go_num(mult)}"))
    if isinstance(obj, list):
        if "maxItems" in schema and len(obj) > int(schema["maxItems"]):
            errs.append(FieldError("FieldValueTooMany", path, len(obj),
                                   too_many(path, int(schema["maxItems"])).detail))
        if "minItems" in schema and len(obj) < int(schema["minItems"]):
            errs.append(_invalid(path, len(obj), f"{name} in body should have at least {schema['minItems']} items"))
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(obj):
                errs.extend(validate(item, items, f"{path}[{i}]", cel_rules))
    if cel_rules:
        errs.extend(_cel_rules(obj, schema, path))
    enum = schema.get("enum")
    if isinstance(enum, list) and obj not in enum:
        errs.append(not_supported(path, obj, [e if isinstance(e, str) else _json(e) for e in enum]))
    if isinstance(obj, dict):
        for key in schema.get("required") or []:
            if key not in obj:
                errs.append(required(_join(path, key)))
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, value in obj.items():
            if not path and key in _ROOT_META:
                continue
            sub = props.get(key)
            if isinstance(sub, dict):
                errs.extend(validate(value, sub, _join(path, key), cel_rules))
            elif isinstance(additional, dict):
                errs.extend(validate(value, additional, _join(path, key), cel_rules))
    return errs


_CEL_REASONS = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}


def _cel_rules(obj: Any, schema: Schema, path: str) -> list[FieldError]:
    """``x-kubernetes-validations`` rules this subset of CEL can evaluate (transition rules are skipped)."""
    from .cel import CelError, evaluate

    errs: list[FieldError] = []
    for rule in schema.get("x-kubernetes-validations") or []:
        expr = rule.get("rule") if isinstance(rule, dict) else None
        if not isinstance(expr, str) or "oldSelf" in expr:
            continue
        try:
            ok = evaluate(expr, obj)
        except (CelError, RecursionError):
            continue  # not evaluable here: the sandbox does not refuse what it cannot judge
        if ok:
            continue
        here = path + str(rule.get("fieldPath") or "") if rule.get("fieldPath") else path
        detail = str(rule.get("message") or f"failed rule: {expr}")
        reason = rule.get("reason") if rule.get("reason") in _CEL_REASONS else "FieldValueInvalid"
        value = "" if reason in ("FieldValueForbidden", "FieldValueRequired") else schema.get("type") or json_type(obj)
        errs.append(FieldError(str(reason), here.lstrip("."), value, detail))
    return errs


def _json(v: Any) -> str:
    import json

    return json.dumps(v, separators=(",", ":"))


__all__ = ["OMIT", "apply_defaults", "prune", "validate", "version_schema"]
