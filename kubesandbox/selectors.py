"""Label and field selectors as the API server parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_REQ = re.compile(r"^\s*(!)?\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=|\s+in\s+|\s+notin\s+)\s*(.*?))?\s*$")


class SelectorError(ValueError):
    """The selector string cannot be parsed (HTTP 400)."""


def _split(expr: str) -> list[str]:
    # Commas separate requirements except inside "in (a,b)" sets.
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (p.strip() for p in parts) if p]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # = != in notin exists !exists
    values: tuple[str, ...]

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        val = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "=":
            return val == self.values[0]
        if self.op == "!=":
            return val != self.values[0]
        if self.op == "in":
            return present and val in self.values
        return val not in self.values  # notin: absent keys match, as upstream


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector`` query string."""

    reqs: tuple[Requirement, ...]

    @classmethod
    def parse(cls, expr: str | None) -> LabelSelector:
        if not expr:
            return cls(())
        reqs = []
        for part in _split(expr):
            m = _REQ.match(part)
            if not m:
                raise SelectorError(f"unable to parse requirement: {part!r}")
            neg, key, op, rest = m.groups()
            if neg:
                if op:
                    raise SelectorError(f"unable to parse requirement: {part!r}")
                reqs.append(Requirement(key, "!exists", ()))
                continue
            if not op:
                reqs.append(Requirement(key, "exists", ()))
                continue
            op = op.strip()
            if op in ("in", "notin"):
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise SelectorError(f"unable to parse requirement: {part!r}")
                vals = tuple(v.strip() for v in rest[1:-1].split(",") if v.strip())
                reqs.append(Requirement(key, op, vals))
            else:
                if rest is None or any(c in rest for c in " (),"):
                    raise SelectorError(f"unable to parse requirement: {part!r}")
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (rest,)))
        return cls(tuple(reqs))

    def matches(self, labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in self.reqs)

    @property
    def empty(self) -> bool:
        return not self.reqs


def match_label_selector(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A structured ``LabelSelector`` (matchLabels/matchExpressions); empty/None selects nothing."""
    if not selector:
        return False
    ml = selector.get("matchLabels") or {}
    me = selector.get("matchExpressions") or []
    if not ml and not me and "matchLabels" not in selector and "matchExpressions" not in selector:
        ml = selector  # a Service's plain map selector
    if not ml and not me:
        return False
    for k, v in ml.items():
        if labels.get(k) != v:
            return False
    for e in me:
        key, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector: dict[str, Any] | None) -> str:
    """The query-string form of a structured selector (for the scale subresource)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op, key, vals = e.get("operator"), e.get("key"), ",".join(e.get("values") or [])
        parts.append({"In": f"{key} in ({vals})", "NotIn": f"{key} notin ({vals})",
                      "Exists": f"{key}", "DoesNotExist": f"!{key}"}.get(op, ""))
    return ",".join(p for p in parts if p)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector``: ``path=value``/``path==value``/``path!=value`` terms."""

    terms: tuple[tuple[str, bool, str], ...]

    @classmethod
    def parse(cls, expr: str | None) -> FieldSelector:
        if not expr:
            return cls(())
        terms = []
        for part in _split(expr):
            m = re.match(r"^([A-Za-z0-9._\[\]-]+)\s*(==|=|!=)\s*(.*)$", part)
            if not m:
                raise SelectorError(f"invalid field selector: {part!r}")
            terms.append((m.group(1), m.group(2) != "!=", m.group(3)))
        return cls(tuple(terms))

    def matches(self, obj: dict[str, Any]) -> bool:
        for path, eq, want in self.terms:
            cur: Any = obj
            for seg in path.split("."):
                cur = cur.get(seg) if isinstance(cur, dict) else None
            have = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
            if (have == want) != eq:
                return False
        return True

    def single_name(self) -> str | None:
        for path, eq, want in self.terms:
            if path == "metadata.name" and eq:
                return want
        return None
