"""The whole platform in one command (what ``deploy-all.sh`` did): libraries by dependency groups, then the
application, with one plan, one recap and a resumable run record.

The plan model (:class:`PlanEntry`, :class:`PlatformPlan`) and the run record's resume logic (:class:`RunState`,
:func:`resume_from`) are pure; :func:`build_plan` and :func:`deploy` compose the existing flows: the libraries
flow (``ops.libraries``) for tiers 1 and 2, the guarded deploy (``ops.production``) for the application.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prjdevops import backup as backups
from prjdevops.environments import project_root
from prjdevops.errors import ConfigError, DeployError
from prjdevops.manifests import ObjectDiff
from prjdevops.model import Environment, Release
from prjdevops.ops import libraries as libs
from prjdevops.ops import plan as planmod
from prjdevops.ops import production
from prjdevops.ops import release as rel_ops
from prjdevops.ops.guarded import Guard, Interaction, guarded
from prjdevops.ops.plan import ReleasePlan
from prjdevops.ops.release import Prepared, Reporter, Target, _quiet

INSTALL, UPGRADE, UNCHANGED, DELETE = "install", "upgrade", "unchanged", "delete"
ACTIONS = (INSTALL, UPGRADE, UNCHANGED, DELETE)
SCOPES = ("all", "libraries", "applications")  # --libraries-only / --skip-libraries
APPLICATIONS = "applications"
RUNS_ENV = "PRJDEVOPS_RUNS_DIR"  # another run-record folder (tests, CI)


# --- the plan (pure) -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanEntry:
    """What the deploy would do to one release, in execution order."""

    name: str
    namespace: str
    group: str  # cluster-services | dev-tools | applications
    step: int  # 1-based: the dependency group for libraries; applications come after the last one
    chart: str  # chart@version a deploy applies (the live one for a delete)
    action: str  # install | upgrade | unchanged | delete
    chart_from: str = ""  # live chart@version, "" when not installed
    detail: str = ""  # why: "values differ", "2 object(s) differ", ...
    needs: tuple[str, ...] = ()
    diffs: tuple[ObjectDiff, ...] = ()
    digest: str = ""  # fingerprint of the inputs (chart, namespace, values with secrets redacted)
    validation: str = ""  # "server" (the API server accepted a dry run), "not validated: why", "failed: why", ""
    hooks: tuple[str, ...] = ()  # hooks a deploy runs (and test hooks), one line each: never in the diff
    plan: ReleasePlan | None = field(default=None, repr=False, compare=False)  # the release's own plan

    @property
    def changes(self) -> bool:
        return self.action != UNCHANGED

    @property
    def rejected(self) -> bool:
        return self.validation.startswith("failed")

    def summary(self) -> str:
        if self.action == INSTALL:
            text = f"install {self.chart} ({len(self.diffs)} object(s))"
        elif self.action == DELETE:
            text = f"delete {self.chart or self.name} (disabled in this environment)"
        elif self.action == UNCHANGED:
            text = f"unchanged ({self.chart})"
        else:
            moved = f"{self.chart_from} -> {self.chart}" if self.chart_from and self.chart_from != self.chart \
                else self.chart
            text = f"upgrade {moved}" + (f": {self.detail}" if self.detail else "")
        return text

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "group": self.group, "step": self.step,
                "chart": self.chart, "chart_from": self.chart_from or None, "action": self.action,
                "detail": self.detail, "needs": list(self.needs), "validation": self.validation or None,
                "digest": self.digest, "hooks": list(self.hooks),
                "diffs": [{"kind": d.key[0], "namespace": d.key[1] or None, "name": d.key[2], "action": d.action,
                           "diff": d.diff} for d in self.diffs]}


@dataclass(frozen=True)
class PlatformPlan:
    """Every release of the run, in the order it would run: one report across tiers and the application."""

    env: str
    entries: tuple[PlanEntry, ...]
    notes: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return any(e.changes for e in self.entries)

    @property
    def rejected(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.rejected]

    def entry(self, name: str) -> PlanEntry:
        return next(e for e in self.entries if e.name == name)

    def counts(self) -> dict[str, int]:
        return {a: sum(e.action == a for e in self.entries) for a in ACTIONS}

    def headline(self) -> str:
        c = self.counts()
        return (f"plan for {self.env}: {len(self.entries)} release(s): {c[INSTALL]} to install, {c[UPGRADE]} to "
                f"upgrade, {c[DELETE]} to delete, {c[UNCHANGED]} unchanged")

    def lines(self, *, diffs: bool = True, full: bool = False) -> list[str]:
        """The headline, the releases step by step (group, chart@version, action), then per release that changes:
        its hooks, objects per kind, changed fields and capped diffs (``full``: every object's diff, uncapped)."""
        from prjdevops import summary
        from prjdevops.output import table

        rows = []
        for e in self.entries:
            after = f"after {', '.join(e.needs)}" if e.needs else ""
            check = {"server": "validated by the API server"}.get(e.validation, e.validation)
            rows.append([e.step, e.name, e.group, e.namespace, e.summary(), "; ".join(x for x in (after, check) if x)])
        out = [self.headline(), *table(["STEP", "RELEASE", "GROUP", "NAMESPACE", "ACTION", "NOTES"], rows)]
        out.extend(f"note: {n}" for n in self.notes)
        if diffs:
            for e in self.entries:
                if not e.diffs and not e.hooks:
                    continue
                out.append(f"--- {e.name} ({e.action}) ---")
                out.extend(e.hooks)
                # a first install is every object added: counted per kind (the manifests are in --json)
                out.extend(summary.kind_table(e.diffs) + summary.field_lines(e.diffs))
                out.extend(summary.diff_lines(e.diffs, full=full))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.env, "changes": self.changes, "counts": self.counts(),
                "releases": [e.to_json() for e in self.entries], "notes": list(self.notes)}


