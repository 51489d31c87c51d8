"""Flows for the libraries: cluster services (tier 1) and dev tools (tier 2) as ordered, pinned Helm releases.

``plan`` pulls every chart (cached by version), renders it and diffs it against the live release; ``deploy``
runs the releases in dependency order with bounded concurrency, each waiting healthy before its dependants
start; ``status`` and ``delete`` (reverse dependency order) complete the set. Every flow reports per release
through one :class:`Recap`, so one failure never hides the others' results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prjdevops import dag as dagmod
from prjdevops import hooks as hookdefs
from prjdevops.adapters.helm import chart_crd_kinds, load_chart_metadata, pull_chart, schema_problems
from prjdevops.environments import project_root
from prjdevops.errors import ConfigError, DeployError, HealthCheckFailed, HelmOperationError, ValuesError
from prjdevops.manifests import parse_manifest
from prjdevops.model import Environment, Release
from prjdevops.ops import plan as planmod
from prjdevops.ops import release as rel_ops
from prjdevops.ops.guarded import Guard, Interaction
from prjdevops.ops.guarded import guarded as guarded_ctx
from prjdevops.ops.hooks import HookFailed, HookRunner
from prjdevops.ops.hooks import log_dir as hook_log_dir
from prjdevops.ops.plan import ReleasePlan
from prjdevops.ops.release import Prepared, Reporter, Target, _quiet

GROUPS = ("cluster-services", "dev-tools")
OK, CHANGED, FAILED, SKIPPED = "ok", "changed", "failed", "skipped"


def serialized(report: Reporter) -> Reporter:
    """A reporter safe to call from the worker threads: whole lines, never interleaved."""
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            report(line)

    return say


CACHE_ENV = "PRJDEVOPS_CHART_CACHE"  # another cache folder (tests, CI caches)


def default_cache_dir() -> Path:
    """Pulled chart archives, one folder per repository: ``.prjdevops/charts/`` unless $PRJDEVOPS_CHART_CACHE."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser().resolve() if configured else project_root() / ".prjdevops" / "charts"


def standins_dir() -> Path:
    return project_root() / ".prjdevops" / "standins"


def library_releases(env: Environment) -> list[Release]:
    """The environment's libraries (enabled or not), in declaration order."""
    return [r for r in env.releases if r.group in GROUPS]


def order(env: Environment, *, only: Iterable[str] = (), tier: int | None = None) -> dagmod.Dag:
    """The libraries as a DAG; cycles, unknown needs and bad selections fail here, before anything runs."""
    nodes = [dagmod.Node(r.name, r.needs, r.tier, r.enabled) for r in library_releases(env)]
    if not nodes:
        raise ConfigError(f"environment {env.name!r} declares no libraries",
                          hint="add a libraries: section to its environment file")
    return dagmod.build(nodes, only=only, tier=tier)


@contextlib.contextmanager
def chart_sources(env: Environment, report: Reporter = _quiet, *, workdir: Path | None = None) -> Iterator[None]:
    """Make the environment's chart sources reachable for the duration of a flow.

    An environment with ``libraries.standins: true`` gets the stand-in repository on its loopback mirror URL,
    built and served by this process when nothing answers there yet (like the sandbox, on demand).
    """
    if not (env.libraries.standins and env.libraries.mirror):
        yield
        return
    from prjdevops.chartrepo import serve_standins

    # one folder per port: two repositories on different ports never rebuild each other's files
    port = env.libraries.mirror.rstrip("/").rsplit(":", 1)[-1]
    folder = workdir or standins_dir() / f"repo-{port}"
    repo = serve_standins(env.libraries.mirror, folder)
    if repo is not None:
        report(f"serving the stand-in chart repository at {repo.url} for this run")
    try:
        yield
    finally:
        if repo is not None:
            repo.stop()
            shutil.rmtree(folder, ignore_errors=True)  # built for this run only; the pulled charts stay cached


@contextlib.contextmanager
def guarded(target: Target, *, what: str, io: Interaction, report: Reporter = _quiet, summary: Sequence[str] = (),
            always_confirm: bool = False) -> Iterator[Guard]:
    """The environment's guards around a change of libraries (the one guard policy of ``ops.guarded``: the right
    cluster, the deploy Lease shared with the application flows, then the confirmation showing ``summary``;
    ``always_confirm``: deletes ask in every environment)."""
    with guarded_ctx(target.kube, target.env, io=io, report=report, target=target) as guard:
        guard.confirm(what, summary, always=always_confirm)
        yield guard


