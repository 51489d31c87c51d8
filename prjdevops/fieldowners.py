"""Field ownership after server-side apply (pure): which earlier runs of Helm own the fields an upgrade conflicts on,
and the ``managedFields`` that hand them over to this run.

Helm v4 applies server-side and names its field manager after the program that runs it (the base name of the
process's ``argv[0]``: ``helm`` for the CLI, ``python3`` for ``.venv/bin/invoke``, ``python`` for ``python -m
invoke`` or a test process). A release deployed from one of them and upgraded from another conflicts on every field
the upgrade changes ("conflict with \\"python\\""), on kube-apiserver as on the sandbox, though both were Helm
deploying the same release. Fields held by such a Helm deployer are handed over to this run's manager (as Helm
itself migrates a client-side manager), then the upgrade runs again. A conflict with anyone else (``kubectl``,
a controller, an operator's edit) is a real conflict and stays one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The programs through which Helm itself applied a release: the Helm CLI, and Python running Helm's SDK (this tool
# from any entry point). Anything else is another actor whose fields are not ours to take.
HELM_DEPLOYERS = re.compile(r"^(helm|python[0-9.]*|pypy[0-9.]*|invoke|inv|pytest|prjdevops)$")
_OBJECT = re.compile(r"conflict occurred while applying object (?P<ns>[^\s/]*)/(?P<name>\S+) (?P<gv>\S*), "
                     r"Kind=(?P<kind>[A-Za-z0-9]+): Apply failed with \d+ conflicts?: (?P<rest>.*?)"
                     r"(?= && conflict occurred while applying object |$)", re.S)
_MANAGER = re.compile(r'conflicts? with "([^"]+)"')


@dataclass(frozen=True)
class ApplyConflict:
    namespace: str
    name: str
    api_version: str  # "v1", "apps/v1"
    kind: str
    managers: tuple[str, ...]


def parse_conflicts(text: str) -> list[ApplyConflict]:
    """The objects and managers of Helm's "conflict occurred while applying object …" errors."""
    out = []
    for m in _OBJECT.finditer(text or ""):
        gv = m["gv"].lstrip("/")  # Helm prints the core group as "/v1"
        managers = tuple(dict.fromkeys(_MANAGER.findall(m["rest"])))
        out.append(ApplyConflict(m["ns"], m["name"], gv, m["kind"], managers))
    return out


def helm_owned(conflicts: Sequence[ApplyConflict], me: str) -> bool:
    """True when there are conflicts and every one is with an earlier Helm deployer (never with this run itself:
    that would be no ownership question)."""
    return bool(conflicts) and all(c.managers and all(HELM_DEPLOYERS.match(m) and m != me for m in c.managers)
                                   for c in conflicts)


def field_manager(argv0: str) -> str:
    """The manager name Helm's Go client derives from the process's argv[0] (at most 128 bytes, as the API
    server accepts)."""
    return os.path.basename(argv0)[:128]


def _union(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = dict(a)
        for k, v in b.items():
            out[k] = _union(out[k], v) if k in out else v
        return out
    return a if a is not None else b


def handover(entries: Sequence[Mapping[str, Any]], managers: set[str], to: str) -> list[dict[str, Any]] | None:
    """``managedFields`` with the Apply entries of ``managers`` given to ``to`` (fields merged into an existing
    Apply entry of ``to`` for the same apiVersion and subresource); None when nothing changes."""
    out: list[dict[str, Any]] = [dict(e) for e in entries]
    moved = False
    for e in [e for e in out if e.get("operation") == "Apply" and e.get("manager") in managers]:
        mine = next((x for x in out if x is not e and x.get("manager") == to and x.get("operation") == "Apply"
                     and x.get("apiVersion") == e.get("apiVersion")
                     and x.get("subresource", "") == e.get("subresource", "")), None)
        if mine is not None:
            mine["fieldsV1"] = _union(mine.get("fieldsV1") or {}, e.get("fieldsV1") or {})
            out.remove(e)
        else:
            e["manager"] = to
        moved = True
    return out if moved else None
