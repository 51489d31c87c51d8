"""Invoke entry point: thin tasks over the ``prjdevops`` library.

Each task parses its options, calls the library and reports. Heavy libraries (Helm's native library, the
Kubernetes client) are imported inside the tasks so ``invoke --list`` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from invoke import Collection, Context, Exit, task

APP = "plate-web"


def _settings(c: Context) -> Any:
    from prjdevops.ops.session import Settings

    cfg = c.config.get("prjdevops", {})
    return Settings(environments_dir=str(cfg.get("environments_dir") or ""),
                    sandbox_home=str(cfg.get("sandbox_home") or ""),
                    sandbox_port=int(cfg.get("sandbox_port") or 6550))


def _say(line: str) -> None:
    print(line, flush=True)


def _errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Project errors become one line on stderr and their exit code; Ctrl-C exits 130 without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from prjdevops.errors import DeployError

        try:
            return fn(*args, **kwargs)
        except DeployError as e:
            raise Exit(f"error: {e}", code=e.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: nothing more was changed; rerun the command to continue", code=130) from None

    return wrapper


def _list(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    return list(value) if isinstance(value, list) else [value]


# --- sandbox -------------------------------------------------------------------------------------------


@task(help={"port": "port on 127.0.0.1 (default from invoke.yaml: 6550)"})
@_errors
def sandbox_up(c: Context, port: int = 0) -> None:
    """Start the local sandbox Kubernetes API server in the background."""
    from prjdevops.sandbox import lifecycle

    s = _settings(c)
    info = lifecycle.up(s.sandbox_dir(), port=port or s.sandbox_port)
    _say(f"sandbox API server running at {info.url} (pid {info.pid})")
    _say(f"kubeconfig: {info.kubeconfig}  (kubectl --kubeconfig {info.kubeconfig} get ns)")
    _say("use it with --env local, e.g. invoke stg.deploy --env local; stop it with invoke sandbox.down")


@task
@_errors
def sandbox_status(c: Context) -> None:
    """Show whether the sandbox API server runs, where, and its kubeconfig."""
    from prjdevops.sandbox import lifecycle

    info = lifecycle.status(_settings(c).sandbox_dir())
    if info is None:
        _say("sandbox API server is not running (start it with invoke sandbox.up)")
        return
    _say(f"sandbox API server running at {info.url} (pid {info.pid}); kubeconfig {info.kubeconfig}")


@task
@_errors
def sandbox_down(c: Context) -> None:
    """Stop the sandbox API server; its state is kept for the next sandbox.up."""
    from prjdevops.sandbox import lifecycle

    stopped = lifecycle.down(_settings(c).sandbox_dir())
    _say("sandbox API server stopped (state kept)" if stopped else "sandbox API server was not running")


@task
@_errors
def sandbox_reset(c: Context) -> None:
    """Stop the sandbox and wipe its stored cluster state."""
    from prjdevops.sandbox import lifecycle

    lifecycle.reset(_settings(c).sandbox_dir())
    _say("sandbox state wiped")


# --- environments --------------------------------------------------------------------------------------


@task
@_errors
def envs_list(c: Context) -> None:
    """List the environments and what each deploys."""
    from prjdevops.environments import known_environments
    from prjdevops.ops.session import load
    from prjdevops.output import table

    s = _settings(c)
    rows = []
    for name in known_environments(s.env_dir()):
        env = load(s, name)
        rows.append([name, env.cluster.context, env.cluster.api_server or ("sandbox" if env.cluster.sandbox else ""),
                     "yes" if env.guards.confirm else "no", ", ".join(r.name for r in env.releases if r.enabled)])
    for line in table(["ENV", "CONTEXT", "API SERVER", "CONFIRM", "RELEASES"], rows):
        _say(line)


@task(help={"env": "environment name (environments/<name>.yaml)"})
@_errors
def envs_check(c: Context, env: str = "") -> None:
    """Validate one environment file (or all): every problem with file, key and reason."""
    from prjdevops.environments import known_environments
    from prjdevops.ops.session import load

    s = _settings(c)
    for name in [env] if env else known_environments(s.env_dir()):
        e = load(s, name)
        _say(f"{name}: ok ({len(e.releases)} releases, context {e.cluster.context})")


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
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env, _say) as target:
        prep = ops.prepare(target.env, APP, values_files=[Path(v) for v in values], sets=set)
        if dry_run:
            diffs = ops.diff(target, prep)
            _say(f"dry run: {len(diffs)} object(s) would change in {APP} ({target.env.name}); nothing applied")
            for d in diffs:
                _say(d.diff)
            return
        result = ops.deploy(target, prep, wait=not no_wait, timeout=timeout or None, report=_say)
        for line in result.summary():
            _say(line)


def _status(c: Context, env: str, as_json: bool) -> None:
    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target
    from prjdevops.output import age, table

    with open_target(_settings(c), env) as target:
        st = ops.status(target, APP)
    if as_json:
        _say(json.dumps(st.to_json(), indent=2))
        return
    if st.info is None:
        _say(f"release {APP} is not deployed in namespace {st.namespace} of environment {env}")
        return
    i = st.info
    for line in table(["RELEASE", "NAMESPACE", "REVISION", "STATUS", "CHART", "APP VERSION", "UPDATED"],
                      [[i.name, i.namespace, i.revision, i.status, f"{i.chart}-{i.chart_version}", i.app_version,
                        i.updated]]):
        _say(line)
    _say("")
    for line in table(["POD", "READY", "STATUS", "RESTARTS", "AGE", "REASON"],
                      [[p["name"], "yes" if p["ready"] else "no", p["phase"], p["restarts"], age(p["age_seconds"]),
                        p["reason"]] for p in st.pods]):
        _say(line)
    _say("")
    for line in table(["SERVICE", "TYPE", "CLUSTER-IP", "PORTS"],
                      [[s["name"], s["type"], s["cluster_ip"], s["ports"]] for s in st.services]):
        _say(line)
    if st.ingresses:
        _say("")
        for line in table(["INGRESS", "HOSTS", "TLS SECRETS"],
                          [[g["name"], ",".join(g["hosts"]), ",".join(g["tls_secrets"])] for g in st.ingresses]):
            _say(line)


def _diff(c: Context, env: str, set: list[str], values: list[str]) -> None:
    from pathlib import Path

    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env, _say) as target:
        prep = ops.prepare(target.env, APP, values_files=[Path(v) for v in values], sets=set)
        diffs = ops.diff(target, prep)
    if not diffs:
        _say(f"no changes: {APP} in {env} matches the repository")
        return
    _say(f"{len(diffs)} object(s) would change:")
    for line in ops.diff_summary(diffs):
        _say(line)
    for d in diffs:
        _say(d.diff)
    raise Exit(code=2)


def _delete(c: Context, env: str, namespace: bool) -> None:
    from prjdevops.ops import release as ops
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env) as target:
        ops.delete(target, APP, delete_namespace=namespace, report=_say)


@task(help=_DEPLOY_HELP, iterable=["set", "values"])
@_errors
def stg_deploy(c: Context, env: str = "staging", set: Any = None, values: Any = None, timeout: int = 0,
               no_wait: bool = False, dry_run: bool = False) -> None:
    """Upgrade-or-install plate-web with staging values, wait for the rollout, print a summary."""
    _deploy(c, env, _list(set), _list(values), timeout, no_wait, dry_run)


@task(help={"env": "environment (default: staging)", "json": "machine-readable output"})
@_errors
def stg_status(c: Context, env: str = "staging", json: bool = False) -> None:
    """Helm release status and tables of pods, services and ingresses of plate-web."""
    _status(c, env, json)


@task(help={"env": "environment (default: staging)", "set": "override a value, key=value (repeatable)",
            "values": "extra values file (repeatable)"}, iterable=["set", "values"])
@_errors
def stg_diff(c: Context, env: str = "staging", set: Any = None, values: Any = None) -> None:
    """What an upgrade would change, per object (secrets redacted); exit 0 = nothing, 2 = changes."""
    _diff(c, env, _list(set), _list(values))


@task(help={"env": "environment (default: staging)", "namespace": "also delete the release's namespace"})
@_errors
def stg_delete(c: Context, env: str = "staging", namespace: bool = False) -> None:
    """Uninstall plate-web (idempotent: deleting what is not there says so and exits 0)."""
    _delete(c, env, namespace)


@task(help={"env": "environment (default: production)", "json": "machine-readable output"})
@_errors
def prod_status(c: Context, env: str = "production", json: bool = False) -> None:
    """Helm release status and tables of pods, services and ingresses of plate-web in production."""
    _status(c, env, json)


@task(help={"env": "environment (default: production)", "set": "override a value, key=value (repeatable)",
            "values": "extra values file (repeatable)"}, iterable=["set", "values"])
@_errors
def prod_diff(c: Context, env: str = "production", set: Any = None, values: Any = None) -> None:
    """What a production upgrade would change, per object; exit 0 = nothing, 2 = changes."""
    _diff(c, env, _list(set), _list(values))


def _interaction(yes: bool) -> Any:
    from prjdevops.ops.production import Interaction

    return Interaction(yes=yes, is_tty=sys.stdin.isatty() and sys.stdout.isatty(), ask=input)


@task(help={**{k: v for k, v in _DEPLOY_HELP.items() if k != "no_wait"}, "env": "environment (default: production)",
            "yes": "confirm without the typed prompt (for CI)",
            "recover": "first roll a release stuck in pending-* back to its last deployed revision"},
      iterable=["set", "values"])
@_errors
def prod_deploy(c: Context, env: str = "production", set: Any = None, values: Any = None, timeout: int = 0,
                yes: bool = False, recover: bool = False, dry_run: bool = False) -> None:
    """Guarded deploy: cluster check, plan, confirmation, lock, backup, health gate, verified auto-rollback."""
    from pathlib import Path

    from prjdevops.ops import production, release
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env, _say) as target:
        prep = release.prepare(target.env, APP, values_files=[Path(v) for v in _list(values)], sets=_list(set))
        if dry_run:
            production.preflight(target, prep)
            diffs = release.diff(target, prep)
            _say(f"dry run: {len(diffs)} object(s) would change in {APP} ({target.env.name}); nothing applied")
            for d in diffs:
                _say(d.diff)
            return
        out = production.guarded_deploy(target, prep, io=_interaction(yes), report=_say, recover_stuck=recover,
                                        timeout=timeout or None)
    _say(f"{out.release}: {out.action}, revision {out.revision}"
         + (f", backup {out.backup}" if out.backup else "") + f" ({out.seconds:.1f}s)")


@task(help={"env": "environment (default: production)", "yes": "confirm without the typed prompt",
            "revision": "revision to return to (default: the one before the current)"})
@_errors
def prod_rollback(c: Context, revision: int = 0, env: str = "production", yes: bool = False) -> None:
    """Roll plate-web back to REVISION (default: the previous one); backup first; result verified."""
    from prjdevops.ops import production, release
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env, _say) as target:
        prep = release.prepare(target.env, APP)
        info = production.manual_rollback(target, prep, revision=revision or None, io=_interaction(yes),
                                          report=_say)
    _say(f"{APP}: now revision {info.revision} ({info.status})")


@task(help={"env": "environment (default: production)"})
@_errors
def prod_backups(c: Context, env: str = "production") -> None:
    """List the backups of plate-web (newest last)."""
    from prjdevops import backup
    from prjdevops.ops.session import load
    from prjdevops.output import table

    e = load(_settings(c), env)
    rows = [[b.name, b.revision, f"{b.chart}-{b.chart_version}", b.taken_at, b.reason]
            for b in backup.listing(e, e.release(APP))]
    if not rows:
        _say(f"no backups of {APP} in {env} (folder {backup.release_dir(e, e.release(APP))})")
        return
    for line in table(["BACKUP", "REVISION", "CHART", "TAKEN", "REASON"], rows):
        _say(line)


@task(help={"env": "environment (default: production)"})
@_errors
def prod_backup(c: Context, env: str = "production") -> None:
    """Take a backup of plate-web now (values, manifest, chart metadata, history, checksums)."""
    from prjdevops.ops import production, release
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env, _say) as target:
        rec = production.take_backup(target, release.prepare(target.env, APP))
    _say(f"backup of revision {rec.revision} written to {rec.path}")


@task(help={"backup": "backup name (see prod.backups)", "env": "environment (default: production)",
            "yes": "confirm without the typed prompt"})
@_errors
def prod_restore(c: Context, backup: str, env: str = "production", yes: bool = False) -> None:
    """Re-apply a backup's values (checksums verified first), then show the diff left against it."""
    from prjdevops.ops import production, release
    from prjdevops.ops.session import open_target

    with open_target(_settings(c), env, _say) as target:
        left = production.restore(target, release.prepare(target.env, APP), backup, io=_interaction(yes),
                                  report=_say)
    for d in left:
        _say(d.diff)
    if left:
        raise Exit(code=2)


# --- collections -----------------------------------------------------------------------------------------

ns = Collection()
ns.configure({"tasks": {"dedupe": False}})
sandbox = Collection("sandbox")
sandbox.add_task(sandbox_up, "up")
sandbox.add_task(sandbox_status, "status")
sandbox.add_task(sandbox_down, "down")
sandbox.add_task(sandbox_reset, "reset")
envs = Collection("envs")
envs.add_task(envs_list, "list")
envs.add_task(envs_check, "check")
stg = Collection("stg")
stg.add_task(stg_deploy, "deploy")
stg.add_task(stg_status, "status")
stg.add_task(stg_diff, "diff")
stg.add_task(stg_delete, "delete")
prod = Collection("prod")
prod.add_task(prod_deploy, "deploy")
prod.add_task(prod_status, "status")
prod.add_task(prod_rollback, "rollback")
prod.add_task(prod_backup, "backup")
prod.add_task(prod_backups, "backups")
prod.add_task(prod_restore, "restore")
prod.add_task(prod_diff, "diff")
for coll in (sandbox, envs, stg, prod):
    ns.add_collection(coll)

if __name__ == "__main__":  # pragma: no cover - `python tasks.py` is not how tasks run
    sys.exit("run tasks with invoke, e.g. invoke --list")
