"""Tasks for the Argo CD App-of-Apps under environments/argocd/: render, validate, bootstrap, status, wait, sync,
and the GitOps rollback (git revert + push)."""

from __future__ import annotations

import json as _json
import sys
from typing import Any

from invoke import Collection, Context, task

from tasks.common import WAIT_LOCK_HELP, errors, interaction, say, settings

_ENV = "environment (default: staging)"


def _open(c: Context, env: str, *, gitops_env: bool = False) -> tuple[Any, Any]:
    """The environment's cluster and the Argo CD settings; ``gitops_env``: ENV must be one Argo CD runs (checked
    before any cluster is touched or the sandbox started)."""
    from prjdevops.ops import gitops
    from prjdevops.ops.session import open_target

    s = settings(c)
    argo = gitops.settings_for(s.env_dir())
    if gitops_env:
        argo.revision(env)
    return open_target(s, env, report=say), argo


@task()
@errors
def render(c: Context) -> None:
    """Write the Application manifests of environments/argocd/ from the environment files (commit them)."""
    from prjdevops.ops import gitops

    changed = gitops.write_files(settings(c).env_dir())
    for path in changed:
        say(f"wrote {path}")
    say(f"{len(changed)} file(s) changed" if changed else "environments/argocd is up to date")


@task()
@errors
def validate(c: Context) -> None:
    """Offline check: no drift from the environments, paths/charts render through Helm, names, namespaces, waves."""
    from prjdevops.errors import ArgoCDError
    from prjdevops.ops import gitops

    report = gitops.validate(settings(c).env_dir())
    for line in report.skipped:
        say(f"skipped: {line}")
    for d in report.drifted:
        if d.diff:
            print(d.diff, file=sys.stderr)
    for line in report.problems:
        print(f"problem: {line}", file=sys.stderr)
    if not report.ok:
        raise ArgoCDError(f"argocd.validate found {len(report.problems)} problem(s), listed above")
    say(f"ok: {len(report.rendered)} Application(s) rendered through Helm, {len(report.skipped)} skipped")


@task(help={"env": "environment to bootstrap (required)", "yes": "confirm without the typed prompt",
            "wait_lock": WAIT_LOCK_HELP})
@errors
def bootstrap(c: Context, env: str = "", yes: bool = False, wait_lock: int = 0) -> None:
    """Server-side apply the root Application (with its AppProject and health check) into argocd of ENV."""
    from prjdevops.errors import ConfigError
    from prjdevops.ops import gitops

    if not env:
        raise ConfigError("argocd.bootstrap needs --env NAME (the environment whose cluster runs Argo CD)")
    target, argo = _open(c, env, gitops_env=True)
    with target:
        gitops.bootstrap(target.kube, target.env, argo, io=interaction(yes, wait_lock), report=say)
    say(f"bootstrapped {argo.root} in {env}; follow it with: invoke argocd.status --env {env}")


@task(help={"app": "one Application, with its resources (default: all, like argocd app list)", "env": _ENV,
            "json": "machine-readable output"})
@errors
def status(c: Context, app: str = "", env: str = "staging", json: bool = False) -> None:
    """Sync status, health, revision and last operation of every Application (or of --app, with its resources)."""
    _status(c, app, env, json)


@task(help={"app": "the Application", "env": _ENV, "json": "machine-readable output"})
@errors
def get(c: Context, app: str, env: str = "staging", json: bool = False) -> None:
    """One Application like argocd app get: sync to revision, health, last operation, resources, out of sync."""
    _status(c, app, env, json)