def entry_from(plan: ReleasePlan, release: Release, *, step: int, needs: Sequence[str] = ()) -> PlanEntry:
    """A plan entry from the release's own plan (libraries and the application are planned the same way)."""
    detail = plan.action.reason if plan.action.kind == UPGRADE else ""
    moved = f"{plan.chart_from} -> {plan.chart_to}"
    if detail.startswith(moved):  # the summary shows the move already
        detail = detail[len(moved):].lstrip(", ")
    return PlanEntry(plan.name, plan.namespace, release.group, step, plan.chart_to, plan.action.kind,
                     plan.chart_from, detail, tuple(needs),
                     tuple(plan.diffs), plan.digest, plan.validation, tuple(plan.hook_lines()), plan)


# --- the run record and resume (pure) -----------------------------------------------------------------------

PENDING, DONE_STATES = "pending", (libs.OK, libs.CHANGED)


@dataclass
class StepState:
    name: str
    digest: str
    state: str = PENDING  # pending | ok | changed | failed | skipped
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


@dataclass
class RunState:
    """One run of ``invoke deploy``: every release's state as it settles, written after each one."""

    run_id: str
    env: str
    scope: str
    steps: list[StepState]
    started: str = ""
    finished: str = ""
    status: str = "running"  # running | failed | succeeded
    resumed_from: str = ""

    def step(self, name: str) -> StepState | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        steps = [StepState(**s) for s in data.get("steps") or []]
        fields = {f.name for f in dataclasses.fields(cls)} - {"steps"}
        return cls(steps=steps, **{k: v for k, v in data.items() if k in fields})


@dataclass(frozen=True)
class Resume:
    """What ``--resume`` does with an earlier run: skip what finished with the same inputs, redo the rest."""

    previous: str
    skip: tuple[str, ...]
    redo: tuple[str, ...]  # finished earlier, but their inputs changed since: deployed again
    notes: tuple[str, ...] = ()


def resume_from(previous: RunState, plan: PlatformPlan) -> Resume:
    """Releases of ``plan`` already done in ``previous`` with unchanged inputs are skipped; everything else runs."""
    skip, redo, notes = [], [], []
    for e in plan.entries:
        s = previous.step(e.name)
        if s is None or not s.done:
            continue
        if s.digest and e.digest and s.digest != e.digest:
            redo.append(e.name)
        else:
            skip.append(e.name)
    if redo:
        notes.append(f"the inputs of {', '.join(redo)} changed since run {previous.run_id} (chart, version or "
                     f"values): deploying them again")
    added = [e.name for e in plan.entries if previous.step(e.name) is None]
    if added:
        notes.append(f"not in run {previous.run_id}: {', '.join(added)} (deployed now)")
    gone = [s.name for s in previous.steps if s.name not in {e.name for e in plan.entries}]
    if gone:
        notes.append(f"in run {previous.run_id} but not in this plan: {', '.join(gone)} (left as they are)")
    return Resume(previous.run_id, tuple(skip), tuple(redo), tuple(notes))


