"""`invoke nodes.*`: node checks and evidence over Fabric (SSH, host keys always checked)."""

from __future__ import annotations

from invoke import Collection, Context, Exit, task

from tasks.common import errors, say, settings

_HELP = {"env": "environment whose inventory lists the nodes (required)",
         "node": "only this node (host or host:port)"}


@task(help=_HELP)
@errors
def check(c: Context, env: str = "", node: str = "") -> None:
    """Run the node checks (services, swap off, ip_forward, ports) on every SSH node; exit 3 when one fails."""
    from prjdevops.ops import nodes
    from prjdevops.ops.session import load
    from prjdevops.output import table
    from prjdevops.verify.report import EXIT_FAILED

    if not env:
        raise Exit("error: name the environment: invoke nodes.check --env NAME", code=1)
    results = nodes.check(load(settings(c), env), only=node)
    for line in table(["NODE", "CHECK", "RESULT", "REASON"],
                      [[r.node, r.check, "passed" if r.ok else "failed", r.reason] for r in results]):
        say(line)
    if not all(r.ok for r in results):
        raise Exit(code=EXIT_FAILED)


@task(help={**_HELP, "out": "folder for the evidence (default: <backups>/<env>/_evidence/nodes-<UTC time>)"})
@errors
def diagnose(c: Context, env: str = "", node: str = "", out: str = "") -> None:
    """Collect the kubelet journal, disk and memory from every SSH node into the failure-evidence folder."""
    from pathlib import Path

    from prjdevops.ops import nodes
    from prjdevops.ops.session import load

    if not env:
        raise Exit("error: name the environment: invoke nodes.diagnose --env NAME", code=1)
    folder, gathered = nodes.diagnose(load(settings(c), env), only=node, out=Path(out) if out else None,
                                      report=say)
    say(f"evidence in {folder}")
    if any(e.error for e in gathered):
        raise Exit(code=1)


ns = Collection("nodes")
ns.add_task(check, "check")
ns.add_task(diagnose, "diagnose")
