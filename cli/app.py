"""Tasks for the plate-web application: `stg.*` (fast iteration) and `prod.*` (guarded)."""

from __future__ import annotations

import json
import sys
from typing import Any

from invoke import Collection, Context, Exit, task

from cli.common import APP, as_list, errors, say, settings

# --- the application: staging and production ---------------------------------------------------------

_DEPLOY_HELP = {
    "env": "environment (default: staging for stg.*, production for prod.*)",
    "set": "override a value, key=value (repeatable; lists replace)",
    "values": "extra values file layered last (repeatable)",
    "timeout": "seconds to wait for the rollout (default: the release's timeout)",
    "no_wait": "return once Helm applied the change, without waiting for readiness",
    "dry_run": "render and diff against what is live; change nothing",
}


def _deploy(c: Context, env: str, set: list[str], values: list[str], timeout: int, no_wait: bool,
            dry_run: bool) -> None:
    from pathlib import Path

    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, values_files=[Path(v) for v in values], sets=set, report=say)
    with target:
        if dry_run:
            diffs = ops.diff(target, prep)
            say(f"dry run: {len(diffs)} object(s) would change in {APP} ({target.env.name}); nothing applied")
            for d in diffs:
                say(d.diff)
            return
        result = ops.deploy(target, prep, wait=not no_wait, timeout=timeout or None, report=say)
        for line in result.summary():
            say(line)


def _status(c: Context, env: str, as_json: bool, *, production: bool = False) -> None:
    from prjdevops.ops import production as prod_ops
    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target
    from prjdevops.output import age, table

    with open_target(settings(c), env) as target:
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
        say(line)
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
            say(line)
        say("")
        if st.backups:
            for line in table(["BACKUP", "REVISION", "TAKEN", "REASON"],
                              [[b["name"], b["revision"], b["taken_at"], b["reason"]] for b in st.backups]):
                say(line)
        else:
            say("no backups yet (they are taken before every production change; invoke prod.backup takes one now)")


def _diff(c: Context, env: str, set: list[str], values: list[str]) -> None:
    from pathlib import Path

    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, values_files=[Path(v) for v in values], sets=set, report=say)
    with target:
        diffs = ops.diff(target, prep)
    if not diffs:
        say(f"no changes: {APP} in {env} matches the repository")
        return
    say(f"{len(diffs)} object(s) would change:")
    for line in ops.diff_summary(diffs):
        say(line)
    for d in diffs:
        say(d.diff)
    raise Exit(code=2)


def _delete(c: Context, env: str, namespace: bool) -> None:
    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target

    with open_target(settings(c), env) as target:
        ops.delete(target, APP, delete_namespace=namespace, report=say)


@task(help=_DEPLOY_HELP, iterable=["set", "values"])
@errors
def stg_deploy(c: Context, env: str = "staging", set: Any = None, values: Any = None, timeout: int = 0,
               no_wait: bool = False, dry_run: bool = False) -> None:
    """Upgrade-or-install plate-web with staging values, wait for the rollout, print a summary."""
    _deploy(c, env, as_list(set), as_list(values), timeout, no_wait, dry_run)


@task(help={"env": "environment (default: staging)", "json": "machine-readable output"})
@errors
def stg_status(c: Context, env: str = "staging", json: bool = False) -> None:
    """Helm release status and tables of pods, services and ingresses of plate-web."""
    _status(c, env, json)


@task(help={"env": "environment (default: staging)", "set": "override a value, key=value (repeatable)",
            "values": "extra values file (repeatable)"}, iterable=["set", "values"])
@errors
def stg_diff(c: Context, env: str = "staging", set: Any = None, values: Any = None) -> None:
    """What an upgrade would change, per object (secrets redacted); exit 0 = nothing, 2 = changes."""
    _diff(c, env, as_list(set), as_list(values))


@task(help={"env": "environment (default: staging)", "namespace": "also delete the release's namespace"})
@errors
def stg_delete(c: Context, env: str = "staging", namespace: bool = False) -> None:
    """Uninstall plate-web (idempotent: deleting what is not there says so and exits 0)."""
    _delete(c, env, namespace)


@task(help={"env": "environment (default: production)", "json": "machine-readable output"})
@errors
def prod_status(c: Context, env: str = "production", json: bool = False) -> None:
    """Like stg.status, plus the Helm history and the newest backups of plate-web."""
    _status(c, env, json, production=True)


@task(help={"env": "environment (default: production)", "set": "override a value, key=value (repeatable)",
            "values": "extra values file (repeatable)"}, iterable=["set", "values"])
@errors
def prod_diff(c: Context, env: str = "production", set: Any = None, values: Any = None) -> None:
    """What a production upgrade would change, per object; exit 0 = nothing, 2 = changes."""
    _diff(c, env, as_list(set), as_list(values))