def runs_dir(env: str, configured: str | None = None) -> Path:
    base = configured or os.environ.get(RUNS_ENV)
    root = Path(base).expanduser().resolve() if base else project_root() / ".prjdevops" / "runs"
    return root / env


def new_run_id() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z"


def save_run(state: RunState, folder: Path) -> Path:
    """Write the record atomically (temporary file in the same folder, fsync, rename): never half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{state.run_id}.json"
    tmp = folder / f".{state.run_id}.json.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(state.to_json(), indent=2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_runs(folder: Path) -> list[RunState]:
    """Every readable run record, oldest first (run ids sort by time)."""
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(RunState.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as e:
            raise ConfigError(f"run record {path} cannot be read: {e}",
                              hint="delete it to start over (invoke deploy without --resume)") from e
    return out


def last_unfinished(folder: Path, env: str) -> RunState:
    """The run ``--resume`` continues: the newest one, which must not have succeeded."""
    runs = load_runs(folder)
    if not runs:
        raise ConfigError(f"no earlier deploy of {env!r} to resume (run records in {folder})",
                          hint="run invoke deploy without --resume")
    last = runs[-1]
    if last.status == "succeeded":
        raise ConfigError(f"nothing to resume: the last deploy of {env!r} (run {last.run_id}) succeeded",
                          hint="run invoke deploy without --resume")
    return last


# --- building the plan (against the cluster) ----------------------------------------------------------------


@dataclass
class Planned:
    """The plan plus what executing it needs: each release's prepared values, bound to its chart."""

    plan: PlatformPlan
    prepared: dict[str, Prepared] = field(default_factory=dict)
    selection: Any = None  # the libraries' DAG (None when no library is in scope)
    libraries: libs.Plan | None = None  # the libraries flow's own plan, executed as planned


def applications(env: Environment) -> list[Release]:
    return [r for r in env.releases if r.group not in libs.GROUPS and r.enabled]


def build_plan(target: Target, *, scope: str = "all", cache_dir: Path | None = None, concurrency: int = 4,
               server_dry_run: bool = True, allow_unknown: bool = False) -> Planned:
    """Plan every release in scope against the cluster (``ops.plan``: Helm's live state against Helm's
    server-side dry run); libraries first (by dependency group), then the application. A release whose needs this
    same run installs is rendered offline and marked not validated (its CRDs are not served yet).
    ``server_dry_run`` is kept for callers: every plan is validated by the server where one answers."""
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
    env = target.env
    entries: list[PlanEntry] = []
    prepared: dict[str, Prepared] = {}
    notes: list[str] = []
    selection = None
    lib_plan = None
    last_step = 0
    if scope in ("all", "libraries"):
        if libs.library_releases(env):
            selection = libs.order(env)
            lib_plan = libs.plan(target, selection, cache_dir=cache_dir, concurrency=concurrency,
                                 allow_unknown=allow_unknown)
            for step, group in enumerate(selection.groups, 1):
                for name in group:
                    entries.append(entry_from(lib_plan.releases[name], env.release(name), step=step,
                                              needs=env.release(name).needs))
                    prepared[name] = lib_plan.prepared[name]
            last_step = len(selection.groups)
            notes.extend(f"{n} needs {', '.join(off)}, disabled in this environment: not waited for"
                         for n, off in selection.ignored.items())
            for rel in libs.library_releases(env):
                if rel.enabled:
                    continue
                live = target.helm.status(rel.name, namespace=rel.namespace)
                if live is not None:
                    entries.append(PlanEntry(rel.name, rel.namespace, rel.group, last_step + 1,
                                             f"{live.chart}@{live.chart_version}", DELETE,
                                             f"{live.chart}@{live.chart_version}", "disabled in this environment"))
        elif scope == "libraries":
            raise ConfigError(f"environment {env.name!r} declares no libraries",
                              hint="add a libraries: section to its environment file")
    if scope in ("all", "applications"):
        apps = applications(env)
        if not apps and scope == "applications":
            raise ConfigError(f"environment {env.name!r} declares no application release")
        installing = {e.name: e.action == INSTALL for e in entries}
        for rel in apps:
            prep = rel_ops.prepare(env, rel.name, allow_unknown=allow_unknown)
            reasons = libs.offline_reasons({**installing, rel.name: False},
                                           {**{r.name: r.needs for r in env.releases}})
            p = planmod.plan_release(target, prep, offline_reason=reasons.get(rel.name, ""), with_history=True)
            entries.append(entry_from(p, rel, step=last_step + 1, needs=rel.needs))
            prepared[rel.name] = prep
    # deletions run last (dependants first), after everything else is in place
    entries.sort(key=lambda e: (e.action == DELETE, e.step if e.action != DELETE else 0))
    return Planned(PlatformPlan(env.name, tuple(entries), tuple(notes)), prepared, selection, lib_plan)


