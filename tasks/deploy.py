"""`invoke deploy`: the whole platform (what deploy-all.sh did): libraries by dependency group, then the
application, with one plan, the environment's guards, a recap, --resume and the verify suite."""

from __future__ import annotations

import json as jsonlib
import sys
from typing import Any

from invoke import Context, Exit, task

from tasks import colour
from tasks.common import DIFF_HELP, WAIT_LOCK_HELP, errors, full_diff, interaction, say, settings


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@task(name="deploy", help={
    "env": "environment: staging (default), production, local, ...",
    "libraries_only": "only the libraries (cluster services and dev tools), not the application",
    "skip_libraries": "only the application, not the libraries",
    "dry_run": "print the plan (validated by the API server) and change nothing; exit 0 = no changes, 2 = changes",
    "yes": "confirm without the typed prompt where the environment asks for it (production; required without a "
           "terminal)",
    "json": "write the plan (and, for a deploy, the recap) as one JSON document on stdout; progress goes to stderr",
    "resume": "continue the last failed run of this environment: releases it finished (with unchanged inputs) "
              "are skipped",
    "verify": "run the verify suite after the deploy (default: on where the environment asks for confirmation, "
              "i.e. production)",
    "no_verify": "do not run the verify suite after the deploy",
    "concurrency": "libraries deployed at the same time once their needs are met (default 1)",
    "timeout": "seconds each release may take to become ready (default: the release's timeout)",
    "wait_lock": WAIT_LOCK_HELP,
    "allow_unknown_values": "pass on values keys a chart neither has in values.yaml nor allows in its schema "
                            "(refused by default as likely typos)",
    "diff": DIFF_HELP,
})
@errors
def deploy(c: Context, env: str = "staging", libraries_only: bool = False, skip_libraries: bool = False,
           dry_run: bool = False, yes: bool = False, json: bool = False, resume: bool = False, verify: bool = False,
           no_verify: bool = False, concurrency: int = 1, timeout: int = 0, wait_lock: int = 0,
           allow_unknown_values: bool = False, diff: str = "") -> None:
    """The whole platform: plan every release (libraries by group, then the application), then deploy in order."""
    from prjdevops.ops import platform
    from prjdevops.ops.session import open_target

    if libraries_only and skip_libraries:
        raise Exit("error: --libraries-only and --skip-libraries exclude each other", code=1)
    if verify and no_verify:
        raise Exit("error: --verify and --no-verify exclude each other", code=1)
    if concurrency < 1:
        raise Exit("error: --concurrency must be at least 1", code=1)
    full = full_diff(diff)
    scope = "libraries" if libraries_only else "applications" if skip_libraries else "all"
    out = _err if json else say  # with --json, stdout carries only the document
    s = settings(c)
    with open_target(s, env, out) as target, platform.sources(target.env, out):
        planned = platform.build_plan(target, scope=scope, concurrency=max(4, concurrency),
                                      allow_unknown=allow_unknown_values)
        plan = planned.plan
        if dry_run:
            _show(plan, json, out, full)
            if plan.rejected:
                raise Exit(f"error: the API server rejected {', '.join(e.name for e in plan.rejected)} (see the "
                           "plan's notes)", code=1)
            out("dry run: nothing applied")
            if plan.changes:
                raise Exit(code=2)
            return
        resumed = None
        if resume:
            previous = platform.last_unfinished(platform.runs_dir(target.env.name), target.env.name)
            resumed = platform.resume_from(previous, plan)
            out(f"resuming run {previous.run_id}: {len(resumed.skip)} release(s) done, skipped"
                + (f" ({', '.join(resumed.skip)})" if resumed.skip else ""))
            for note in (*resumed.notes, *([f"run {previous.run_id} deployed scope {previous.scope!r}, this one "
                                            f"{scope!r}"] if previous.scope != scope else [])):
                out(f"note: {note}")
        if not json:
            _show(plan, False, out, full)
        result = platform.deploy(target, planned, io=interaction(yes, wait_lock), report=out, resume=resumed,
                                 scope=scope, concurrency=concurrency, timeout=timeout or None)
    if json:
        say(jsonlib.dumps(result.to_json(), indent=2))
    else:
        say("")
        for line in result.recap.lines():
            say(colour.statuses(line))
    if result.failed:
        names = ", ".join(o.name for o in result.failed)
        raise Exit(f"error: {len(result.failed)} release(s) failed: {names}; fix the cause and continue with "
                   f"invoke deploy --env {env} --resume", code=1)
    if verify or (not no_verify and _verify_by_default(target.env)):
        _verify(c, env, out)


def _show(plan: Any, as_json: bool, out: Any, full: bool = False) -> None:
    if as_json:
        say(jsonlib.dumps(plan.to_json(), indent=2))
        return
    for line in plan.lines(full=full):
        out(colour.diff(line))


def _verify_by_default(env: Any) -> bool:
    """On for production: the environment named so, or any that asks for typed confirmation."""
    return bool(env.name == "production" or env.guards.confirm)


def _verify(c: Context, env: str, out: Any) -> None:
    from prjdevops.verify import runner
    from tasks.verify import show

    out(f"verifying {env}")
    run = runner.run(env, reports=runner.reports_dir(), environments_dir=settings(c).env_dir())
    show(run)
