"""Release ordering as a DAG (pure): validation, groups (like ``helmfile show-dag``) and selection.

A release *needs* other releases: it starts only once every one of them is deployed and healthy. Groups are
the topological levels: group 1 needs nothing, group N needs something in group N-1. Execution does not wait
for whole groups (a release starts as soon as its own needs are met); the groups are how a plan is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prjdevops.errors import ConfigError


class DagError(ConfigError):
    """The releases cannot be ordered: unknown needs, cycles, or a selection naming unknown releases."""


@dataclass(frozen=True)
class Node:
    """One release as the DAG sees it."""

    name: str
    needs: tuple[str, ...] = ()
    tier: int = 1
    enabled: bool = True


@dataclass(frozen=True)
class Dag:
    """The ordered selection.

    ``needs`` holds the edges inside the selection; ``external`` the needs left outside it (by ``--only`` or
    ``--tier``): they are not deployed by this run and must already be deployed. ``ignored`` lists needs on
    disabled releases, which an environment switched off on purpose.
    """

    groups: tuple[tuple[str, ...], ...]
    needs: Mapping[str, tuple[str, ...]]
    external: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ignored: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(name for group in self.groups for name in group)

    def dependants(self, name: str) -> tuple[str, ...]:
        """Releases of the selection that need ``name``, directly or through others (in order)."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for other, needs in self.needs.items():
                if current in needs and other not in found:
                    found.add(other)
                    frontier.append(other)
        return tuple(n for n in self.order if n in found)

    def reversed_groups(self) -> tuple[tuple[str, ...], ...]:
        """Groups for removal: dependants before what they need."""
        return tuple(reversed(self.groups))


def find_cycles(needs: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first walk, each spelled from its smallest name, e.g.
    ``[["a", "b", "a"]]``. Needs naming unknown releases are ignored here (reported separately)."""
    graph = {n: sorted(set(d) & set(needs)) for n, d in needs.items()}
    cycles: list[list[str]] = []
    seen_keys: set[tuple[str, ...]] = set()
    state: dict[str, int] = {}  # 0/absent: new, 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):]
                start = loop.index(min(loop))
                loop = loop[start:] + loop[:start]
                if tuple(loop) not in seen_keys:
                    seen_keys.add(tuple(loop))
                    cycles.append([*loop, loop[0]])
            elif state.get(nxt) is None:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)
    return cycles


def transitive_needs(name: str, needs: Mapping[str, Iterable[str]]) -> set[str]:
    """Everything ``name`` needs, directly or through other releases."""
    seen: set[str] = set()
    stack = list(needs.get(name, ()))
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(needs.get(n, ()))
    return seen


def cycle_text(cycle: Sequence[str]) -> str:
    """``a -> b -> a``: how a cycle is spelled in errors."""
    return " -> ".join(cycle)


def problems(nodes: Sequence[Node]) -> list[str]:
    """Everything that stops the releases from being ordered, each as one sentence."""
    out: list[str] = []
    names = [n.name for n in nodes]
    known = set(names)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"release {dup!r} is declared twice")
    by_name = {n.name: n for n in nodes}
    for node in nodes:
        for need in node.needs:
            if need == node.name:
                out.append(f"release {node.name!r} needs itself")
            elif need not in known:
                out.append(f"release {node.name!r} needs unknown release {need!r}"
                           f" (known: {', '.join(sorted(known - {node.name})) or 'none'})")
            elif by_name[need].tier > node.tier:
                out.append(f"release {node.name!r} (tier {node.tier}) needs {need!r} of a later tier"
                           f" ({by_name[need].tier}): a release may only need its own or earlier tiers")
    graph = {n.name: [d for d in n.needs if d != n.name] for n in nodes}
    out.extend(f"dependency cycle: {cycle_text(c)}" for c in find_cycles(graph))
    return out


def check(nodes: Sequence[Node]) -> None:
    """Raise :class:`DagError` listing every problem (before anything runs)."""
    found = problems(nodes)
    if found:
        count = len(found)
        raise DagError(f"releases cannot be ordered ({count} problem{'s' * (count > 1)}): " + "; ".join(found))


def _levels(needs: Mapping[str, tuple[str, ...]], order_hint: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Kahn's algorithm by levels; inside a group, the declaration order is kept (stable output)."""
    position = {name: i for i, name in enumerate(order_hint)}
    level: dict[str, int] = {}
    remaining = dict(needs)
    while remaining:
        ready = [n for n, deps in remaining.items() if all(d in level for d in deps)]
        if not ready:  # check() reports cycles first; this guards direct callers
            raise DagError("dependency cycle among: " + ", ".join(sorted(remaining)))
        for n in ready:
            level[n] = 1 + max((level[d] for d in remaining[n]), default=0)
            del remaining[n]
    count = max(level.values(), default=0)
    return tuple(tuple(sorted((n for n, lv in level.items() if lv == i), key=lambda n: position[n]))
                 for i in range(1, count + 1))


def build(nodes: Sequence[Node], *, only: Iterable[str] = (), tier: int | None = None) -> Dag:
    """Validate every node, then order the selection.

    ``only`` (release names) and ``tier`` narrow the selection; both may be combined. Disabled releases are
    never selected; a selection naming one, or naming an unknown release, is an error.
    """
    check(nodes)
    by_name = {n.name: n for n in nodes}
    wanted = [w for w in dict.fromkeys(only) if w]
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise DagError(f"--only names unknown release(s): {', '.join(unknown)}"
                       f" (known: {', '.join(n.name for n in nodes)})")
    disabled = [w for w in wanted if not by_name[w].enabled]
    if disabled:
        raise DagError(f"--only names release(s) disabled in this environment: {', '.join(disabled)}")
    selected = [n for n in nodes if n.enabled and (not wanted or n.name in wanted)
                and (tier is None or n.tier == tier)]
    if tier is not None and not selected:
        tiers = sorted({n.tier for n in nodes if n.enabled})
        raise DagError(f"no enabled release in tier {tier} (tiers: {', '.join(map(str, tiers)) or 'none'})")
    chosen = {n.name for n in selected}
    needs: dict[str, tuple[str, ...]] = {}
    external: dict[str, tuple[str, ...]] = {}
    ignored: dict[str, tuple[str, ...]] = {}
    for n in selected:
        needs[n.name] = tuple(d for d in n.needs if d in chosen)
        ext = tuple(d for d in n.needs if d not in chosen and by_name[d].enabled)
        off = tuple(d for d in n.needs if not by_name[d].enabled)
        if ext:
            external[n.name] = ext
        if off:
            ignored[n.name] = off
    return Dag(groups=_levels(needs, [n.name for n in nodes]), needs=needs, external=external, ignored=ignored)
