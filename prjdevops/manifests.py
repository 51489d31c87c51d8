"""Rendered manifests as objects, and per-object diffs with secrets redacted (pure)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from prjdevops.errors import DeployError
from prjdevops.values import REDACTED, Redactor


class ManifestError(DeployError):
    """A rendered manifest holds a document that is not YAML (Helm itself would refuse it too)."""

Key = tuple[str, str, str]  # (kind, namespace, name)

# libyaml's parser and emitter when PyYAML has them (same safe constructor/representer, ~10x faster: a platform
# plan parses and dumps thousands of objects); the pure-Python ones otherwise.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# Helm's own document separator (``releaseutil.SplitManifests``): a ``---`` at the start or after a newline, with
# any whitespace around it. It accepts what YAML does not: ``---# comment`` (cert-manager's rbac.yaml) and ``---``
# glued to the next line by ``{{- if ... }}``. Go's ``^`` without (?m) is the start of the text, like Python's.
HELM_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")


def split_manifests(text: str) -> list[str]:
    """The documents of a rendered manifest exactly as Helm splits them: trimmed, empty ones dropped."""
    return [d.strip() for d in HELM_SEPARATOR.split((text or "").strip()) if d]


def _load(doc: str) -> Any:
    try:
        return yaml.load(doc, Loader=_LOADER)
    except yaml.YAMLError as e:
        first = next((ln for ln in doc.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ManifestError(f"a rendered document is not valid YAML{at} ({getattr(e, 'problem', None) or e}); "
                            f"it starts with {first[:60]!r}",
                            hint="render the chart with helm template to see it") from e


def parse_manifest(text: str, default_namespace: str = "") -> list[dict[str, Any]]:
    """Split a multi-document manifest into objects as Helm does, skipping empty and comment-only documents."""
    objs = []
    for part in split_manifests(text):
        doc = _load(part)
        if isinstance(doc, dict) and doc.get("kind"):
            if not isinstance(doc.get("metadata"), dict):  # `metadata:` null: give it a real, attached dict
                doc["metadata"] = {}
            meta = doc["metadata"]
            if default_namespace and not meta.get("namespace") and doc["kind"] not in CLUSTER_SCOPED:
                meta["namespace"] = default_namespace
            objs.append(doc)
    return objs


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterIssuer",
                  "StorageClass", "PriorityClass", "IngressClass", "Node", "PersistentVolume",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def key_text(key: Key) -> str:
    kind, ns, name = key
    return f"{kind}/{name}" + (f" (ns {ns})" if ns else "")


def _mask_secrets(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
                  ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Hide Secret data on both sides, but keep whether each key changed visible."""
    def masked(obj: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        out = dict(obj)
        if obj.get("kind") != "Secret":
            return out
        for field in ("data", "stringData"):
            if field not in obj:  # do not invent an empty field the manifest does not have
                continue
            values = obj.get(field) or {}
            other_values = (other or {}).get(field) or {}
            out[field] = {k: REDACTED + (" (changed)" if other is not None and other_values.get(k) != v
                                         and obj is new else "") for k, v in values.items()}
        return out
    return masked(old, new), masked(new, old)


@dataclass(frozen=True)
class ObjectDiff:
    key: Key
    action: str  # add | change | remove
    diff: str  # unified diff text, redacted
    fields: tuple[str, ...] = ()  # of a change: "path: old → new" per changed field, redacted


_MISSING = object()
FIELDS_MAX = 50


def _brief(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    if isinstance(value, dict):
        return f"{{{len(value)} key(s)}}"
    if isinstance(value, list):
        return f"[{len(value)} item(s)]"
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    text = text.removesuffix("\n...").strip() if not isinstance(value, str) else text
    text = text.replace("\n", "⏎")
    return text if len(text) <= 48 else text[:47] + "…"


def _named(items: list[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def changed_fields(old: Any, new: Any, *, limit: int = FIELDS_MAX) -> tuple[str, ...]:
    """The leaves that differ between two objects, as ``path: old → new`` (lists of named items, like
    containers, are matched by name: ``spec.template.spec.containers[web].image``), at most ``limit``."""
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if len(out) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k, _MISSING), b.get(k, _MISSING), f"{path}.{k}" if path else str(k))
            return
        if isinstance(a, list) and isinstance(b, list):
            if _named(a) and _named(b):
                by_a, by_b = {i["name"]: i for i in a}, {i["name"]: i for i in b}
                for n in [*by_a, *(n for n in by_b if n not in by_a)]:
                    walk(by_a.get(n, _MISSING), by_b.get(n, _MISSING), f"{path}[{n}]")
                return
            if len(a) == len(b):
                for i, (x, y) in enumerate(zip(a, b, strict=True)):
                    walk(x, y, f"{path}[{i}]")
                return
        out.append(f"{path}: {_brief(a)} → {_brief(b)}")

    walk(old, new, "")
    return tuple(out)


def _dump(obj: Mapping[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    return yaml.dump(dict(obj), Dumper=_DUMPER, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def diff_objects(live: Iterable[Mapping[str, Any]], desired: Iterable[Mapping[str, Any]],
                 redactor: Redactor | None = None) -> list[ObjectDiff]:
    """Per-object unified diffs of the live objects against the desired ones, ordered by key."""
    redactor = redactor or Redactor()
    old_by = {key_of(o): o for o in live}
    new_by = {key_of(o): o for o in desired}
    out = []
    for key in sorted(set(old_by) | set(new_by)):
        old, new = _mask_secrets(old_by.get(key), new_by.get(key))
        if old == new:
            continue
        action = "add" if old is None else "remove" if new is None else "change"
        label = key_text(key)
        text = "".join(difflib.unified_diff(_dump(old), _dump(new), fromfile=f"live {label}",
                                            tofile=f"new {label}", n=3))
        fields = tuple(redactor.text(f) for f in changed_fields(old, new)) if action == "change" else ()
        out.append(ObjectDiff(key=key, action=action, diff=redactor.text(text), fields=fields))
    return out
