"""Server-side-apply field ownership as kube-apiserver keeps it: ``metadata.managedFields``.

Ownership lives in the stored object itself (``metadata.managedFields``, ``fieldsType: FieldsV1``), so GET, LIST
and watch answers carry it at no cost; this module computes the next list on every write. Entries are keyed as
upstream keys them: (manager, "Apply", subresource) for appliers, (manager, "Update", apiVersion, subresource) for
updaters, so an Update by "python" and an Apply by "python" are distinct owners and conflict with each other.

A field path is a tuple of fieldsV1 keys: ``("f:spec", "f:template", "f:spec", "f:containers",
'k:{"name":"web"}', "f:image")``; ``v:<json>`` is a member of a set list (``finalizers``).

Behaviour checked on a real kube-apiserver (v1.36, see tests/parity/probes.py):

- an Apply owns what it applied (leaves and keyed list items; no ``"."`` on maps); an Update owns what it changed
  or added (a map, list or list item it added is owned too, written ``".": {}``); both take what they changed from
  every other entry, an Apply only with ``force`` (else 409 listing the conflicts);
- fields that disappear from the object leave every entry; entries left empty are dropped;
- an entry's ``time`` is set when its operation changed the object (an Apply that changes nothing keeps the old
  time, a new one has none); a write that changes nothing (managedFields included) does not bump resourceVersion;
- a write to the main resource that sets ``metadata.managedFields`` to a valid list replaces the ownership with it
  (how tools rename a manager); ``[]`` (or only empty entries) removes managedFields altogether; an invalid list
  is ignored (the live one is kept), as are managedFields given on create and on subresources;
- an Apply to an object without managedFields first records what exists as owned by ``before-first-apply``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
Path = tuple[str, ...]

_SKIP_META = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                        "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
                        "generateName"})
# List merge keys (k8s.io/api ``listMapKey`` tags); a default in brackets fills a missing key field.
_LIST_KEYS: dict[str, tuple[tuple[str, Any], ...]] = {
    "containers": (("name", None),), "initContainers": (("name", None),),
    "ephemeralContainers": (("name", None),), "env": (("name", None),), "volumes": (("name", None),),
    "imagePullSecrets": (("name", None),), "resourceClaims": (("name", None),), "webhooks": (("name", None),),
    "volumeMounts": (("mountPath", None),), "volumeDevices": (("devicePath", None),),
    "conditions": (("type", None),), "hostAliases": (("ip", None),), "ownerReferences": (("uid", None),),
    "topologySpreadConstraints": (("topologyKey", None), ("whenUnsatisfiable", None)),
}
_PORT_KEYS = {"containerPort": (("containerPort", None), ("protocol", "TCP")),
              "port": (("port", None), ("protocol", "TCP"))}
_SET_LISTS = frozenset({"finalizers"})
# Atomic values (LabelSelector, Service selector): owned as one leaf.
_ATOMIC = frozenset({"selector", "podSelector", "namespaceSelector", "labelSelector"})
# Go value structs of the built-in kinds: always present in the typed object, so an Update never "adds" them
# (upstream renders no ``"."`` for them).
_VALUE_STRUCTS = frozenset({"f:metadata", "f:spec", "f:status", "f:template", "f:strategy", "f:updateStrategy",
                            "f:resources", "f:jobTemplate"})
# Maps Go omits when empty (an emptied one is gone, not owned as ``{}``).
_MAPS = frozenset({"labels", "annotations", "data", "binaryData", "stringData", "nodeSelector", "matchLabels",
                   "limits", "requests", "hard"})
_NODE = ("<node>",)  # the value of a map / list / list item node (compared by presence only)
APPLY, UPDATE = "Apply", "Update"
BEFORE_FIRST_APPLY = "before-first-apply"


class FieldsError(ValueError):
    """A fieldsV1 document that is not one (unknown key prefix, not an object)."""


# --- fieldsV1 <-> paths -----------------------------------------------------------------------------------------

def to_fields_v1(paths: Iterable[Path]) -> Obj:
    """A set of paths as a fieldsV1 document (keys sorted; ``".": {}`` marks a member that has children)."""
    root: Obj = {}
    for path in paths:
        node = root
        for part in path:
            node = node.setdefault(part, {})
        node["."] = {}

    def tidy(node: Obj) -> Obj:
        if list(node) == ["."]:
            return {}
        return {k: ({} if k == "." else tidy(v)) for k, v in sorted(node.items())}

    return tidy(root)


def from_fields_v1(doc: Any, prefix: Path = ()) -> set[Path]:
    """The paths of a fieldsV1 document; raises FieldsError on what kube-apiserver cannot decode."""
    if not isinstance(doc, dict):
        raise FieldsError("fieldsV1 must be an object")
    out: set[Path] = set()
    for key, child in doc.items():
        if key == ".":
            if prefix:
                out.add(prefix)
            continue
        if not isinstance(key, str) or key[:2] not in ("f:", "k:", "v:", "i:"):
            raise FieldsError(f"unknown fieldsV1 key {key!r}")
        if key[0] in "kv":
            try:
                json.loads(key[2:])
            except ValueError as e:
                raise FieldsError(f"bad fieldsV1 key {key!r}") from e
        path = (*prefix, key)
        if not isinstance(child, dict):
            raise FieldsError("fieldsV1 values must be objects")
        if not child:
            out.add(path)
        else:
            out |= from_fields_v1(child, path)
    return out


def render(path: Path) -> str:
    """How a conflict names a path: ``.spec.template.spec.containers[name="web"].image``."""
    out = []
    for part in path:
        kind, rest = part[0], part[2:]
        if kind == "f":
            out.append(f".{rest}")
        elif kind == "k":
            keys = json.loads(rest)
            out.append("[" + ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in keys.items()) + "]")
        elif kind == "v":
            out.append(f"[={rest}]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)


# --- field sets of objects --------------------------------------------------------------------------------------

def _item_key(field_name: str, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    keys = _LIST_KEYS.get(field_name)
    if field_name == "ports":
        keys = _PORT_KEYS["containerPort"] if "containerPort" in item else _PORT_KEYS["port"]
    if keys is None:
        return None
    ident: Obj = {}
    for k, default in keys:
        if k in item:
            ident[k] = item[k]
        elif default is not None:
            ident[k] = default
        elif len(keys) == 1 or k == keys[0][0]:
            return None
    return "k:" + json.dumps(dict(sorted(ident.items())), separators=(",", ":"))


def _walk(value: Any, path: Path, name: str, out: dict[Path, Any], applied: bool) -> None:
    """Record ``value`` at ``path`` and below. ``applied``: the field set of an apply configuration (no map or
    list nodes), else every node (what an update compares)."""
    if not applied and not value and isinstance(value, list | dict) and (isinstance(value, list) or name in _MAPS):
        return  # omitted by Go when empty
    if isinstance(value, dict) and value and name not in _ATOMIC:
        if not applied and path and path[-1] not in _VALUE_STRUCTS:
            out[path] = _NODE
        for k, v in value.items():
            _walk(v, (*path, f"f:{k}"), k, out, applied)
        return
    if isinstance(value, list) and value:
        if name in _SET_LISTS and all(not isinstance(x, (dict, list)) for x in value):
            if not applied:
                out[path] = _NODE
            for x in value:
                out[(*path, "v:" + json.dumps(x, separators=(",", ":")))] = True
            return
        keys = [_item_key(name, x) for x in value]
        if all(keys) and len(set(keys)) == len(keys):
            if not applied:
                out[path] = _NODE
            for key, item in zip(keys, value, strict=True):
                assert key is not None
                ipath = (*path, key)
                out[ipath] = _NODE
                for k, v in item.items():
                    _walk(v, (*ipath, f"f:{k}"), k, out, applied)
            return
    out[path] = value


def field_values(obj: Obj | None, section: str, *, applied: bool = False) -> dict[Path, Any]:
    """Paths (with values) of an object's ``section``: "status" (the status subresource) or "" (the rest)."""
    out: dict[Path, Any] = {}
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if k in ("apiVersion", "kind") or (k == "status") != (section == "status"):
            continue
        if k == "metadata" and isinstance(v, dict):
            for mk, mv in v.items():
                if mk not in _SKIP_META:
                    _walk(mv, ("f:metadata", f"f:{mk}"), mk, out, applied)
            continue
        _walk(v, (f"f:{k}",), k, out, applied)
    return out


