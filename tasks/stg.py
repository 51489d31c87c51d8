"""`stg.*`: fast iteration on the plate-web application (deploy, status, diff, delete)."""

from __future__ import annotations

import json
from typing import Any

from invoke import Collection, Context, Exit, task

from tasks import colour
from tasks.common import APP, DIFF_HELP, WAIT_LOCK_HELP, as_list, errors, full_diff, interaction, note, say, settings

DEPLOY_HELP = {
    "env": "environment (default: staging for stg.*, production for prod.*)",
    "set": "override a value, key=value (repeatable; lists replace)",
    "values": "extra values file layered last (repeatable)",
    "timeout": "seconds to wait for the rollout (default: the release's timeout)",
    "no_wait": "return once Helm applied the change, without waiting for readiness",
    "allow_unknown_values": "pass on values keys the chart neither has in values.yaml nor allows in its schema "
                            "(refused by default as likely typos)",
    "dry_run": "the plan: Helm's server-side dry run diffed against the live release; change nothing (exit 0 = no "
               "change, 2 = changes)",
    "yes": "confirm without the typed prompt where the environment asks for one",
    "wait_lock": WAIT_LOCK_HELP,
    "diff": DIFF_HELP,
}


def _deploy(c: Context, env: str, set: list[str], values: list[str], timeout: int, no_wait: bool,
            dry_run: bool, yes: bool, wait_lock: int, allow_unknown_values: bool = False, full: bool = False) -> None:
    from pathlib import Path

    from prjdevops.ops import release as ops
    from prjdevops.ops.plan import plan_release
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, values_files=[Path(v) for v in values], sets=set, report=say,
                                allow_unknown=allow_unknown_values)
    with target:
        plan = plan_release(target, prep)
        if dry_run:
            from prjdevops.hooks import ordered

            env_, rel = target.env, prep.release
            show_hooks([h for e in ("prepare", "pre-deploy", "post-deploy", "on-failure")
                        for h in ordered(e, env_.hooks, rel.hooks, builtins=[] if no_wait else ["health"])])
            show_plan(plan, target.env.name, dry_run=True, full=full)
            return
        if not plan.changes:
            # nothing differs and Helm says deployed: no new revision, no hook runs
            say(f"no changes: {APP} in {target.env.name} is revision {plan.live.revision if plan.live else 0}, "
                "deployed; nothing to do")
            return
        result = ops.guarded_deploy(target, prep, io=interaction(yes, wait_lock), wait=not no_wait,
                                    timeout=timeout or None, report=say, plan=plan)
        for line in result.summary():
            say(line)


def show_hooks(hooks: list[Any]) -> None:
    """A dry run lists the hooks a deploy would run, in order, and runs none of them."""
    from prjdevops.hooks import plan_lines

    if hooks:
        say("hooks a deploy runs (a dry run runs none):")
        for line in plan_lines(hooks):
            say(line)


def show_plan(plan: Any, env: str, *, dry_run: bool, full: bool = False) -> None:
    """A release's plan as diff and dry run print it, summary first (objects per kind, changed fields), then the
    object diffs (capped unless ``full``); exit 0 = no change, 2 = changes, 1 = refused by the API server's dry
    run."""
    from prjdevops.summary import diff_lines

    if not plan.changes:
        say(f"no changes: {plan.name} in {env} matches the repository (revision "
            f"{plan.live.revision if plan.live else 0}, deployed)")
        return
    for line in plan.lines():
        say(line)
    for line in diff_lines(plan.diffs, full=full):
        say(colour.diff(line))
    if dry_run:
        say(f"dry run: {plan.summary()}; nothing applied")
    if plan.rejected:
        raise Exit(f"error: the API server's dry run refused {plan.name}: {plan.validation[len('failed: '):]}",
                   code=1)
    raise Exit(code=2)


