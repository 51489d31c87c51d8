"""`invoke verify`: the post-deploy smoke suite (verify/: generated checks and the team's own tests) with a summary
table, JUnit XML and exit code 3."""

from __future__ import annotations

from typing import Any

from invoke import Context, Exit, task

from tasks.common import as_list, errors, say, settings


@task(name="verify", iterable=["only"], help={
    "env": "environment to verify (required)",
    "only": "only this group (repeatable, or comma-separated): releases, workloads, services, ingresses, "
            "certificates, metallb, argocd, host, nodes, pods, or the group of your own tests in verify/ "
            "(@pytest.mark.group(NAME); default smoke)",
    "reports": "folder for the JUnit XML and pytest log (default: reports/)",
})
@errors
def verify(c: Context, env: str = "", only: Any = None, reports: str = "") -> None:
    """Run the verify suite against an environment; table of group/check/result/reason; exit 3 when a check fails."""
    from prjdevops.ops.session import ensure_cluster, load
    from prjdevops.verify import runner

    if not env:
        raise Exit("error: name the environment: invoke verify --env NAME", code=1)
    s = settings(c)
    ensure_cluster(load(s, env), s, say)
    run = runner.run(env, only=as_list(only), reports=runner.reports_dir(reports or None),
                     environments_dir=s.env_dir())
    show(run)


def show(run: Any) -> None:
    """The table of group/check/result/reason and the counts; exit 3 when a check failed."""
    from prjdevops.output import table
    from prjdevops.verify import report

    for line in table(["GROUP", "CHECK", "RESULT", "REASON"],
                      [[r.group, r.check, r.result, r.reason] for r in run.rows]):
        say(line)
    n = report.counts(run.rows)
    say(f"\n{n['passed']} passed, {n['failed'] + n['error']} failed, {n['skipped']} skipped; JUnit XML: {run.junit}")
    if not run.ok:
        raise Exit(code=report.EXIT_FAILED)