# --- entries ----------------------------------------------------------------------------------------------------

@dataclass
class Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    fields: set[Path] = field(default_factory=set)

    def ident(self) -> tuple[str, str, str, str]:
        """The identity kube-apiserver keys entries by (an applier's apiVersion is not part of it)."""
        return (self.manager, self.operation, "" if self.operation == APPLY else self.api_version, self.subresource)

    def label(self) -> str:
        """How a conflict message names the entry (``"kubectl" using apps/v1``)."""
        out = json.dumps(self.manager)
        if self.subresource:
            out += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            out += f" using {self.api_version}"
        return out

    def sort_key(self) -> str:
        """The manager identifier's JSON, which orders conflict messages upstream."""
        d: Obj = {"manager": self.manager, "operation": self.operation}
        if self.operation != APPLY:
            d["apiVersion"] = self.api_version
        if self.subresource:
            d["subresource"] = self.subresource
        return json.dumps(d, separators=(",", ":"))

    def encode(self) -> Obj:
        out: Obj = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def decode(entries: Any) -> list[Entry]:
    """A ``managedFields`` list; raises FieldsError when kube-apiserver would not decode it."""
    if not isinstance(entries, list):
        raise FieldsError("managedFields must be a list")
    out = []
    for e in entries:
        if not isinstance(e, dict):
            raise FieldsError("managedFields entries must be objects")
        if e.get("operation") not in (APPLY, UPDATE) or e.get("fieldsType") != "FieldsV1":
            raise FieldsError("bad operation or fieldsType")
        t = e.get("time")
        out.append(Entry(str(e.get("manager", "")), str(e["operation"]), str(e.get("apiVersion", "")),
                         str(e.get("subresource", "")), t if isinstance(t, str) else None,
                         from_fields_v1(e.get("fieldsV1") or {})))
    return out