def _status(c: Context, app: str, env: str, json: bool) -> None:
    from prjdevops.ops import gitops
    from prjdevops.output import table

    target, argo = _open(c, env)
    with target:
        apps = [gitops.status(target.kube, argo, app)] if app else gitops.list_apps(target.kube, argo)
    if json:
        say(_json.dumps([a.to_json() for a in apps] if not app else apps[0].to_json(), indent=2))
        return
    if not app:
        for line in table(["NAME", "WAVE", "NAMESPACE", "PROJECT", "SYNC", "HEALTH", "REVISION", "LAST OP"],
                          gitops.summary_rows(apps)):
            say(line)
        return
    a = apps[0]
    for key, value in [("Name", a.name), ("Project", a.project), ("Server", a.destination),
                       ("Namespace", a.namespace), ("Repo", a.repo), ("Target", a.target_revision),
                       ("Path", a.path), ("Sync Wave", a.wave), ("Sync Policy", "Automated" if a.automated else
                                                                 "Manual"),
                       ("Sync Status", f"{a.sync} to {a.revision or '-'}"),
                       ("Health Status", a.health + (f" ({a.health_message})" if a.health_message else "")),
                       ("Operation", f"{a.phase or '-'}" + (f": {a.operation_message}" if a.operation_message
                                                            else "") + (" (requested)" if a.operation_requested
                                                                        else "")),
                       ("Finished", a.finished_at or "-")]:
        say(f"{key + ':':<15}{value}")
    for cond in a.conditions:
        say(f"Condition:     {cond}")
    if a.resources:
        say("")
        for line in table(["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"],
                          [[r.group, r.kind, r.namespace, r.name, r.status, r.health, r.message]
                           for r in a.resources]):
            say(line)
    if a.out_of_sync:
        say("")
        say("out of sync: " + ", ".join(f"{r.kind}/{r.name}" for r in a.out_of_sync))


@task(help={"app": "the Application", "env": _ENV, "health": "wait for Healthy", "sync": "wait for Synced",
            "timeout": "seconds (default 300)"})
@errors
def wait(c: Context, app: str, env: str = "staging", health: bool = False, sync: bool = False,
         timeout: int = 300) -> None:
    """Wait until APP is Healthy and/or Synced (both when neither flag is given), showing progress."""
    from prjdevops.ops import gitops

    both = not health and not sync
    target, argo = _open(c, env)
    with target:
        st = gitops.wait(target.kube, argo, app, health=health or both, sync=sync or both, timeout=timeout,
                         report=say)
    say(f"{app}: {st.sync}, {st.health} at {st.revision[:12] or '-'}")


@task(help={"app": "the Application", "env": _ENV, "prune": "delete resources no longer in Git",
            "yes": "confirm without the typed prompt (environments that ask)", "timeout": "seconds (default 300)",
            "wait_lock": WAIT_LOCK_HELP})
@errors
def sync(c: Context, app: str, env: str = "staging", prune: bool = False, yes: bool = False,
         timeout: int = 300, wait_lock: int = 0) -> None:
    """Trigger a sync of APP (sets its operation, as the argocd CLI does) and wait for Synced + Healthy."""
    from prjdevops.ops import gitops

    target, argo = _open(c, env)
    with target:
        st = gitops.sync(target.kube, target.env, argo, app, prune=prune, io=interaction(yes, wait_lock),
                         timeout=timeout, report=say)
    say(f"{app}: synced to {st.revision[:12] or '-'}, {st.health}")


@task(help={"env": _ENV, "commit": "commit to revert (default: the last one touching environments/ or helm/)",
            "yes": "confirm without the typed prompt", "timeout": "seconds to wait for the root app (default 600)",
            "wait_lock": WAIT_LOCK_HELP})
@errors
def rollback(c: Context, env: str = "staging", commit: str = "", yes: bool = False, timeout: int = 600,
             wait_lock: int = 0) -> None:
    """GitOps rollback: git revert COMMIT, show it, confirm, push, wait until the root app is Synced + Healthy."""
    from prjdevops.adapters.git import Git
    from prjdevops.ops import gitops

    s = settings(c)
    target, argo = _open(c, env, gitops_env=True)
    with target:
        out = gitops.rollback(Git(s.env_dir().parent), target.kube, target.env, argo, s.env_dir(),
                              commit=commit or None, io=interaction(yes, wait_lock), timeout=timeout, report=say)
    say(f"rolled back {out.reverted[:12]} with {out.commit[:12]} on {out.pushed_to}; "
        f"{argo.root} is Synced and Healthy at it")


ns = Collection("argocd")
for t in (render, validate, bootstrap, status, get, wait, sync, rollback):
    ns.add_task(t)