# --- fetching and preparing --------------------------------------------------------------------------------


def fetch(release: Release, cache_dir: Path) -> tuple[Path, bool]:
    """The chart to install: the in-repo folder, or the pulled archive (cached by repository and version)."""
    if release.local_chart:
        return Path(release.chart), False
    assert release.repo is not None and release.version is not None  # validated when the environment loaded
    return pull_chart(release.chart, repo=release.repo, version=release.version, cache_dir=cache_dir,
                      release=release.name)


def prepare(env: Environment, name: str, cache_dir: Path, *, allow_unknown: bool = False) -> Prepared:
    """Layered values checked against the chart's schema, bound to a chart Helm can install offline."""
    prep = rel_ops.prepare(env, name, allow_unknown=allow_unknown)
    chart, _ = fetch(prep.release, cache_dir)
    if not prep.release.local_chart:
        rel_ops.check_known_keys(chart, name, prep.values, allow_unknown=allow_unknown)
        problems = schema_problems(chart, prep.values.values)
        if problems:
            lines = [f"{key} (set in {prep.values.source_of(key)}): {reason}" for key, reason in problems]
            raise ValuesError(prep.redactor.text(f"release {name!r}: invalid values: " + "; ".join(lines)))
    # From here on the release installs from the cached archive: no second network round-trip.
    bound = dataclasses.replace(prep.release, chart=str(chart), repo=None, version=None)
    return Prepared(release=bound, values=prep.values, redactor=prep.redactor)


def chart_label(release: Release) -> str:
    if release.local_chart:
        try:
            return f"{Path(release.chart).name}@{load_chart_metadata(Path(release.chart)).get('version', '?')}"
        except ConfigError:
            return Path(release.chart).name
    return f"{release.chart}@{release.version}"


# --- plan ---------------------------------------------------------------------------------------------------


def plan_release(target: Target, prep: Prepared, *, offline_reason: str = "") -> ReleasePlan:
    """The release's plan (``ops.plan``): Helm's live state against Helm's server-side dry run."""
    return planmod.plan_release(target, prep, offline_reason=offline_reason)


@dataclass
class Plan:
    dag: dagmod.Dag
    releases: dict[str, ReleasePlan]
    prepared: dict[str, Prepared] = field(default_factory=dict)  # what each release would apply (for callers)
    env_hooks: tuple[hookdefs.Hook, ...] = ()  # the environment's hooks (its releases' own are in ``prepared``)

    @property
    def changes(self) -> bool:
        return any(p.changes for p in self.releases.values())

    def lines(self) -> list[str]:
        """Groups in order (like ``helmfile show-dag``), each release with what would change."""
        out: list[str] = []
        for i, group in enumerate(self.dag.groups, 1):
            out.append(f"group {i}:")
            for name in group:
                p = self.releases[name]
                needs = self.dag.needs.get(name, ())
                ext = self.dag.external.get(name, ())
                after = ", ".join([*needs, *(f"{e} (must already be deployed)" for e in ext)])
                out.append(f"  {name:<16} {p.namespace:<16} {p.summary()}" + (f"  [after {after}]" if after else ""))
                if p.validation != planmod.SERVER:
                    out.append(f"  {'':<16} note: {p.validation}")
                out.extend(f"  {'':<16}{line}" for line in p.hook_lines())
                if p.changes:  # summary first: objects per kind and the fields that change (diffs follow)
                    from prjdevops import summary

                    out.extend(f"  {'':<16}{line}" for line in summary.kind_table(p.diffs)
                               + summary.field_lines(p.diffs))
                if p.changes and name in self.prepared:  # the team's hooks that this release's change runs
                    steps = hookdefs.for_events(hookdefs.DEPLOY_EVENTS, self.env_hooks,
                                                self.prepared[name].release.hooks, builtins=["health"])
                    user = [h for e in hookdefs.DEPLOY_EVENTS for h in steps[e] if not h.builtin]
                    out.extend(f"  {'':<16}{line}" for line in hookdefs.plan_lines(user))
        for name, off in self.dag.ignored.items():
            out.append(f"note: {name} needs {', '.join(off)}, disabled in this environment: not waited for")
        return out