def show_status(c: Context, env: str, as_json: bool, *, production: bool = False) -> None:
    from prjdevops.ops import production as prod_ops
    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target
    from prjdevops.output import age, table

    with open_target(settings(c), env, note) as target:
        st = prod_ops.status(target, APP) if production else ops.status(target, APP)
    if as_json:
        say(json.dumps(st.to_json(), indent=2))
        return
    if st.info is None:
        say(f"release {APP} is not deployed in namespace {st.namespace} of environment {env}")
        return
    i = st.info
    for line in table(["RELEASE", "NAMESPACE", "REVISION", "STATUS", "CHART", "APP VERSION", "UPDATED"],
                      [[i.name, i.namespace, i.revision, i.status, f"{i.chart}-{i.chart_version}", i.app_version,
                        i.updated]]):
        say(colour.statuses(line))
    say("")
    for line in table(["POD", "READY", "STATUS", "RESTARTS", "AGE", "REASON"],
                      [[p["name"], "yes" if p["ready"] else "no", p["phase"], p["restarts"], age(p["age_seconds"]),
                        p["reason"]] for p in st.pods]):
        say(line)
    say("")
    for line in table(["SERVICE", "TYPE", "CLUSTER-IP", "PORTS"],
                      [[s["name"], s["type"], s["cluster_ip"], s["ports"]] for s in st.services]):
        say(line)
    if st.ingresses:
        say("")
        for line in table(["INGRESS", "HOSTS", "TLS SECRETS"],
                          [[g["name"], ",".join(g["hosts"]), ",".join(g["tls_secrets"])] for g in st.ingresses]):
            say(line)
    if production:
        say("")
        for line in table(["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"],
                          [[h.revision, h.updated, h.status, f"{h.chart}-{h.chart_version}", h.app_version,
                            h.description] for h in st.history]):
            say(colour.statuses(line))
        say("")
        if st.backups:
            for line in table(["BACKUP", "REVISION", "TAKEN", "REASON"],
                              [[b["name"], b["revision"], b["taken_at"], b["reason"]] for b in st.backups]):
                say(line)
        else:
            say("no backups yet (they are taken before every production change; invoke prod.backup takes one now)")


def show_diff(c: Context, env: str, set: list[str], values: list[str], allow_unknown_values: bool = False,
              full: bool = False) -> None:
    from pathlib import Path

    from prjdevops.ops.plan import plan_release
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, values_files=[Path(v) for v in values], sets=set, report=say,
                                allow_unknown=allow_unknown_values)
    with target:
        plan = plan_release(target, prep)
    show_plan(plan, target.env.name, dry_run=False, full=full)


def _delete(c: Context, env: str, namespace: bool, yes: bool, wait_lock: int) -> None:
    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target

    with open_target(settings(c), env) as target:
        ops.guarded_delete(target, APP, io=interaction(yes, wait_lock), delete_namespace=namespace, report=say)


@task(help=DEPLOY_HELP, iterable=["set", "values"])
@errors
def stg_deploy(c: Context, env: str = "staging", set: Any = None, values: Any = None, timeout: int = 0,
               no_wait: bool = False, dry_run: bool = False, yes: bool = False, wait_lock: int = 0,
               allow_unknown_values: bool = False, diff: str = "") -> None:
    """Upgrade-or-install plate-web with staging values, wait for the rollout, print a summary."""
    _deploy(c, env, as_list(set), as_list(values), timeout, no_wait, dry_run, yes, wait_lock, allow_unknown_values,
            full_diff(diff))


@task(help={"env": "environment (default: staging)", "json": "machine-readable output"})
@errors
def stg_status(c: Context, env: str = "staging", json: bool = False) -> None:
    """Helm release status and tables of pods, services and ingresses of plate-web."""
    show_status(c, env, json)


@task(help={"env": "environment (default: staging)", "set": "override a value, key=value (repeatable)",
            "values": "extra values file (repeatable)", "allow_unknown_values": DEPLOY_HELP["allow_unknown_values"],
            "diff": DIFF_HELP},
      iterable=["set", "values"])
@errors
def stg_diff(c: Context, env: str = "staging", set: Any = None, values: Any = None,
             allow_unknown_values: bool = False, diff: str = "") -> None:
    """What an upgrade would change, per object (secrets redacted); exit 0 = nothing, 2 = changes."""
    show_diff(c, env, as_list(set), as_list(values), allow_unknown_values, full_diff(diff))


@task(help={"env": "environment (default: staging)", "namespace": "also delete the release's namespace",
            "yes": "confirm without the typed prompt where the environment asks for one",
            "wait_lock": WAIT_LOCK_HELP})
@errors
def stg_delete(c: Context, env: str = "staging", namespace: bool = False, yes: bool = False,
               wait_lock: int = 0) -> None:
    """Uninstall plate-web (idempotent: deleting what is not there says so and exits 0)."""
    _delete(c, env, namespace, yes, wait_lock)



ns = Collection("stg")
ns.add_task(stg_deploy, "deploy")
ns.add_task(stg_status, "status")
ns.add_task(stg_diff, "diff")
ns.add_task(stg_delete, "delete")