# --- executing the plan ---------------------------------------------------------------------------------------


@dataclass
class Result:
    plan: PlatformPlan
    recap: libs.Recap
    run: RunState
    run_file: Path

    @property
    def failed(self) -> list[libs.Outcome]:
        return self.recap.failed

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "recap": self.recap.to_json(),
                "run": {"id": self.run.run_id, "status": self.run.status, "file": str(self.run_file),
                        "resumed_from": self.run.resumed_from or None}}


def deploy(target: Target, planned: Planned, *, io: Interaction, report: Reporter = _quiet,
           resume: Resume | None = None, scope: str = "all", concurrency: int = 1, timeout: int | None = None,
           cache_dir: Path | None = None, runs: Path | None = None) -> Result:
    """Run the plan: guards first (cluster, image tags, backups writable), typed confirmation when the plan
    changes something, the deploy Lease for the whole run, backups of what is about to change, the libraries by
    dependency group, then the application through the guarded deploy (health gate, verified rollback), then
    deletions. Each release's result is recorded as it settles, so ``--resume`` can continue after a failure."""
    env, plan = target.env, planned.plan
    started = time.monotonic()
    folder = runs or runs_dir(env.name)
    skip = set(resume.skip) if resume else set()
    state = RunState(new_run_id(), env.name, scope, [StepState(e.name, e.digest) for e in plan.entries],
                     started=datetime.now(UTC).isoformat(timespec="seconds"),
                     resumed_from=resume.previous if resume else "")
    outcomes: dict[str, libs.Outcome] = {}

    def settle(o: libs.Outcome) -> None:
        outcomes[o.name] = o
        s = state.step(o.name)
        if s is not None:
            s.state, s.detail = o.state, o.detail
            save_run(state, folder)

    # 1. The guard (cluster identity, the deploy Lease for the whole run), then checks that change nothing, then the
    # confirmation showing what changes, before anything is touched.
    apps = [e for e in plan.entries if e.group == APPLICATIONS and e.name not in skip]
    todo = [e for e in plan.entries if e.name not in skip]
    interrupted = True
    run_file: Path | None = None
    try:
        with guarded(target.kube, env, io=io, report=report, target=target) as guard:
            for e in apps:
                production.preflight(target, planned.prepared[e.name])
            if any(e.changes for e in todo):
                guard.confirm(f"deploy {', '.join(e.name for e in todo if e.changes)}")
            else:
                guard.confirmed = True  # nothing changes: nothing to confirm
            run_file = save_run(state, folder)
            report(f"run {state.run_id} (record {run_file})" + (f", resuming run {resume.previous}" if resume else ""))
            for name in (n for n in (e.name for e in plan.entries) if n in skip):
                settle(libs.Outcome(name, libs.SKIPPED, detail=f"already done in run "
                                    f"{resume.previous if resume else ''}", chart=plan.entry(name).chart))
            guard.check()
            _backup_before(target, plan, skip, report)
            failed = _libraries(target, planned, skip, settle, report=report, concurrency=concurrency,
                                timeout=timeout, cache_dir=cache_dir)
            for e in apps:
                if failed:
                    settle(libs.Outcome(e.name, libs.SKIPPED, detail="not started: a release before it failed",
                                        chart=e.chart))
                    continue
                failed = not _application(target, planned.prepared[e.name], e, settle, report=report,
                                          timeout=timeout, guard=guard)
            for e in (x for x in todo if x.action == DELETE):
                if failed:
                    settle(libs.Outcome(e.name, libs.SKIPPED, detail="not removed: a release before it failed"))
                    continue
                failed = not _delete(target, e, settle, report)
        interrupted = False
    finally:
        if run_file is not None:
            state.status = "failed" if interrupted or any(o.state == libs.FAILED for o in outcomes.values()) \
                else "succeeded"
            state.finished = datetime.now(UTC).isoformat(timespec="seconds")
            save_run(state, folder)
    assert run_file is not None
    recap = libs.Recap([outcomes[e.name] for e in plan.entries if e.name in outcomes], time.monotonic() - started)
    return Result(plan, recap, state, run_file)