def plan(target: Target, selection: dagmod.Dag, *, cache_dir: Path | None = None,
         concurrency: int = 4, allow_unknown: bool = False) -> Plan:
    """Pull and prepare every selected release, read Helm's state of all (one list, then one read of each
    installed one), then plan each against Helm's server-side dry run (in parallel). A release whose needs this
    same run installs is rendered offline and marked not validated: its CRDs are not served yet."""
    cache = cache_dir or default_cache_dir()
    env = target.env

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        prepared = {name: pool.submit(prepare, env, name, cache, allow_unknown=allow_unknown)
                    for name in selection.order}
        errors = []
        preps: dict[str, Prepared] = {}
        for name, fut in prepared.items():
            try:
                preps[name] = fut.result()
            except DeployError as e:
                errors.append(str(e))
        if errors:
            raise DeployError("; ".join(errors))
        found = planmod.read_all_live(target, [(preps[n].release.name, preps[n].release.namespace)
                                               for n in selection.order])
        live = {name: found[(preps[name].release.name, preps[name].release.namespace)] for name in selection.order}
        reasons = offline_reasons({n: r.info is None for n, r in live.items()},
                                  {r.name: r.needs for r in library_releases(env)})
        planned = {name: pool.submit(planmod.plan_release, target, preps[name], live=live[name],
                                     offline_reason=reasons.get(name, "")) for name in selection.order}
        plans = {name: fut.result() for name, fut in planned.items()}
    check_crd_order({n: (preps[n], list(plans[n].desired)) for n in selection.order}, env)
    return Plan(selection, plans, preps, env_hooks=env.hooks)


def offline_reasons(installing: Mapping[str, bool], needs: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Releases that cannot be validated by a server-side dry run yet: what they need is installed by this same
    run first (its CRDs are not served). ``installing``: release -> not installed yet (pure)."""
    out = {}
    for name in installing:
        pending = sorted(n for n in dagmod.transitive_needs(name, needs) if installing.get(n))
        if pending:
            more = f" (+{len(pending) - 1})" if len(pending) > 1 else ""
            out[name] = f"not validated: needs {pending[0]}{more}, installed by this run first"
    return out


# --- CRDs before their resources ------------------------------------------------------------------------------


def crd_problems(uses: Mapping[str, set[tuple[str, str]]], provides: Mapping[str, set[tuple[str, str]]],
                 needs: Mapping[str, Sequence[str]]) -> list[str]:
    """A release that creates objects of a kind another release's CRD defines must need that release.

    ``uses``/``provides`` map release -> {(group, kind)}; ``needs`` is every release's direct needs (pure).
    """
    out = []
    for name in sorted(uses):
        before = dagmod.transitive_needs(name, needs)
        for group, kind in sorted(uses[name]):
            owners = sorted(o for o, kinds in provides.items() if (group, kind) in kinds and o != name)
            if owners and not set(owners) & before:
                out.append(f"release {name!r} creates {kind} ({group}) whose CRD release {owners[0]!r} installs,"
                           f" but does not need it: add {owners[0]} to its needs")
    return out


def _kinds(objects: Iterable[Mapping[str, Any]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(kinds used, kinds defined by CRD templates) of rendered objects."""
    used: set[tuple[str, str]] = set()
    defined: set[tuple[str, str]] = set()
    for obj in objects:
        api = str(obj.get("apiVersion", ""))
        group = api.split("/", 1)[0] if "/" in api else ""
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            defined.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
        elif group and "." in group and not group.endswith(".k8s.io"):
            used.add((group, str(obj.get("kind"))))
    return used, defined


def check_crd_order(preps: Mapping[str, tuple[Prepared, list[dict[str, Any]]]], env: Environment) -> None:
    """Refuse, before anything runs, a release using a CRD kind without needing the release defining it."""
    uses: dict[str, set[tuple[str, str]]] = {}
    provides: dict[str, set[tuple[str, str]]] = {}
    for name, (prep, objects) in preps.items():
        used, defined = _kinds(objects)
        uses[name] = used
        provides[name] = defined | set(chart_crd_kinds(Path(prep.release.chart)))
    found = crd_problems(uses, provides, {r.name: r.needs for r in library_releases(env)})
    if found:
        raise dagmod.DagError("CRDs must be installed before resources of their kinds: " + "; ".join(found))


# --- deploy -------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One release's result in a run."""

    name: str
    state: str  # ok | changed | failed | skipped
    seconds: float = 0.0
    detail: str = ""
    revision: int | None = None
    chart: str = ""


@dataclass
class Recap:
    """Every selected release's outcome, in dependency order (like an Ansible play recap)."""

    outcomes: list[Outcome]
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == FAILED]

    def counts(self) -> dict[str, int]:
        return {s: sum(o.state == s for o in self.outcomes) for s in (OK, CHANGED, FAILED, SKIPPED)}

    def lines(self) -> list[str]:
        from prjdevops.output import table

        rows = [[o.name, o.state, f"{o.seconds:.1f}s", o.chart, o.revision or "", o.detail]
                for o in self.outcomes]
        c = self.counts()
        tail = (f"recap: ok={c[OK]} changed={c[CHANGED]} failed={c[FAILED]} skipped={c[SKIPPED]}"
                f" in {self.seconds:.1f}s")
        return [*table(["RELEASE", "RESULT", "TIME", "CHART", "REVISION", "DETAIL"], rows), tail]

    def to_json(self) -> dict[str, Any]:
        return {"outcomes": [dataclasses.asdict(o) for o in self.outcomes], "counts": self.counts(),
                "seconds": round(self.seconds, 3)}


