"""What a change does, summary first (pure): objects added/changed/removed per kind, the fields that change, object
diffs capped to a readable length, and the description the tool writes into Helm's revision.

A first install of a real chart is 50-150 objects; listing each before anything happens buries the one line that
matters. So every plan starts with the counts per kind, shows the changed fields of each changed object (what the
production prompt asks about), and prints object diffs only for changes, each capped (``full=True`` for all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prjdevops.manifests import ObjectDiff, key_text
from prjdevops.output import table

ACTIONS = ("add", "change", "remove")
DIFF_LINES = 40  # per changed object, unless full
DIFF_OBJECTS = 20  # changed objects whose diff is shown, unless full
FIELDS_PER_OBJECT = 6
DESCRIPTION_MAX = 180


def kind_counts(diffs: Iterable[ObjectDiff]) -> list[tuple[str, int, int, int]]:
    """(kind, added, changed, removed) per kind, by kind name."""
    counts: dict[str, list[int]] = {}
    for d in diffs:
        counts.setdefault(d.key[0], [0, 0, 0])[ACTIONS.index(d.action)] += 1
    return [(kind, *c) for kind, c in sorted(counts.items())]  # type: ignore[misc]


def totals(diffs: Iterable[ObjectDiff]) -> tuple[int, int, int]:
    """(added, changed, removed) over all objects."""
    rows = kind_counts(diffs)
    return sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows)


def counts_text(diffs: Sequence[ObjectDiff]) -> str:
    """``2 changed, 1 added`` (what is non-zero, changes first), or ``no object changes``."""
    add, change, remove = totals(diffs)
    parts = [f"{n} {word}" for n, word in ((change, "changed"), (add, "added"), (remove, "removed")) if n]
    return ", ".join(parts) or "no object changes"


def kind_table(diffs: Sequence[ObjectDiff], *, indent: str = "  ") -> list[str]:
    """The counts per kind as a table (empty when nothing differs)."""
    rows = [(kind, a or "", c or "", r or "") for kind, a, c, r in kind_counts(diffs)]
    return table(["KIND", "ADD", "CHANGE", "REMOVE"], rows, indent=indent) if rows else []


def field_lines(diffs: Sequence[ObjectDiff], *, indent: str = "  ", per_object: int = FIELDS_PER_OBJECT) -> list[str]:
    """Each changed object with the fields that change (old -> new for short values); added and removed objects
    only as counts (they are in the kind table)."""
    out: list[str] = []
    for d in diffs:
        if d.action != "change":
            continue
        out.append(f"{indent}~ {key_text(d.key)}")
        shown = d.fields[:per_object]
        out.extend(f"{indent}    {f}" for f in shown)
        if len(d.fields) > len(shown):
            out.append(f"{indent}    … {len(d.fields) - len(shown)} more field(s)")
    return out


def diff_lines(diffs: Sequence[ObjectDiff], *, full: bool = False, max_lines: int = DIFF_LINES,
               max_objects: int = DIFF_OBJECTS) -> list[str]:
    """Unified diffs of the changed objects (all objects, uncapped, with ``full``), each capped with a line
    saying how much was left out and how to see it."""
    out: list[str] = []
    changed = [d for d in diffs if full or d.action == "change"]
    for i, d in enumerate(changed):
        if not full and i >= max_objects:
            out.append(f"… diffs of {len(changed) - i} more changed object(s) not shown (--diff full shows all)")
            break
        lines = d.diff.rstrip("\n").splitlines()
        if not full and len(lines) > max_lines:
            out.extend(lines[:max_lines])
            out.append(f"… {len(lines) - max_lines} more line(s) of {key_text(d.key)} (--diff full shows all)")
        else:
            out.extend(lines)
    return out


@dataclass(frozen=True)
class Revision:
    """What the tool says about a revision it writes (Helm's DESCRIPTION, shown by ``helm history``)."""

    verb: str  # deploy | rollback | restore | libraries deploy
    who: str  # USER@HOST
    run_id: str
    counts: str = ""  # counts_text of the change
    images: tuple[tuple[str, str], ...] = ()  # (from, to) of images that change


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")


def container_images(objects: Iterable[Mapping[str, object]]) -> dict[str, str]:
    """``Kind/name/container`` -> image of every workload's containers (init containers too)."""
    out: dict[str, str] = {}
    for obj in objects:
        kind = str(obj.get("kind"))
        if kind not in WORKLOADS:
            continue
        spec: object = obj.get("spec") or {}
        if kind == "CronJob":
            spec = _get(_get(spec, "jobTemplate"), "spec")
        pod = spec if kind == "Pod" else _get(_get(spec, "template"), "spec")
        name = _get(obj.get("metadata"), "name")
        for field in ("initContainers", "containers"):
            items = _get(pod, field)
            for c in items if isinstance(items, list) else []:
                image = _get(c, "image")
                if image:
                    out[f"{kind}/{name}/{_get(c, 'name')}"] = str(image)
    return out


def _get(value: object, key: str) -> object:
    return value.get(key) if isinstance(value, Mapping) else None


def image_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(old, new) image references per container whose image changes (``before``/``after``: container -> image);
    a shared repository is shortened to its tags (``1.4.2→1.4.3``)."""
    out = []
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        if old != new:
            out.append((old, new))
    return tuple(dict.fromkeys(out))


def _short(old: str, new: str) -> str:
    repo_old, _, tag_old = old.rpartition(":")
    repo_new, _, tag_new = new.rpartition(":")
    if repo_old and repo_old == repo_new and "/" not in tag_old:
        return f"{repo_old.rsplit('/', 1)[-1]} {tag_old}→{tag_new}"
    return f"{old}→{new}"


def description(r: Revision) -> str:
    """``prjdevops deploy by alice@host, run 20261202T…-ab12cd: 2 changed, image plate-web 1.4.2→1.4.3``
    (capped: Helm stores it with the release and ``helm history`` shows it in one column)."""
    text = f"prjdevops {r.verb} by {r.who}, run {r.run_id}"
    details = [r.counts] if r.counts else []
    details += [f"image {_short(a, b)}" for a, b in r.images]
    if details:
        text += ": " + ", ".join(details)
    return text if len(text) <= DESCRIPTION_MAX else text[:DESCRIPTION_MAX - 1] + "…"