def _backup_before(target: Target, plan: PlatformPlan, skip: set[str], report: Reporter) -> None:
    """Libraries about to be upgraded or deleted are backed up first (the application's backup is the
    guarded deploy's own step)."""
    env = target.env
    if not env.backup.enabled:
        return
    for e in plan.entries:
        if e.group == APPLICATIONS or e.name in skip or e.action not in (UPGRADE, DELETE):
            continue
        if e.plan is not None and e.plan.live is not None:
            record = backups.take_planned(target.helm, env, env.release(e.name), e.plan,
                                          reason=f"before platform {e.action}")
        else:
            record = backups.take(target.helm, env, env.release(e.name), reason=f"before platform {e.action}")
        if record is not None:
            report(f"backup of {e.name} revision {record.revision} written to {record.path}")


def _libraries(target: Target, planned: Planned, skip: set[str], settle: Callable[[libs.Outcome], None], *,
               report: Reporter, concurrency: int, timeout: int | None, cache_dir: Path | None) -> bool:
    """The libraries flow over the selection (minus what a resume skips); True when one failed. The caller
    holds the chart sources open (:func:`sources`)."""
    if planned.selection is None:
        return False
    names = [n for n in planned.selection.order if n not in skip]
    if not names:
        return False
    selection = planned.selection if len(names) == len(planned.selection.order) \
        else libs.order(target.env, only=names)
    recap = libs.deploy(target, selection, concurrency=concurrency, cache_dir=cache_dir, report=report,
                        timeout=timeout, on_outcome=settle, planned=planned.libraries)
    return bool(recap.failed)


def _application(target: Target, prep: Prepared, entry: PlanEntry, settle: Callable[[libs.Outcome], None], *,
                 report: Reporter, timeout: int | None, guard: Guard) -> bool:
    """The application through the guarded deploy (confirmed and locked by the platform run); True when ok."""
    t0 = time.monotonic()
    try:
        out = production.guarded_deploy(target, prep, io=guard.io, report=report, timeout=timeout, guard=guard,
                                        plan=entry.plan)
    except DeployError as e:
        settle(libs.Outcome(entry.name, libs.FAILED, time.monotonic() - t0, prep.redactor.text(str(e)),
                            chart=entry.chart))
        return False
    state = libs.OK if out.action == "unchanged" else libs.CHANGED
    settle(libs.Outcome(entry.name, state, time.monotonic() - t0,
                        "up to date" if state == libs.OK else f"{entry.action}ed" if entry.action == INSTALL
                        else "upgraded", out.revision, entry.chart))
    return True


def _delete(target: Target, entry: PlanEntry, settle: Callable[[libs.Outcome], None], report: Reporter) -> bool:
    t0 = time.monotonic()
    try:
        target.checkpoint()
        removed = target.helm.uninstall(entry.name, namespace=entry.namespace, wait="watcher", timeout=300)
    except DeployError as e:
        settle(libs.Outcome(entry.name, libs.FAILED, time.monotonic() - t0, str(e), chart=entry.chart))
        return False
    report(f"{entry.name}: uninstalled (disabled in this environment)")
    settle(libs.Outcome(entry.name, libs.CHANGED if removed else libs.OK, time.monotonic() - t0,
                        "uninstalled" if removed else "not installed", chart=entry.chart))
    return True


@contextlib.contextmanager
def sources(env: Environment, report: Reporter = _quiet) -> Iterator[None]:
    """The libraries' chart sources (the local stand-in repository) for the duration of a plan or run."""
    if libs.library_releases(env):
        with libs.chart_sources(env, report):
            yield
    else:
        yield
