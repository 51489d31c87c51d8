"""Invoke entry point: assembles the task collections of ``tasks/`` (thin tasks over the ``prjdevops`` library).

Heavy libraries (Helm's native library, the Kubernetes client) are imported inside the tasks so
``invoke --list`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Collection

# Why: Invoke imports this file as the module ``tasks``, and the task modules live in the folder ``tasks/`` beside
# it. The folder has no ``__init__.py`` (a package would shadow this file: Python prefers a package to a module of
# the same name, a module to a bare folder), and giving this module a ``__path__`` makes it the package of that
# folder, so ``tasks.stg`` & co. import as ordinary submodules.
__path__ = [str(Path(__file__).with_name("tasks"))]

from tasks import argocd, deploy, envs, libraries, nodes, prod, sandbox, stg, verify

ns = Collection()
# Also in invoke.yaml: one function registered in two namespaces must run each time it is named.
ns.configure({"tasks": {"dedupe": False}})
for coll in (sandbox.ns, envs.ns, stg.ns, prod.ns, libraries.ns, nodes.ns, argocd.ns):
    ns.add_collection(coll)
# root-level tasks (no collection is named verify or deploy, so `invoke verify` and `invoke deploy` are unambiguous)
ns.add_task(verify.verify, "verify")
ns.add_task(deploy.deploy, "deploy")


def _run_by_invoke() -> bool:
    """Invoke's own command (``invoke``/``inv``, or ``python -m invoke``) loaded this file, not a test."""
    import sys

    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name in ("invoke", "inv") or argv0.parts[-2:] == ("invoke", "__main__.py")


if _run_by_invoke():
    from tasks.common import install_signal_policy

    # Ctrl-C and SIGTERM anywhere after this point end with one line and 130/143, also between and after tasks
    install_signal_policy()