def _interaction(yes: bool) -> Any:
    from prjdevops.ops.production import Interaction

    return Interaction(yes=yes, is_tty=sys.stdin.isatty() and sys.stdout.isatty(), ask=input)


@task(help={**{k: v for k, v in _DEPLOY_HELP.items() if k != "no_wait"}, "env": "environment (default: production)",
            "yes": "confirm without the typed prompt (for CI)",
            "recover": "first roll a release stuck in pending-* back to its last deployed revision",
            "verify": "gate: run the verify suite's Kubernetes checks after the rollout; any failure rolls back"},
      iterable=["set", "values"])
@errors
def prod_deploy(c: Context, env: str = "production", set: Any = None, values: Any = None, timeout: int = 0,
                yes: bool = False, recover: bool = False, dry_run: bool = False, verify: bool = False) -> None:
    """Guarded deploy: cluster check, plan, confirmation, lock, backup, health gate, verified auto-rollback."""
    from pathlib import Path

    from prjdevops.ops import production, release
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, values_files=[Path(v) for v in as_list(values)],
                                sets=as_list(set), report=say)
    with target:
        if dry_run:
            production.preflight(target, prep)
            diffs = release.diff(target, prep)
            say(f"dry run: {len(diffs)} object(s) would change in {APP} ({target.env.name}); nothing applied")
            for d in diffs:
                say(d.diff)
            return
        from prjdevops.verify.runner import gate

        out = production.guarded_deploy(target, prep, io=_interaction(yes), report=say, recover_stuck=recover,
                                        timeout=timeout or None,
                                        gate=gate(environments_dir=settings(c).env_dir(), report=say) if verify
                                        else None)
    say(f"{out.release}: {out.action}, revision {out.revision}"
         + (f", backup {out.backup}" if out.backup else "") + f" ({out.seconds:.1f}s)")


@task(help={"env": "environment (default: production)", "yes": "confirm without the typed prompt",
            "revision": "revision to return to (default: the one before the current)"})
@errors
def prod_rollback(c: Context, revision: int = 0, env: str = "production", yes: bool = False) -> None:
    """Roll plate-web back to REVISION (default: the previous one); backup first; result verified."""
    from prjdevops.ops import production
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, report=say)
    with target:
        info = production.manual_rollback(target, prep, revision=revision or None, io=_interaction(yes),
                                          report=say)
    say(f"{APP}: now revision {info.revision} ({info.status})")


@task(help={"env": "environment (default: production)"})
@errors
def prod_backups(c: Context, env: str = "production") -> None:
    """List the backups of plate-web (newest last)."""
    from prjdevops import backup
    from prjdevops.ops.session import load
    from prjdevops.output import table

    e = load(settings(c), env)
    rows = [[b.name, b.revision, f"{b.chart}-{b.chart_version}", b.taken_at, b.reason]
            for b in backup.listing(e, e.release(APP))]
    if not rows:
        say(f"no backups of {APP} in {env} (folder {backup.release_dir(e, e.release(APP))})")
        return
    for line in table(["BACKUP", "REVISION", "CHART", "TAKEN", "REASON"], rows):
        say(line)


@task(help={"env": "environment (default: production)"})
@errors
def prod_backup(c: Context, env: str = "production") -> None:
    """Take a backup of plate-web now (values, manifest, chart metadata, history, checksums)."""
    from prjdevops.ops import production
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, report=say)
    with target:
        rec = production.take_backup(target, prep)
    say(f"backup of revision {rec.revision} written to {rec.path}")


@task(help={"backup": "backup name (see prod.backups)", "env": "environment (default: production)",
            "yes": "confirm without the typed prompt"})
@errors
def prod_restore(c: Context, backup: str, env: str = "production", yes: bool = False) -> None:
    """Re-apply a backup's values (checksums verified first), then show the diff left against it."""
    from prjdevops.ops import production
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, report=say)
    with target:
        left = production.restore(target, prep, backup, io=_interaction(yes),
                                  report=say)
    for d in left:
        say(d.diff)
    if left:
        raise Exit(code=2)



stg = Collection("stg")
stg.add_task(stg_deploy, "deploy")
stg.add_task(stg_status, "status")
stg.add_task(stg_diff, "diff")
stg.add_task(stg_delete, "delete")

prod = Collection("prod")
prod.add_task(prod_deploy, "deploy")
prod.add_task(prod_status, "status")
prod.add_task(prod_diff, "diff")
prod.add_task(prod_rollback, "rollback")
prod.add_task(prod_backup, "backup")
prod.add_task(prod_backups, "backups")
prod.add_task(prod_restore, "restore")
