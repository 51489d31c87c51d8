"""Run the ``verify/`` pytest suite in a subprocess (argv list) and read back its JUnit XML.

Used by ``invoke verify`` and as the production deploy's gate. The subprocess keeps the suite's own process state
(Helm handles, testinfra caches) out of the caller and is exactly what a user runs by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prjdevops.environments import ENV_VAR, project_root
from prjdevops.errors import DeployError
from prjdevops.verify.plan import CLUSTER_GROUPS, parse_only
from prjdevops.verify.report import Row, failures, read_junit

SUITE = "verify"
#: Another folder to run as the suite (a copy of verify/ with more tests: the project's own tests use it).
SUITE_ENV = "PRJDEVOPS_VERIFY_SUITE"


@dataclass
class VerifyRun:
    env: str
    rows: list[Row]
    junit: Path
    log: Path
    returncode: int

    @property
    def failed(self) -> list[Row]:
        return failures(self.rows)

    @property
    def ok(self) -> bool:
        return not self.failed


#: Where verify reports go when no folder is given (``invoke verify --reports``): default ``reports/``.
REPORTS_ENV = "PRJDEVOPS_VERIFY_REPORTS"


def reports_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The folder for JUnit XML and logs: the one given, else ``$PRJDEVOPS_VERIFY_REPORTS``, else ``reports/``
    (the production gate and ``invoke deploy`` take it from the variable)."""
    chosen = configured or os.environ.get(REPORTS_ENV, "").strip()
    return Path(chosen).expanduser().resolve() if chosen else project_root() / "reports"


def suite_dir(root: Path | None = None) -> Path:
    """The suite's folder: ``$PRJDEVOPS_VERIFY_SUITE``, else ``verify/`` of the repository."""
    configured = os.environ.get(SUITE_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else (root or project_root()) / SUITE


def pytest_argv(env: str, *, only: Sequence[str] = (), junit: Path, root: Path | None = None,
                suite: Path | None = None) -> list[str]:
    root = root or project_root()
    argv = [sys.executable, "-m", "pytest", str(suite or root / SUITE), "--rootdir", str(root), "-q", "-rN",
            "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1",
            "-o", "junit_suite_name=verify", "--verify-env", env]
    for g in only:
        argv += ["--verify-only", g]
    return argv


def why_not_run(output: str, returncode: int) -> str:
    """One line saying why pytest could not run the suite, from its output."""
    lines = [line for line in output.splitlines() if line.strip()]
    # pytest reports a usage error (e.g. an unknown environment, from verify/conftest.py) as "ERROR: <why>"
    errors = [m.group(1).strip() for line in lines if (m := re.match(r"^\s*error:\s*(.+)", line, re.IGNORECASE))]
    if errors:
        return errors[0]
    # a test file of the suite that does not import: "ERROR collecting <file>", then pytest's "E   <exception>"
    for i, line in enumerate(lines):
        m = re.search(r"ERROR collecting (\S+)", line)
        if m:
            detail = next((x.strip()[1:].strip() for x in lines[i + 1:] if x.startswith("E ")), "")
            return f"{Path(m.group(1)).name} does not load" + (f": {detail}" if detail else "")
    return lines[-1] if lines else f"pytest exit code {returncode}"


def run(env: str, *, only: Sequence[str] = (), reports: Path | None = None, environments_dir: Path | None = None,
        timeout: float = 900, extra_env: dict[str, str] | None = None) -> VerifyRun:
    """Run the suite for ``env``; JUnit XML and pytest's output land in ``reports/verify-<env>.{xml,log}``."""
    parse_only(only)  # refuse malformed group names before starting anything (the suite refuses unknown ones)
    out = reports or reports_dir()
    out.mkdir(parents=True, exist_ok=True)
    junit, log = out / f"verify-{env}.xml", out / f"verify-{env}.log"
    junit.unlink(missing_ok=True)
    environ = dict(os.environ, **(extra_env or {}))
    if environments_dir is not None:
        environ[ENV_VAR] = str(environments_dir)
    try:
        argv = pytest_argv(env, only=only, junit=junit, suite=suite_dir())
        proc = subprocess.run(argv, cwd=project_root(), env=environ, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise DeployError(f"verify suite for {env!r} did not finish within {timeout:.0f}s") from e
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if not junit.is_file() or proc.returncode in (2, 3, 4):  # interrupted, internal error, usage error
        why = why_not_run(proc.stderr + proc.stdout, proc.returncode)
        raise DeployError(f"verify suite for {env!r} could not run: {why}", hint=f"see {log}")
    return VerifyRun(env, read_junit(junit), junit, log, proc.returncode)


def gate_groups(env: Any, groups: Sequence[str] | None = None) -> tuple[str, ...]:
    """The groups a gate runs: ``groups`` when given, else the environment's ``verify.gate``, else the Kubernetes
    groups."""
    if groups is not None:
        return tuple(groups)
    settings = getattr(env, "verify", None)
    chosen = getattr(settings, "gate", None)
    return tuple(chosen) if chosen else CLUSTER_GROUPS


def gate(*, environments_dir: Path | None = None, reports: Path | None = None,
         groups: Sequence[str] | None = None, report: Callable[[str], None] | None = None,
         ) -> Callable[[Any, Any], list[str]]:
    """A ``guarded_deploy`` gate: run the suite's groups, return ``group/check: reason`` per failure.

    The groups: ``groups`` when given, else the environment's ``verify.gate`` (generated groups and the team's own,
    e.g. ``[releases, workloads, app-smoke]``), else the Kubernetes groups. Host and node groups are left out by
    default: a full disk or swap on a node is not a reason to roll back an application deploy; run
    ``invoke verify`` for those.
    """

    def check(target: Any, prep: Any) -> list[str]:
        wanted = gate_groups(target.env, groups)
        if report:
            report(f"verifying {target.env.name} ({', '.join(wanted)})")
        try:
            result = run(target.env.name, only=[",".join(wanted)], reports=reports,
                         environments_dir=environments_dir)
        except DeployError as e:  # an unverified deploy is not a passed one: fail the gate (and roll back)
            return [str(e)]
        if report:
            report(f"verify: {len(result.rows) - len(result.failed)} passed/skipped, {len(result.failed)} failed "
                   f"(JUnit XML {result.junit})")
        return [f"{r.group}/{r.check}: {r.reason}" for r in result.failed]

    return check
