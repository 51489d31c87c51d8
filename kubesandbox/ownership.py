"""Server-side-apply field ownership, modelled (opt-in: ``Sandbox(ssa_conflicts=True)``).

Each field manager owns a set of leaf paths of an object: an apply owns what it applied, an update
(create, PUT, merge/strategic/JSON patch, scale) takes the fields it changed. An apply without
``force=true`` that would change a field another manager owns is a 409 conflict, as on a real server
(e.g. ``kubectl scale`` then ``helm upgrade`` with another replica count).
"""

from __future__ import annotations

from typing import Any

from .patch import MERGE_KEYS

Obj = dict[str, Any]
Path = tuple[str, ...]
_SKIP_META = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                        "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
                        "generateName"})


def _key_of(field: str, item: Any) -> str | None:
    key = MERGE_KEYS.get(field)
    if field == "ports" and isinstance(item, dict) and "containerPort" not in item:
        key = "port"
    return key if key and isinstance(item, dict) and key in item else None


def leaves(obj: Any, path: Path = (), field: str = "") -> dict[Path, Any]:
    """Leaf paths of an object (keyed list items as ``[name=web]``) with their values."""
    out: dict[Path, Any] = {}
    if isinstance(obj, dict):
        if not obj and path:
            out[path] = {}
        for k, v in obj.items():
            if not path and k in ("apiVersion", "kind", "status"):
                continue
            if path == ("metadata",) and k in _SKIP_META:
                continue
            out.update(leaves(v, (*path, k), k))
        return out
    if isinstance(obj, list) and obj and all(_key_of(field, x) for x in obj):
        for item in obj:
            key = _key_of(field, item)
            assert key is not None
            ident = f"[{key}={item[key]}]"
            rest = {k: v for k, v in item.items() if k != key}
            sub = leaves(rest, (*path, ident), "")
            out.update(sub or {(*path, ident): {}})
        return out
    out[path] = obj
    return out


def render(path: Path) -> str:
    return "".join(p if p.startswith("[") else f".{p}" for p in path)


class Ownership:
    """Owned paths per object and manager."""

    def __init__(self) -> None:
        self._owned: dict[str, dict[str, set[Path]]] = {}

    def managers(self, obj_key: str) -> dict[str, set[Path]]:
        return self._owned.setdefault(obj_key, {})

    def forget(self, obj_key: str) -> None:
        self._owned.pop(obj_key, None)

    def conflicts(self, obj_key: str, manager: str, live: Obj, applied: Obj) -> list[tuple[str, Path]]:
        """(other manager, path) pairs whose owned value the apply would change."""
        mine = leaves(applied)
        have = leaves(live)
        out = []
        for other, paths in self.managers(obj_key).items():
            if other == manager:
                continue
            for p in sorted(paths & mine.keys()):
                if have.get(p) != mine[p]:
                    out.append((other, p))
        return out

    def applied(self, obj_key: str, manager: str, applied: Obj, taken: list[tuple[str, Path]]) -> None:
        """After an apply: the manager owns what it applied; forced conflicts move to it."""
        owners = self.managers(obj_key)
        for other, p in taken:
            owners.get(other, set()).discard(p)
        owners[manager] = set(leaves(applied))
        self._tidy(obj_key)

    def updated(self, obj_key: str, manager: str, old: Obj | None, new: Obj) -> None:
        """After an update: the manager takes every field it changed (from everyone else)."""
        before = leaves(old) if old is not None else {}
        changed = {p for p, v in leaves(new).items() if before.get(p, object()) != v}
        owners = self.managers(obj_key)
        for other, paths in owners.items():
            if other != manager:
                paths -= changed
        owners.setdefault(manager, set()).update(changed)
        self._tidy(obj_key)

    def _tidy(self, obj_key: str) -> None:
        owners = self._owned.get(obj_key, {})
        for m in [m for m, paths in owners.items() if not paths]:
            del owners[m]
