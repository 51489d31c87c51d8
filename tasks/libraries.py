"""Tasks for the libraries: cluster services (tier 1) and dev tools (tier 2) as ordered, pinned Helm releases."""

from __future__ import annotations

import json
from typing import Any

from invoke import Collection, Context, Exit, task

from tasks import colour
from tasks.common import DIFF_HELP, WAIT_LOCK_HELP, errors, full_diff, interaction, note, say, settings

_SELECT = {
    "env": "environment (default: staging)",
    "only": "only these releases, comma-separated (their needs outside the selection must already be deployed)",
    "tier": "only this tier (1: cluster services, 2: dev tools)",
}


def _only(value: str) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def _concurrency(value: int) -> int:
    if value < 1:
        raise Exit("error: --concurrency must be at least 1", code=1)
    return value


_UNKNOWN = ("pass on values keys a chart neither has in values.yaml nor allows in its schema (refused by default "
            "as likely typos)")


@task(help={**_SELECT, "concurrency": "charts pulled and diffed in parallel (default 4)",
            "allow_unknown_values": _UNKNOWN, "diff": DIFF_HELP})
@errors
def plan(c: Context, env: str = "staging", only: str = "", tier: int = 0, concurrency: int = 4,
         allow_unknown_values: bool = False, diff: str = "") -> None:
    """Groups in dependency order (like helmfile show-dag) and each release's diff; exit 2 when changes."""
    from prjdevops.ops import libraries as ops
    from prjdevops.ops.session import open_target
    from prjdevops.summary import diff_lines

    with open_target(settings(c), env, say) as target, ops.chart_sources(target.env, say):
        selection = ops.order(target.env, only=_only(only), tier=tier or None)
        result = ops.plan(target, selection, concurrency=_concurrency(concurrency),
                          allow_unknown=allow_unknown_values)
    for line in result.lines():
        say(line)
    for name in selection.order:
        for line in diff_lines(result.releases[name].diffs, full=full_diff(diff)):
            say(colour.diff(line))
    if result.changes:
        raise Exit(code=2)


@task(help={**_SELECT, "dry_run": "show the plan; change nothing",
            "concurrency": "releases deployed at the same time once their needs are met (default 1)",
            "continue_on_error": "after a failure, go on with releases that do not depend on it",
            "timeout": "seconds each release may take to become ready (default: the release's timeout)",
            "json": "print the recap as JSON",
            "yes": "confirm without the typed prompt where the environment asks for it (production)",
            "wait_lock": WAIT_LOCK_HELP, "allow_unknown_values": _UNKNOWN, "diff": DIFF_HELP})
@errors
def deploy(c: Context, env: str = "staging", only: str = "", tier: int = 0, dry_run: bool = False,
           concurrency: int = 1, continue_on_error: bool = False, timeout: int = 0, json: bool = False,
           yes: bool = False, wait_lock: int = 0, allow_unknown_values: bool = False, diff: str = "") -> None:
    """Install/upgrade the libraries in dependency order, each healthy before its dependants; recap at the end."""
    from prjdevops.ops import libraries as ops
    from prjdevops.ops.session import open_target
    from prjdevops.summary import diff_lines

    with open_target(settings(c), env, say) as target, ops.chart_sources(target.env, say):
        selection = ops.order(target.env, only=_only(only), tier=tier or None)
        if dry_run:
            planned = ops.plan(target, selection, concurrency=max(4, concurrency), allow_unknown=allow_unknown_values)
            for line in planned.lines():
                say(line)
            for name in selection.order:
                for line in diff_lines(planned.releases[name].diffs, full=full_diff(diff)):
                    say(colour.diff(line))
            say("dry run: nothing applied")
            if planned.changes:
                raise Exit(code=2)
            return
        with ops.guarded(target, what=f"Deploy libraries {', '.join(selection.order)}",
                         io=interaction(yes, wait_lock), report=say):
            recap = ops.deploy(target, selection, concurrency=_concurrency(concurrency),
                               continue_on_error=continue_on_error, report=say, timeout=timeout or None,
                               allow_unknown=allow_unknown_values)
    _print_recap(recap, json)


def _print_recap(recap: Any, as_json: bool) -> None:
    if as_json:
        say(json_dumps(recap.to_json()))
    else:
        say("")
        for line in recap.lines():
            say(colour.statuses(line))
    if recap.failed:
        names = ", ".join(o.name for o in recap.failed)
        raise Exit(f"error: {len(recap.failed)} release(s) failed: {names}", code=1)


def json_dumps(data: Any) -> str:
    return json.dumps(data, indent=2)


@task(help={**_SELECT, "json": "machine-readable output"})
@errors
def status(c: Context, env: str = "staging", only: str = "", tier: int = 0, json: bool = False) -> None:
    """One table: release, chart@version, revision, status, ready workloads."""
    from prjdevops.ops import libraries as ops
    from prjdevops.ops.session import open_target
    from prjdevops.output import table

    with open_target(settings(c), env, note) as target:
        selection = ops.order(target.env, only=_only(only), tier=tier or None) if (only or tier) else None
        rows = ops.status(target, selection)
    if json:
        say(json_dumps([r.to_json() for r in rows]))
        return
    lines = table(["RELEASE", "NAMESPACE", "TIER", "CHART", "REVISION", "STATUS", "READY"],
                  [[r.name, r.namespace, r.tier, r.chart + ("" if r.chart == r.pinned else f" (pinned {r.pinned})"),
                    r.revision, r.status, r.ready] for r in rows])
    for line in lines:
        say(colour.statuses(line))


@task(help={**_SELECT, "yes": "confirm without the typed prompt (deletes ask in every environment; required "
                                 "without a terminal)",
            "timeout": "seconds to wait for each uninstall (default 300)", "wait_lock": WAIT_LOCK_HELP})
@errors
def delete(c: Context, env: str = "staging", only: str = "", tier: int = 0, yes: bool = False,
           timeout: int = 300, wait_lock: int = 0) -> None:
    """Uninstall the libraries in reverse dependency order (dependants first), after confirmation."""
    from prjdevops.ops import libraries as ops
    from prjdevops.ops.session import open_target

    with open_target(settings(c), env, say) as target:
        selection = ops.order(target.env, only=_only(only), tier=tier or None)
        with ops.guarded(target, what=f"Uninstall libraries {', '.join(reversed(selection.order))}",
                         io=interaction(yes, wait_lock), report=say, always_confirm=True):
            recap = ops.delete(target, selection, report=say, timeout=timeout)
    _print_recap(recap, False)


@task(help={"port": "port on 127.0.0.1 (default: invoke.yaml standins_port, else 8879, the local environment's "
                    "mirror)"})
@errors
def serve(c: Context, port: int = 0) -> None:
    """Serve the stand-in chart repository on 127.0.0.1 in the foreground (Ctrl-C stops it)."""
    import time

    from prjdevops.chartrepo import ChartRepository, build_repository, standin_sources
    from prjdevops.ops.libraries import standins_dir

    port = port or settings(c).standins_port or 8879
    folder = standins_dir() / f"repo-{port}"
    packages = build_repository(standin_sources(), folder)
    with ChartRepository(folder, port=port) as repo:
        say(f"serving {len(packages)} stand-in charts at {repo.url} (index {repo.url}/index.yaml); Ctrl-C stops")
        while True:
            time.sleep(3600)


ns = Collection("libraries")
for t in (plan, deploy, status, delete, serve):
    ns.add_task(t)