def _deploy_one(target: Target, prep: Prepared, report: Reporter, timeout: int | None,
                known: ReleasePlan | None = None) -> Outcome:
    started = time.monotonic()
    rel = prep.release
    # A plan the server validated is used as it is; one rendered offline (its needs were not installed yet) is
    # made again now that they are.
    p = known if known is not None and known.validation == planmod.SERVER else plan_release(target, prep)
    if not p.changes:
        # Nothing to apply; still the gate for dependants: it must be healthy now.
        objects = parse_manifest(p.live.manifest if p.live else "", rel.namespace)
        snap = rel_ops.wait_healthy(target.kube, objects, rel.namespace, timeout=timeout or rel.timeout,
                                    label=f"  {rel.name}: ")
        revision = p.live.revision if p.live else None
        if not snap.healthy:
            return Outcome(rel.name, FAILED, time.monotonic() - started,
                           prep.redactor.text(f"unchanged but not healthy: {rel_ops.stuck_message(snap)}"),
                           revision, p.chart_to)
        report(f"{rel.name}: up to date ({p.chart_to}, healthy)")
        return Outcome(rel.name, OK, time.monotonic() - started, "up to date", revision, p.chart_to)
    report(f"{rel.name}: {p.summary()}")
    # The team's hooks around this release's change (README "Hooks"): in this flow the plan was made and confirmed
    # for the whole selection already, so `prepare` runs here, right before `pre-deploy`, for a release that changes.
    hooks = hookdefs.for_events(hookdefs.DEPLOY_EVENTS, target.env.hooks, rel.hooks, builtins=["health"])
    runner = HookRunner(target.env, rel, redact=prep.redactor.text, report=report, log_dir=hook_log_dir(target.env))
    runner.run(hooks["prepare"], event="prepare")
    target.checkpoint()
    runner.run(hooks["pre-deploy"], event="pre-deploy", revision=p.live.revision if p.live else None)
    try:
        result = rel_ops.deploy(target, prep, wait=True, timeout=timeout, report=report,
                                verb="libraries deploy", plan=p)
        runner.run(hooks["post-deploy"], event="post-deploy", revision=result.revision)
    except (HealthCheckFailed, HelmOperationError, HookFailed) as err:
        runner.run(hooks["on-failure"], event="on-failure", extra={"PRJDEVOPS_ERROR": prep.redactor.text(
            err.message)}, stop_on_failure=False)
        raise
    return Outcome(rel.name, CHANGED, time.monotonic() - started, "installed" if p.action.kind == planmod.INSTALL
                   else "upgraded", result.revision, result.chart)


