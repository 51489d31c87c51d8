"""Invoke entry point: assembles the task collections of ``cli/`` (thin tasks over the ``prjdevops`` library).

Heavy libraries (Helm's native library, the Kubernetes client) are imported inside the tasks so
``invoke --list`` stays fast.
"""

from __future__ import annotations

from invoke import Collection

from cli import app, argocd, deploy, envs, libraries, nodes, sandbox, verify

ns = Collection()
# Also in invoke.yaml: one function registered in two namespaces must run each time it is named.
ns.configure({"tasks": {"dedupe": False}})
for coll in (sandbox.ns, envs.ns, app.stg, app.prod, libraries.ns, nodes.ns, argocd.ns):
    ns.add_collection(coll)
# a root-level task (no collection is named verify, so `invoke verify` is unambiguous)
ns.add_task(verify.verify, "verify")
ns.add_task(deploy.deploy, "deploy")  # the whole platform (no collection is named deploy)
