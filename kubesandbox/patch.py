"""Patch semantics: JSON merge patch, strategic merge patch, JSON patch and a server-side-apply model."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


class PatchError(ValueError):
    """The patch cannot be applied (HTTP 422 or 400)."""


# Strategic-merge keys for the lists that matter in practice (from k8s.io/api struct tags).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ports": "containerPort",  # container ports; service ports are keyed by "port" (see below)
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "subsets": "",
    "webhooks": "name",  # Validating/MutatingWebhookConfiguration
}
# Lists of scalars that strategic merge treats as sets (merge, keep order, no duplicates).
SET_LISTS = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if field == "ports" and items and isinstance(items[0], dict) and "containerPort" not in items[0]:
        key = "port"
    return key or None


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch: like a merge patch, but keyed lists merge item by item."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        if patch.get("$patch") == "delete":
            return None
        result = copy.deepcopy(target) if isinstance(target, dict) else {}
        retain = patch.get("$retainKeys")
        for k, v in patch.items():
            if k.startswith("$"):
                continue
            if k.startswith("$setElementOrder/") or k.startswith("$deleteFromPrimitiveList/"):
                continue
            if v is None:
                result.pop(k, None)
            else:
                merged = strategic_merge(result.get(k), v, k)
                if merged is None:
                    result.pop(k, None)
                else:
                    result[k] = merged
        for k, v in patch.items():
            if k.startswith("$deleteFromPrimitiveList/") and isinstance(result.get(k.split("/", 1)[1]), list):
                name = k.split("/", 1)[1]
                result[name] = [x for x in result[name] if x not in v]
        if isinstance(retain, list):
            # e.g. kubectl switching a Deployment strategy to Recreate drops rollingUpdate
            result = {k: v for k, v in result.items() if k in retain}
        return result
    if isinstance(patch, list):
        if field in SET_LISTS and isinstance(target, list):
            return list(target) + [x for x in patch if x not in target]
        key = _merge_key(field, patch or (target if isinstance(target, list) else []))
        if key is None or not isinstance(target, list):
            return [strip_directives(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        result_list = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict):
                continue
            if item.get("$patch") == "replace":
                return [strip_directives(x) for x in patch if isinstance(x, dict) and "$patch" not in x]
            idx = next((i for i, t in enumerate(result_list)
                        if isinstance(t, dict) and t.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if idx is not None:
                    result_list.pop(idx)
            elif idx is None:
                result_list.append(strip_directives(item))
            else:
                result_list[idx] = strategic_merge(result_list[idx], item)
        # Without $setElementOrder, the merged list has the patch's items first, in the patch's order, then
        # the items only the server had (normalizeElementOrder; e.g. a sidecar added by a patch comes first).
        order = [item.get(key) for item in patch if isinstance(item, dict) and item.get("$patch") != "delete"]
        first = [next(t for t in result_list if isinstance(t, dict) and t.get(key) == k) for k in order
                 if any(isinstance(t, dict) and t.get(key) == k for t in result_list)]
        rest = [t for t in result_list if not (isinstance(t, dict) and t.get(key) in order)]
        return first + rest
    return copy.deepcopy(patch)


def strip_directives(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: strip_directives(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [strip_directives(x) for x in v]
    return v


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError) as e:
                raise PatchError(f"path segment {p!r} not found") from e
        elif isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"path segment {p!r} not found")
            cur = cur[p]
        else:
            raise PatchError(f"path segment {p!r} not found")
    return cur


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("each JSON patch operation needs 'op' and 'path'")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"test operation failed at {op['path']}")
            continue
        if kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, parts, value)
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError as e:
                raise PatchError(f"bad list index {last!r}") from e
            if not 0 <= i <= len(parent):
                raise PatchError(f"list index {i} out of range")
            parent.insert(i, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f"cannot add at {'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return None
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, ValueError, IndexError, TypeError) as e:
        raise PatchError(f"path {'/'.join(parts)} not found") from e
    return doc


def _prune(live: Any, old: Any, new: Any, field: str = "") -> Any:
    """Remove from ``live`` what the manager applied before (``old``) but no longer applies (``new``)."""
    if isinstance(live, dict) and isinstance(old, dict):
        new_d = new if isinstance(new, dict) else {}
        out = dict(live)
        for k, ov in old.items():
            if k not in out:
                continue
            if k not in new_d:
                out.pop(k)
            else:
                out[k] = _prune(out[k], ov, new_d[k], k)
        return out
    if isinstance(live, list) and isinstance(old, list):
        key = _merge_key(field, old)
        if key is None:
            return live
        new_l = new if isinstance(new, list) else []
        new_keys = {x.get(key) for x in new_l if isinstance(x, dict)}
        old_keys = {x.get(key) for x in old if isinstance(x, dict)}
        out_l = []
        for item in live:
            if not isinstance(item, dict):
                out_l.append(item)
                continue
            k = item.get(key)
            if k in old_keys and k not in new_keys:
                continue
            if k in old_keys:
                o = next(x for x in old if isinstance(x, dict) and x.get(key) == k)
                n = next(x for x in new_l if isinstance(x, dict) and x.get(key) == k)
                item = _prune(item, o, n)
            out_l.append(item)
        return out_l
    return live


def apply(live: Obj | None, applied: Obj, previous: Obj | None) -> Obj:
    """Server-side apply, modelled: fields the manager stopped applying are removed, the rest merged.

    Field ownership between several managers is not tracked (no apply conflicts are raised).
    """
    if live is None:
        fresh: Obj = strip_directives(copy.deepcopy(applied))
        return fresh
    base = _prune(live, previous, applied) if previous is not None else live
    merged: Obj = strategic_merge(base, applied)
    return merged