def deploy(target: Target, selection: dagmod.Dag, *, concurrency: int = 1, continue_on_error: bool = False,
           cache_dir: Path | None = None, report: Reporter = _quiet, timeout: int | None = None,
           on_outcome: Callable[[Outcome], None] | None = None, planned: Plan | None = None,
           allow_unknown: bool = False) -> Recap:
    """Deploy the selection in dependency order, at most ``concurrency`` releases at a time.

    A release starts once every release it needs is ``ok``/``changed`` (i.e. deployed and healthy). When one
    fails, nothing new starts (``continue_on_error``: only its dependants are skipped and independent branches
    go on); releases already running finish. Every release gets an outcome; ``on_outcome`` hears each as it
    settles (the platform flow records them for ``--resume``). ``planned``: a plan of these releases the caller
    has just made (and shown, and had confirmed): its pulled and checked charts and its actions are used as they
    are instead of being prepared and planned a second time.
    """
    started = time.monotonic()
    env = target.env
    cache = cache_dir or default_cache_dir()
    report = serialized(report)
    outcomes: dict[str, Outcome] = {}
    lock = threading.Lock()

    def settle(o: Outcome) -> None:
        with lock:
            outcomes[o.name] = o
            if on_outcome is not None:
                on_outcome(o)

    # 1. Releases outside the selection that selected ones need must already be deployed.
    for name, ext in selection.external.items():
        missing = [e for e in ext if not _deployed(target, env.release(e))]
        if missing:
            settle(Outcome(name, SKIPPED, detail=f"needs {', '.join(missing)}, not deployed and not selected"
                                                 f" (add to --only, or deploy it first)"))
    # 2. Pull and prepare every chart first: a bad repository fails before the cluster is touched.
    preps: dict[str, tuple[Prepared, list[dict[str, Any]]]] = {}
    if planned is not None:  # pulled, planned and CRD-checked by plan() already
        preps = {n: (planned.prepared[n], []) for n in selection.order if n not in outcomes}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        pending = {n: pool.submit(_prepare_rendered, env, n, cache, allow_unknown) for n in selection.order
                   if n not in outcomes and n not in preps}
        for name, prep_future in pending.items():
            t0 = time.monotonic()
            try:
                preps[name] = prep_future.result()
            except DeployError as e:
                settle(Outcome(name, FAILED, time.monotonic() - t0, str(e),
                               chart=chart_label(env.release(name))))
    if planned is None:
        check_crd_order(preps, env)
    if any(o.state == FAILED for o in outcomes.values()) and not continue_on_error:
        for name in selection.order:
            if name not in outcomes:
                settle(Outcome(name, SKIPPED, detail="not started: a chart could not be prepared"))
        return _recap(selection, outcomes, started)
    # 3. Run: start whatever has its needs met, bounded.
    stop = False
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="library") as pool:
        running: dict[Future[Outcome], tuple[str, float]] = {}
        while True:
            with lock:
                done_names = dict(outcomes)
            settled_before = len(done_names)
            for name in selection.order:
                if name in done_names or any(n == name for n, _ in running.values()):
                    continue
                needs = selection.needs.get(name, ())
                bad = [n for n in needs if n in done_names and done_names[n].state in (FAILED, SKIPPED)]
                if bad:
                    settle(Outcome(name, SKIPPED, detail=f"needs {', '.join(bad)}, which "
                                   f"{'failed' if done_names[bad[0]].state == FAILED else 'was skipped'}"))
                    continue
                if stop or len(running) >= max(1, concurrency):
                    continue
                if all(n in done_names and done_names[n].state in (OK, CHANGED) for n in needs):
                    job = pool.submit(_deploy_one, target, preps[name][0], report, timeout,
                                      planned.releases.get(name) if planned is not None else None)
                    running[job] = (name, time.monotonic())
            if not running:
                with lock:
                    left = [n for n in selection.order if n not in outcomes]
                if not left:
                    break
                if stop:
                    for n in left:
                        settle(Outcome(n, SKIPPED, detail="not started: an earlier release failed"
                                                          " (use --continue-on-error to go on with independent ones)"))
                    break
                if len(outcomes) > settled_before:
                    continue  # skips settled in this pass may unblock more releases: look again
                for n in left:  # unreachable with a validated DAG; never spin
                    settle(Outcome(n, SKIPPED, detail="not started: its needs could not be met"))
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for finished in done:
                name, t0 = running.pop(finished)
                try:
                    outcome = finished.result()
                except DeployError as e:  # Helm's message can quote rendered values: redact it too
                    outcome = Outcome(name, FAILED, time.monotonic() - t0,
                                      preps[name][0].redactor.text(_failure_text(e, env.name)),
                                      chart=chart_label(env.release(name)))
                except Exception as e:  # an unexpected bug must not hide the other releases' results
                    outcome = Outcome(name, FAILED, time.monotonic() - t0, f"{type(e).__name__}: {e}",
                                      chart=chart_label(env.release(name)))
                settle(outcome)
                report(f"{name}: {outcome.state} ({outcome.seconds:.1f}s)"
                       + (f": {outcome.detail}" if outcome.state == FAILED else ""))
                if outcome.state == FAILED and not continue_on_error:
                    stop = True
    return _recap(selection, outcomes, started)


def _prepare_rendered(env: Environment, name: str, cache: Path,
                      allow_unknown: bool = False) -> tuple[Prepared, list[dict[str, Any]]]:
    """Pull, layer and render offline: a chart that cannot render fails here, before the cluster is touched."""
    prep = prepare(env, name, cache, allow_unknown=allow_unknown)
    return prep, parse_manifest(rel_ops.render_for(prep, prep.release.namespace), prep.release.namespace)


