"""Field errors as kube-apiserver reports them (``k8s.io/apimachinery/pkg/util/validation/field``).

A :class:`FieldError` renders like Go's ``field.Error``: ``spec.replicas: Invalid value: -1: must be greater
than or equal to 0``; :func:`invalid_status` builds the 422 ``Status`` of ``errors.NewInvalid`` (message
``<Kind>.<group> "<name>" is invalid: <errors>``, one error plain, several as ``[a, b]``, and one
``details.causes`` entry per error with the reason ``FieldValueInvalid``/``FieldValueRequired``/...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

# Go's ErrorType (the cause's reason) -> its String() (the word in the message).
TYPES = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
_NO_VALUE = frozenset({"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"})


class _Omit:
    def __repr__(self) -> str:
        return "<omitted>"


OMIT: Any = _Omit()


def go_value(value: Any) -> str:
    """How ``ErrorBody`` prints a bad value: simple types with %v, strings with %q, the rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class FieldError:
    """One validation error: its Go type (the cause reason), field path, bad value and detail."""

    type: str
    field: str
    value: Any = dc_field(default=OMIT, compare=False)
    detail: str = ""

    def body(self) -> str:
        """Go's ``ErrorBody()``: the message without the field path."""
        word = TYPES[self.type]
        s = word if self.type in _NO_VALUE or self.value is OMIT else f"{word}: {go_value(self.value)}"
        return f"{s}: {self.detail}" if self.detail else s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.body(), "field": self.field}


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", path, "", detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, value, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", path, "", detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, value)


def not_supported(path: str, value: Any, valid: list[str] | tuple[str, ...]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(v) for v in valid) if valid else ""
    return FieldError("FieldValueNotSupported", path, value, detail)


def too_long(path: str, limit: int) -> FieldError:
    return FieldError("FieldValueTooLong", path, OMIT, f"may not be more than {limit} byte{'s' if limit != 1 else ''}")


def too_many(path: str, limit: int) -> FieldError:
    return FieldError("FieldValueTooMany", path, OMIT, f"must have at most {limit} item{'s' if limit != 1 else ''}")


def aggregate(errs: list[FieldError]) -> str:
    """``ErrorList.ToAggregate().Error()``: duplicates dropped, one message plain, several in ``[...]``."""
    seen: list[str] = []
    for e in errs:
        msg = str(e)
        if msg not in seen:
            seen.append(msg)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def invalid_status(kind: str, group: str, name: str, errs: list[FieldError]) -> tuple[str, dict[str, Any]]:
    """(message, details) of ``errors.NewInvalid(GroupKind{group, kind}, name, errs)``."""
    qualified = f"{kind}.{group}" if group else kind
    message = f'{qualified} "{name}" is invalid'
    if errs:
        message += f": {aggregate(errs)}"
    details = {"name": name, "group": group, "kind": kind, "causes": [e.cause() for e in errs]}
    return message, details