def encode(entries: list[Entry]) -> list[Obj]:
    """Entries in kube-apiserver's order: Apply before Update, then by time, manager, apiVersion, subresource."""
    ordered = sorted(entries, key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.encode() for e in ordered]


def strip_times(entries: Any) -> Any:
    """managedFields without their times (a write that changes only those is a no-op)."""
    if not isinstance(entries, list):
        return entries
    return [{k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e for e in entries]


@dataclass
class Op:
    """One write's part in ownership."""

    manager: str
    operation: str  # Apply | Update
    api_version: str
    subresource: str = ""
    applied: Obj | None = None  # the apply configuration
    force: bool = False
    skip: frozenset[Path] = frozenset()  # fields the server sets after ownership is computed (allocations)


class Conflicts(Exception):
    """An apply would change fields other entries own."""

    def __init__(self, found: list[tuple[Entry, Path]]) -> None:
        super().__init__(f"{len(found)} conflict(s)")
        self.found = found


def _empty_reset(given: Any) -> bool:
    return isinstance(given, list) and all(e == {} for e in given)


class Ownership:
    """Computes the next ``managedFields`` of an object; parsed lists are cached per object version."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, list[Entry]]] = {}

    def forget(self, obj_key: str) -> None:
        self._cache.pop(obj_key, None)

    def entries(self, obj_key: str, obj: Obj | None) -> list[Entry]:
        """The live entries (copies) of a stored object."""
        if obj is None:
            return []
        meta = obj.get("metadata") or {}
        rv = str(meta.get("resourceVersion", ""))
        hit = self._cache.get(obj_key)
        if hit is None or hit[0] != rv or not rv:
            try:
                parsed = decode(meta.get("managedFields") or [])
            except FieldsError:
                parsed = []
            if rv:
                self._cache[obj_key] = (rv, parsed)
        else:
            parsed = hit[1]
        return [Entry(e.manager, e.operation, e.api_version, e.subresource, e.time, set(e.fields)) for e in parsed]

    def next(self, obj_key: str, old: Obj | None, new: Obj, op: Op, given: Any, now: str,
             conflicts: bool = True) -> list[Obj] | None:
        """The managedFields of ``new`` after ``op`` (None: the object has none). Raises Conflicts.

        ``given`` is what the request set in ``metadata.managedFields`` (None when unset).
        """
        base: list[Entry] | None = None
        if old is not None and op.operation == UPDATE and not op.subresource and given is not None:
            old_mf = (old.get("metadata") or {}).get("managedFields")
            if given != old_mf:
                if _empty_reset(given):
                    return None
                try:
                    base = decode(given)
                except FieldsError:
                    base = None
        if base is None:
            base = self.entries(obj_key, old)
        section = "status" if op.subresource == "status" else ""
        before = field_values(old, section)
        after = field_values(new, section)
        added = after.keys() - before.keys()
        removed = before.keys() - after.keys()
        modified = {p for p, v in after.items() if p in before and v is not _NODE and before[p] != v}
        changed = (added | modified) - op.skip
        object_changed = bool(changed or removed)
        mine_id = (op.manager, op.operation, "" if op.operation == APPLY else op.api_version, op.subresource)
        if op.operation == APPLY:
            if old is not None and not base:
                first = field_values(old, section)
                if first:
                    base = [Entry(BEFORE_FIRST_APPLY, UPDATE, op.api_version, op.subresource, now, set(first))]
            applied = set(field_values(op.applied, section, applied=True))
            found = [(e, p) for e in base if e.ident() != mine_id for p in sorted(e.fields & applied & changed)]
            if found and conflicts and not op.force:
                raise Conflicts(found)
            for e, p in found:
                e.fields.discard(p)
            mine = next((e for e in base if e.ident() == mine_id), None)
            if mine is None:
                mine = Entry(op.manager, APPLY, op.api_version, op.subresource)
                base.append(mine)
            mine.api_version = op.api_version
            mine.fields = applied
            if object_changed:
                mine.time = now
            for e in base:
                e.fields -= removed
        else:
            if old is not None and not base:
                return None  # an object nobody owns fields of stays so until an apply (as upstream)
            for e in base:
                e.fields -= changed
                e.fields -= removed
            if changed:
                mine = next((e for e in base if e.ident() == mine_id), None)
                if mine is None:
                    mine = Entry(op.manager, UPDATE, op.api_version, op.subresource)
                    base.append(mine)
                mine.fields |= changed
                mine.time = now
        kept = [e for e in base if e.fields]
        return encode(kept) if kept else None


def prunable(cfg: Any, allowed: set[Path], path: Path = (), name: str = "") -> Any:
    """An earlier apply configuration cut down to the fields ``allowed`` (what the applier's entry owns and no
    other entry does): kube-apiserver removes a field an applier stopped applying only then."""
    if isinstance(cfg, dict):
        out: Obj = {}
        for k, v in cfg.items():
            p = (*path, f"f:{k}")
            if isinstance(v, dict) and v and k not in _ATOMIC:
                sub = prunable(v, allowed, p, k)
                if sub:
                    out[k] = sub
            elif isinstance(v, list) and v and _item_key(k, v[0]) is not None:
                items = prunable(v, allowed, p, k)
                if items:
                    out[k] = items
            elif p in allowed:
                out[k] = v
        return out
    if isinstance(cfg, list):
        kept = []
        for item in cfg:
            key = _item_key(name, item)
            if key is None or (*path, key) not in allowed:
                continue
            kept.append(item)
        return kept
    return cfg


def conflict_message(found: list[tuple[Entry, Path]]) -> str:
    """kube-apiserver's message for apply conflicts."""
    if len(found) == 1:
        e, p = found[0]
        return f"Apply failed with 1 conflict: conflict with {e.label()}: {render(p)}"
    by: dict[str, tuple[Entry, list[Path]]] = {}
    for e, p in found:
        by.setdefault(e.sort_key(), (e, []))[1].append(p)
    lines = []
    for key in sorted(by):
        e, paths = by[key]
        lines.append(f"conflicts with {e.label()}:")
        lines.extend(f"- {render(p)}" for p in paths)
    return f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