def _failure_text(e: DeployError, env: str) -> str:
    """The error, plus Helm's own message when a health failure hides it."""
    text = str(e)
    if isinstance(e, HealthCheckFailed):  # the application flow's hint names stg.status; point at ours
        text = f"{e.message} (inspect with invoke libraries.status --env {env}, or raise --timeout)"
    cause = e.__cause__
    if isinstance(cause, HelmOperationError) and cause.detail not in text:
        return f"{text} (helm: {cause.detail})"
    return text


def _deployed(target: Target, release: Release) -> bool:
    info = target.helm.status(release.name, namespace=release.namespace)
    return info is not None and info.status == "deployed"


def _recap(selection: dagmod.Dag, outcomes: Mapping[str, Outcome], started: float) -> Recap:
    return Recap([outcomes[n] for n in selection.order if n in outcomes], time.monotonic() - started)


# --- status -------------------------------------------------------------------------------------------------


@dataclass
class LibraryStatus:
    name: str
    namespace: str
    tier: int
    enabled: bool
    chart: str  # live chart@version, or the pinned one when not installed
    pinned: str
    revision: int | None
    status: str  # Helm's status, "not installed" or "disabled"
    ready: str  # "3/3" ready workloads
    healthy: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def status(target: Target, selection: dagmod.Dag | None = None) -> list[LibraryStatus]:
    """One row per library (dependency order; disabled ones last): live chart, revision, readiness."""
    env = target.env
    names = list(selection.order) if selection else [n for n in order(env).order]
    rows = []
    for name in [*names, *(r.name for r in library_releases(env) if not r.enabled and selection is None)]:
        rel = env.release(name)
        pinned = chart_label(rel)
        if not rel.enabled:
            rows.append(LibraryStatus(name, rel.namespace, rel.tier, False, pinned, pinned, None, "disabled",
                                      "-", True))
            continue
        info = target.helm.status(rel.name, namespace=rel.namespace)
        if info is None:
            rows.append(LibraryStatus(name, rel.namespace, rel.tier, True, pinned, pinned, None, "not installed",
                                      "-", False))
            continue
        snap = rel_ops.snapshot(target.kube, parse_manifest(info.manifest, rel.namespace), rel.namespace)
        ready = f"{sum(w.ready for w in snap.workloads)}/{len(snap.workloads)}" if snap.workloads else "-"
        rows.append(LibraryStatus(name, rel.namespace, rel.tier, True, f"{info.chart}@{info.chart_version}", pinned,
                                  info.revision, info.status, ready, snap.healthy and info.status == "deployed"))
    return rows


# --- delete -------------------------------------------------------------------------------------------------


def delete(target: Target, selection: dagmod.Dag, *, report: Reporter = _quiet, concurrency: int = 1,
           timeout: int = 300) -> Recap:
    """Uninstall in reverse dependency order (dependants first), a group at a time; CRDs marked keep stay."""
    started = time.monotonic()
    env = target.env
    outcomes: dict[str, Outcome] = {}
    failed_any = False

    def one(name: str) -> Outcome:
        t0 = time.monotonic()
        rel = env.release(name)
        hooks = hookdefs.for_events(("pre-delete", "post-delete"), env.hooks, rel.hooks)
        runner = HookRunner(env, rel, report=report, log_dir=hook_log_dir(env))
        target.checkpoint()
        runner.run(hooks["pre-delete"], event="pre-delete")
        removed = target.helm.uninstall(rel.name, namespace=rel.namespace, wait="watcher", timeout=timeout)
        runner.run(hooks["post-delete"], event="post-delete")
        return Outcome(name, CHANGED if removed else OK, time.monotonic() - t0,
                       "uninstalled" if removed else "not installed")

    for group in selection.reversed_groups():
        if failed_any:
            for name in group:
                outcomes[name] = Outcome(name, SKIPPED, detail="not removed: a dependant failed to uninstall")
            continue
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futs = {name: pool.submit(one, name) for name in group}
            for name, fut in futs.items():
                try:
                    outcomes[name] = fut.result()
                except DeployError as e:
                    outcomes[name] = Outcome(name, FAILED, detail=str(e))
                    failed_any = True
                report(f"{name}: {outcomes[name].detail}")
    return Recap([outcomes[n] for n in reversed(selection.order) if n in outcomes], time.monotonic() - started)

