"""Layering rules, checked on the source (DESIGN.md §4):

    tasks/ (thin Invoke tasks)  >  prjdevops.ops (flows)  >  guards, backup, chartrepo, verify  >  adapters (all I/O)
    >  the pure core (model, values, dag, manifests, health, environments, argocd, errors, yamlio, output)

A module imports only from its own layer or below; only ``adapters/kube.py`` imports ``kubernetes`` and only
``adapters/helm.py`` imports Helm's SDK; the library never imports Invoke or the tasks; the sandbox (``kubesandbox``)
is a product of its own that imports nothing of the library, and the library starts it only in ``ops/session.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "prjdevops"
MODULES = sorted(LIBRARY.rglob("*.py"))
TASKS = [*sorted((ROOT / "tasks").glob("*.py")), ROOT / "tasks.py"]
SANDBOX = sorted((ROOT / "kubesandbox").rglob("*.py"))

CORE = {"errors", "model", "yamlio", "output", "summary", "fieldowners", "values", "dag", "manifests", "health",
        "environments", "argocd", "hooks"}
LAYERS = [  # lowest first: (name, module prefixes under prjdevops)
    ("core", CORE),
    ("adapters", {"adapters"}),
    ("services", {"guards", "backup", "chartrepo", "verify"}),
    # the verify suite's pytest plugin is an entry point (pytest loads it, as Invoke loads the tasks): it opens the
    # environment through the flows' session, so it sits with the flows
    ("ops", {"ops", "verify.plugin"}),
]
# Known upward imports, each with its reason; the test fails when one is gone (then delete it here).
ALLOWED_UPWARD = {
    ("values", "adapters.helm"): "layer() defaults its --set parser to Helm's (lazily); tests inject a pure one",
    ("verify.plan", "ops.release"): "the verify plan reads the cluster through the flows' Target binding",
}


def module_name(path: Path, base: Path = LIBRARY) -> str:
    rel = path.relative_to(base).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def rank(name: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    if best is not None:
        return best[0]
    for i, (_, prefixes) in enumerate(LAYERS):
        if name.split(".")[0] in prefixes:
            return i
    raise AssertionError(f"prjdevops.{name} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _imports(path: Path) -> set[str]:
    """Every module imported (absolute), also inside functions; ``from pkg import mod`` yields ``pkg.mod``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _tops(path: Path) -> set[str]:
    return {n.split(".")[0] for n in _imports(path)}


def _library_deps(path: Path) -> set[str]:
    """The library modules ``path`` imports, as names under prjdevops (``ops.release``, ``adapters.kube``)."""
    known = {module_name(m) for m in MODULES}
    out = set()
    for n in _imports(path):
        if n.startswith("prjdevops."):
            name = n.removeprefix("prjdevops.")
            if name in known:
                out.add(name)
    return out


def test_library_is_not_empty() -> None:
    assert len(MODULES) > 20 and len(TASKS) >= 10 and len(SANDBOX) > 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_no_import_runs_upward(path: Path) -> None:
    me = module_name(path)
    if me == "":
        return
    for dep in _library_deps(path):
        if dep.split(".")[0] in {"ops", "adapters", "verify"} and dep in {"ops", "adapters", "verify"}:
            continue
        if rank(dep) > rank(me) and (me, dep) not in ALLOWED_UPWARD:
            pytest.fail(f"prjdevops.{me} ({LAYERS[rank(me)][0]}) imports prjdevops.{dep} ({LAYERS[rank(dep)][0]}),"
                        " a higher layer")


@pytest.mark.parametrize(("low", "high"), sorted(ALLOWED_UPWARD))
def test_each_allowed_upward_import_still_exists(low: str, high: str) -> None:
    path = LIBRARY / (low.replace(".", "/") + ".py")
    assert high in _library_deps(path), f"prjdevops.{low} no longer imports {high}: drop it from ALLOWED_UPWARD"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_third_party_clients_only_in_their_adapter(path: Path) -> None:
    tops = _tops(path)
    assert not (tops & {"invoke", "tasks"})
    assert ("fabric" in tops) == (path == LIBRARY / "adapters" / "ssh.py")
    assert ("kubernetes" in tops) == (path == LIBRARY / "adapters" / "kube.py")
    assert ("helm_python" in tops) == (path == LIBRARY / "adapters" / "helm.py")
    if "kubesandbox" in tops:
        assert path == LIBRARY / "ops" / "session.py", "only --env local starts the sandbox"


@pytest.mark.parametrize("path", SANDBOX, ids=lambda p: str(p.relative_to(ROOT)))
def test_sandbox_imports_nothing_of_the_library(path: Path) -> None:
    assert not (_tops(path) & {"prjdevops", "tasks", "invoke", "helm_python"}), path


@pytest.mark.parametrize("path", TASKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_tasks_reach_clusters_only_through_the_library(path: Path) -> None:
    assert not (_tops(path) & {"kubernetes", "helm_python", "kubesandbox"}), path
