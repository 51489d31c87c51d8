"""`prod.*`: the guarded production flow for plate-web (deploy, rollback, backups, restore, status, diff)."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, Exit, task

from tasks import colour
from tasks.common import APP, WAIT_LOCK_HELP, as_list, errors, full_diff, interaction, say, settings
from tasks.stg import DEPLOY_HELP, show_diff, show_hooks, show_plan, show_status


@task(help={"env": "environment (default: production)", "json": "machine-readable output"})
@errors
def prod_status(c: Context, env: str = "production", json: bool = False) -> None:
    """Like stg.status, plus the Helm history and the newest backups of plate-web."""
    show_status(c, env, json, production=True)


@task(help={"env": "environment (default: production)", "set": "override a value, key=value (repeatable)",
            "values": "extra values file (repeatable)", "allow_unknown_values": DEPLOY_HELP["allow_unknown_values"],
            "diff": DEPLOY_HELP["diff"]},
      iterable=["set", "values"])
@errors
def prod_diff(c: Context, env: str = "production", set: Any = None, values: Any = None,
              allow_unknown_values: bool = False, diff: str = "") -> None:
    """What a production upgrade would change, per object; exit 0 = nothing, 2 = changes."""
    show_diff(c, env, as_list(set), as_list(values), allow_unknown_values, full_diff(diff))


@task(help={**{k: v for k, v in DEPLOY_HELP.items() if k != "no_wait"}, "env": "environment (default: production)",
            "yes": "confirm without the typed prompt (for CI)",
            "recover": "first roll a release stuck in pending-* back to its last deployed revision",
            "verify": "gate: run the verify suite's Kubernetes checks after the rollout; any failure rolls back",
            "wait_lock": WAIT_LOCK_HELP,
            "skip_backup": "deploy without the backup first (asks for the typed yes even with --yes)"},
      iterable=["set", "values"])
@errors
def prod_deploy(c: Context, env: str = "production", set: Any = None, values: Any = None, timeout: int = 0,
                yes: bool = False, recover: bool = False, dry_run: bool = False, verify: bool = False,
                wait_lock: int = 0, skip_backup: bool = False, allow_unknown_values: bool = False,
                diff: str = "") -> None:
    """Guarded deploy: cluster check, plan, confirmation, lock, backup, health gate, verified auto-rollback."""
    from pathlib import Path

    from prjdevops.ops import production
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, values_files=[Path(v) for v in as_list(values)],
                                sets=as_list(set), report=say, allow_unknown=allow_unknown_values)
    with target:
        if dry_run:
            from prjdevops.ops.plan import plan_release

            production.preflight(target, prep)
            hooks = production.deploy_hooks(target.env, prep.release, gate=verify,
                                            backup=target.env.backup.enabled and not skip_backup)
            show_hooks([h for event in hooks.values() for h in event])
            show_plan(plan_release(target, prep), target.env.name, dry_run=True, full=full_diff(diff))
            return
        from prjdevops.verify.runner import gate

        out = production.guarded_deploy(target, prep, io=interaction(yes, wait_lock), report=say,
                                        recover_stuck=recover, timeout=timeout or None, skip_backup=skip_backup,
                                        gate=gate(environments_dir=settings(c).env_dir(), report=say) if verify
                                        else None)
    say(f"{out.release}: {out.action}, revision {out.revision}"
         + (f", backup {out.backup}" if out.backup else "") + f" ({out.seconds:.1f}s)")


@task(help={"env": "environment (default: production)", "yes": "confirm without the typed prompt",
            "revision": "revision to return to (default: the one before the current)", "wait_lock": WAIT_LOCK_HELP})
@errors
def prod_rollback(c: Context, revision: int = 0, env: str = "production", yes: bool = False,
                  wait_lock: int = 0) -> None:
    """Roll plate-web back to REVISION (default: the previous one); backup first; result verified."""
    from prjdevops.ops import production
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, report=say)
    with target:
        info = production.manual_rollback(target, prep, revision=revision or None, io=interaction(yes, wait_lock),
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
            "yes": "confirm without the typed prompt", "wait_lock": WAIT_LOCK_HELP})
@errors
def prod_restore(c: Context, backup: str = "", env: str = "production", yes: bool = False,
                 wait_lock: int = 0) -> None:
    """Re-apply a backup's values (checksums verified first), then show the diff left against it."""
    if not backup:
        raise Exit(f"error: prod.restore needs the backup to restore: --backup NAME (invoke prod.backups --env {env} "
                   "lists them)", code=1)
    from prjdevops.ops import production
    from prjdevops.ops.session import open_release

    target, prep = open_release(settings(c), env, APP, report=say)
    with target:
        left = production.restore(target, prep, backup, io=interaction(yes, wait_lock),
                                  report=say)
    for d in left:
        say(colour.diff(d.diff))
    if left:
        raise Exit(code=2)


ns = Collection("prod")
ns.add_task(prod_deploy, "deploy")
ns.add_task(prod_status, "status")
ns.add_task(prod_diff, "diff")
ns.add_task(prod_rollback, "rollback")
ns.add_task(prod_backup, "backup")
ns.add_task(prod_backups, "backups")
ns.add_task(prod_restore, "restore")
