"""Flows for one Helm release of an environment: prepare, deploy (with progress), diff, status, delete.

Composes the Helm and Kubernetes adapters. Output goes through a ``Reporter`` callback so the library never
prints by itself and tests can capture every line.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prjdevops.adapters.helm import (
    HelmClient,
    ReleaseInfo,
    chart_value_keys,
    new_cancel_token,
    render,
    schema_problems,
    transient_message,
)
from prjdevops.adapters.kube import KubeClient
from prjdevops.errors import DeployError, HealthCheckFailed, HelmOperationError, RecordNotStored, ValuesError
from prjdevops.health import READINESS, WORKLOAD_KINDS, pod_problem, pod_ready, pod_restarts, selector_string
from prjdevops.manifests import ObjectDiff, parse_manifest
from prjdevops.model import Environment, Release
from prjdevops.ops.plan import LiveState, ReleasePlan
from prjdevops.values import (
    LayeredValues,
    Redactor,
    layer,
    non_finite,
    out_of_int64,
    unknown_keys,
    unknown_values_message,
)

if TYPE_CHECKING:
    from prjdevops.ops.guarded import Interaction

Reporter = Callable[[str], None]
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # the OCI distribution spec's tag grammar
WATCH_LOST = re.compile(r"not ready\. status: unknown", re.I)
# Failures Helm's client caches (discovery, the OpenAPI download for validation; a group missing from a partial
# discovery makes the watcher's status Unknown every time): only a fresh handle gets past them.
STALE_CLIENT = re.compile(r"openapi|discovery|server version|unable to build kubernetes objects|resource list|"
                          r"status: unknown|no matches for kind", re.I)


def _quiet(_: str) -> None:
    pass


def status_command(env: Environment) -> str:
    """The command that shows a release of ``env`` (hints name it): prod.* where the environment is guarded."""
    area = "prod" if env.name == "production" or env.guards.confirm else "stg"
    return f"invoke {area}.status --env {env.name}"


def _no_guard() -> None:
    return None


@dataclass
class Target:
    """An environment bound to its cluster: the adapters every flow needs. ``checkpoint`` runs before every Helm
    write: inside ``ops.guarded`` it stops the flow when another run took the environment's deploy Lease."""

    env: Environment
    kube: KubeClient
    helm: HelmClient
    checkpoint: Callable[[], None] = _no_guard
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        self.helm.close()
        for fn in self.on_close:
            fn()
        self.on_close.clear()
        self.kube.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(env: Environment) -> Target:
    """Adapters for the environment's kubeconfig + context (nothing is contacted yet). Helm's own client reaches
    the API server through a retrying loopback proxy (``adapters/apiproxy.py``; ``PRJDEVOPS_HELM_PROXY=0`` turns
    it off), started on Helm's first action and stopped with the target."""
    import os

    from prjdevops.adapters.kube import kubeconfig_path

    kube = KubeClient(env.cluster)
    if os.environ.get(HELM_PROXY_ENV, "1") == "0":
        return Target(env=env, kube=kube, helm=HelmClient(kubeconfig=kubeconfig_path(env.cluster),
                                                          context=env.cluster.context,
                                                          server_validates=kube.validates_writes))
    proxy = _ProxyForHelm(kube)
    helm = HelmClient(kubeconfig=kubeconfig_path(env.cluster), context=env.cluster.context, via=proxy.start,
                      server_validates=kube.validates_writes)
    target = Target(env=env, kube=kube, helm=helm)
    target.on_close.append(proxy.stop)
    return target


HELM_PROXY_ENV = "PRJDEVOPS_HELM_PROXY"


class _ProxyForHelm:
    """The retrying proxy of one target, with its private kubeconfig (a 0700 temporary folder)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.proxy: Any = None
        self.folder: Path | None = None

    def start(self) -> tuple[Path, str]:
        import tempfile

        from prjdevops.adapters.apiproxy import RetryingProxy

        def heard(line: str) -> None:
            if self.kube.on_retry is not None:
                self.kube.on_retry(line)

        self.proxy = RetryingProxy(self.kube.upstream(), on_retry=heard).start()
        self.folder = Path(tempfile.mkdtemp(prefix="prjdevops-helm-"))
        return self.proxy.kubeconfig(self.folder / "kubeconfig"), "prjdevops-proxy"

    def last_failure(self) -> str | None:
        return self.proxy.last_failure if self.proxy is not None else None

    def stop(self) -> None:
        import shutil

        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@dataclass
class Prepared:
    """A release with its layered values, ready to render or deploy."""

    release: Release
    values: LayeredValues
    redactor: Redactor

    @property
    def chart_dir(self) -> Path:
        return Path(self.release.chart)


def prepare(env: Environment, name: str, *, values_files: Sequence[Path] = (),
            sets: Sequence[str] = (), allow_unknown: bool = False) -> Prepared:
    """Layer the release's values and check them against the chart's schema, naming the file and key. A key the
    chart neither has nor allows (a typo) is refused unless ``allow_unknown``."""
    release = env.release(name)
    for f in values_files:
        if not Path(f).exists():
            raise ValuesError(f"values file {f} does not exist")
        if not Path(f).is_file():
            raise ValuesError(f"values file {f} is not a regular file")
    layered = layer(release, extra_files=values_files, sets=sets)
    redactor = layered.redactor()
    image = layered.values.get("image")
    tag = image.get("tag") if isinstance(image, dict) else None
    if isinstance(tag, str) and tag and not IMAGE_TAG.fullmatch(tag):
        raise ValuesError(f"release {name!r}: image.tag (set in {layered.source_of('image.tag')}) is not a valid "
                          "image tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'")
    # numbers Helm's JSON values cannot carry as they are: refused here, naming the key and its layer, not deep in Helm
    for key, number in non_finite(layered.values):
        raise ValuesError(f"release {name!r}: {key} is {number} (set in {layered.source_of(key)}): a number YAML "
                          "reads as infinite or not a number; Helm's values are JSON, which has neither",
                          hint="write a finite number, or quote it to pass a string")
    for key in out_of_int64(layered.values):
        raise ValuesError(f"release {name!r}: {key} (set in {layered.source_of(key)}): number out of the 64-bit "
                          "integer range")
    if release.local_chart:
        check_known_keys(Path(release.chart), name, layered, allow_unknown=allow_unknown)
        problems = schema_problems(Path(release.chart), layered.values)
        if problems:
            lines = [f"{key} (set in {layered.source_of(key)}): {reason}" for key, reason in problems]
            raise ValuesError(redactor.text(f"release {name!r}: invalid values: " + "; ".join(lines)))
    return Prepared(release=release, values=layered, redactor=redactor)


def check_known_keys(chart: Path, name: str, layered: LayeredValues, *, allow_unknown: bool = False) -> None:
    """Refuse keys the chart neither has in values.yaml nor allows in values.schema.json (typos), naming the key,
    the layer that set it and the nearest known key."""
    if allow_unknown:
        return
    defaults, schema = chart_value_keys(chart)
    found = unknown_keys(layered.values, defaults, schema)
    if found:
        raise ValuesError(layered.redactor().text(unknown_values_message(name, layered, found)),
                          hint="fix the key, or pass --allow-unknown-values if the chart reads it anyway")


# --- health & progress ---------------------------------------------------------------------------------


@dataclass
class WorkloadState:
    kind: str
    name: str
    namespace: str
    ready: bool
    detail: str


@dataclass
class PodState:
    name: str
    ready: bool
    phase: str
    restarts: int
    reason: str
    age_seconds: float = 0.0


@dataclass
class HealthSnapshot:
    workloads: list[WorkloadState] = field(default_factory=list)
    pods: list[PodState] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(w.ready for w in self.workloads)

    def not_ready_pods(self) -> list[PodState]:
        return [p for p in self.pods if not p.ready]

    def line(self) -> str:
        parts = [f"{w.kind.lower()}/{w.name} {w.detail}" for w in self.workloads]
        ready = sum(p.ready for p in self.pods)
        text = "; ".join(parts) or "no workloads"
        return f"{text}; pods ready {ready}/{len(self.pods)}"


def _read(kube: KubeClient, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    readers = {
        "Deployment": kube.apps().read_namespaced_deployment,
        "StatefulSet": kube.apps().read_namespaced_stateful_set,
        "DaemonSet": kube.apps().read_namespaced_daemon_set,
        "Job": kube.batch().read_namespaced_job,
    }
    obj = kube.get_or_none(f"read {kind}/{name}", readers[kind], name, namespace)
    if obj is None:
        return None
    data: dict[str, Any] = kube.api_client.sanitize_for_serialization(obj)
    return data


def snapshot(kube: KubeClient, objects: Iterable[dict[str, Any]], namespace: str) -> HealthSnapshot:
    """Read every workload of a release and its pods; readiness from the predicate table."""
    snap = HealthSnapshot()
    now = time.time()
    seen_pods: set[str] = set()
    for obj in objects:
        kind = str(obj.get("kind"))
        if kind not in WORKLOAD_KINDS:
            continue
        meta = obj.get("metadata") or {}
        name, ns = str(meta.get("name")), str(meta.get("namespace") or namespace)
        live = _read(kube, kind, name, ns)
        if live is None:
            snap.workloads.append(WorkloadState(kind, name, ns, False, "not created yet"))
            continue
        ready, detail = READINESS[kind](live)
        snap.workloads.append(WorkloadState(kind, name, ns, ready, detail))
        selector = (live.get("spec") or {}).get("selector") or {}
        sel = selector_string(selector.get("matchLabels")) if kind != "Job" else f"job-name={name}"
        if not sel:
            continue
        for pod in kube.pods(ns, sel):
            pd: dict[str, Any] = kube.api_client.sanitize_for_serialization(pod)
            pname = str((pd.get("metadata") or {}).get("name"))
            if pname in seen_pods or (pd.get("metadata") or {}).get("deletionTimestamp"):
                continue
            seen_pods.add(pname)
            ok, why = pod_ready(pd)
            created = (pd.get("metadata") or {}).get("creationTimestamp")
            age = now - _ts(created) if created else 0.0
            snap.pods.append(PodState(pname, ok, str((pd.get("status") or {}).get("phase", "")),
                                      pod_restarts(pd), "" if ok else why or pod_problem(pd), age))
    return snap


def _ts(value: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def wait_healthy(kube: KubeClient, objects: list[dict[str, Any]], namespace: str, *, timeout: float,
                 report: Reporter = _quiet, interval: float = 0.5, stop: threading.Event | None = None,
                 label: str = "", shown_timeout: float | None = None) -> HealthSnapshot:
    """Poll until every workload is ready or ``timeout`` passes; reports progress when it changes (the countdown
    counts down ``shown_timeout`` when given: the timeout the operator set)."""
    start = time.monotonic()
    deadline = start + timeout
    shown = start + (shown_timeout if shown_timeout is not None else timeout)
    last = ""
    while True:
        snap = snapshot(kube, objects, namespace)
        now = time.monotonic()
        left, shown_left = max(0.0, deadline - now), max(0.0, shown - now)
        line = f"{label}{snap.line()} ({shown_left:.0f}s left)"
        if snap.line() != last:
            report(line)
            for p in snap.not_ready_pods():
                report(f"    pod {p.name}: {p.reason}")
            last = snap.line()
        if snap.healthy or left <= 0 or (stop is not None and stop.is_set()):
            return snap
        if stop is not None:
            stop.wait(min(interval, left))  # wakes as soon as the caller's work ends, not up to interval later
        else:
            time.sleep(min(interval, left))


def stuck_message(snap: HealthSnapshot) -> str:
    stuck = snap.not_ready_pods()
    workloads = [f"{w.kind.lower()}/{w.name} ({w.detail})" for w in snap.workloads if not w.ready]
    pods = "; ".join(f"{p.name}: {p.reason}" for p in stuck[:5]) or "no pods were created"
    more = f" and {len(stuck) - 5} more" if len(stuck) > 5 else ""
    return f"not ready: {', '.join(workloads) or 'workloads'}; stuck pods: {pods}{more}"


# --- Helm writes under transient API failures ------------------------------------------------------------


def apply_with_recovery(target: Target, rel: Release, action: str, do: Callable[[], ReleaseInfo], *,
                        before: ReleaseInfo | LiveState | None, report: Reporter = _quiet,
                        stopped: Callable[[], bool] = lambda: False,
                        healthy: Callable[[], bool] | None = None, locked: bool = False) -> ReleaseInfo:
    """Run a Helm write (``do``: upgrade-or-install, rollback); after a transient API failure (429/5xx, no
    connection) look at the release before anything else, never repeating the write blindly:

    * a new revision that is ``deployed``: the write went through after all (only its answer was lost): done;
    * no new revision, or a new one ``failed``: Helm recorded nothing or a failed attempt; a Helm upgrade or
      rollback applies the whole desired state again (it is declarative), so it is tried again, with the
      Kubernetes adapter's bounded backoff and total time cap;
    * a new revision left ``pending-*``: Helm could not record the outcome, and another write would be refused
      ("another operation is in progress"). With ``locked`` (the caller holds the environment's deploy Lease, so
      no other run is writing this release and the pending revision is our own, finished attempt) it is rolled
      back to the last deployed revision, as ``--recover`` does, and the write is tried again; otherwise stop and
      say how to recover.

    Helm's ``watcher`` wait watches again when a stream drops, but a *list* answered 5xx leaves a resource's status
    ``Unknown`` (at once, or when its timeout ends). When ``healthy`` (the flow's own polling reads) says the
    workloads are ready, such a verdict is the lost view, not the workloads, and is handled as transient too.
    Anything else (a real refusal, a wait that timed out on workloads that are not ready) is raised as it is.
    """
    # One Helm action is some 40 API requests, none of which Helm's own client retries (client-go only retries an
    # answer carrying Retry-After): it gets more attempts and time than a single request does, still bounded.
    base = target.kube.retry
    policy = dataclasses.replace(base, attempts=base.attempts * 3, total=base.total * 4)
    started = time.monotonic()
    attempt = 0
    handed_over = False
    while True:
        target.checkpoint()  # the Lease is still ours: nobody else writes this release meanwhile
        try:
            return do()
        except HelmOperationError as err:
            if not handed_over and before is not None and not stopped() and hand_over_fields(target, rel, err,
                                                                                              report):
                handed_over = True  # once: a second conflict is someone else's
                continue
            attempt += 1
            lost_watch = healthy is not None and WATCH_LOST.search(err.detail) is not None and healthy()
            unrecorded = isinstance(err, RecordNotStored)  # applied, but Helm could not store the outcome
            if not (transient_message(err.detail) or lost_watch or unrecorded) or stopped():
                raise
            wait = policy.delay(attempt - 1)
            now = target.helm.status(rel.name, namespace=rel.namespace)
            new = now is not None and (before is None or now.revision != before.revision)
            if new and now is not None and now.status == "deployed":
                report(f"  {rel.name}: helm {action} hit a transient API error ({err.detail[:80]}) but revision "
                       f"{now.revision} is deployed: done")
                return now
            if new and now is not None and now.status in PENDING and locked:
                good = [h for h in target.helm.history(rel.name, namespace=rel.namespace)
                        if h.status in ("deployed", "superseded") and h.revision < now.revision]
                last_good = good[-1].revision if good else 0
                if good and attempt < policy.attempts and time.monotonic() - started + wait <= policy.total:
                    what = ("applied but could not store its outcome" if unrecorded
                            else f"hit a transient API error ({err.detail[:80]})")
                    report(f"  {rel.name}: helm {action} {what} and left revision {now.revision} {now.status}: "
                           f"rolling back to revision {last_good}, then trying again")
                    before = apply_with_recovery(
                        target, rel, "rollback", functools.partial(
                            target.helm.rollback, rel.name, revision=last_good, namespace=rel.namespace,
                            timeout=target.env.guards.rollback_timeout),
                        before=now, report=report, stopped=stopped, locked=False)
                    time.sleep(wait)
                    continue
                if before is None and not good and attempt < policy.attempts:
                    # our own first install, nothing of it was ever recorded deployed: Helm has no earlier revision
                    # to roll back to, and refuses another install of the name while it is pending
                    report(f"  {rel.name}: helm {action} left revision {now.revision} {now.status} "
                           f"({err.detail[:400]}); no earlier revision: uninstalling it, then installing again")
                    target.helm.uninstall(rel.name, namespace=rel.namespace)
                    time.sleep(wait)
                    continue
            if new and now is not None and now.status in PENDING:
                raise HelmOperationError(
                    action, rel.name, rel.namespace,
                    f"{err.detail}; revision {now.revision} was left {now.status}",
                    hint=f"roll it back with invoke prod.deploy --env {target.env.name} --recover",
                ) from err
            if attempt >= policy.attempts or time.monotonic() - started + wait > policy.total:
                raise HelmOperationError(action, rel.name, rel.namespace,
                                         f"{err.detail} (gave up after {attempt} attempts)",
                                         hint="the Kubernetes API keeps failing: check it, then rerun") from err
            state = f"revision {now.revision} {now.status}" if new and now is not None else "nothing recorded"
            report(f"  {rel.name}: helm {action} hit a transient API error ({err.detail[:80]}); {state}: "
                   f"trying again in {wait:.1f}s")
            if before is None and new and now is not None and now.status == "failed":
                # our own first install failed (e.g. a webhook not ready yet): Helm refuses to install a name that
                # is still in use, so the failed record goes first (nothing of it ever ran: there was no release)
                target.helm.uninstall(rel.name, namespace=rel.namespace)
            if STALE_CLIENT.search(err.detail):
                target.helm.reset(rel.namespace)
            time.sleep(wait)


def hand_over_fields(target: Target, rel: Release, err: HelmOperationError, report: Reporter) -> bool:
    """When Helm's server-side apply conflicted only with earlier Helm runs of this release from another program
    (``prjdevops/fieldowners.py``: Helm names its field manager after argv[0]), give their fields to this run's
    manager; True when that was done and the write should run again. Conflicts with anyone else are left alone."""
    from prjdevops.fieldowners import helm_owned, parse_conflicts
    from prjdevops.ops.run import helm_field_manager

    conflicts = parse_conflicts(err.detail)
    me = helm_field_manager()
    if not helm_owned(conflicts, me):
        return False
    moved = sum(target.kube.take_fields(c.api_version, c.kind, c.namespace, c.name, set(c.managers), me)
                for c in conflicts)
    if not moved:
        return False
    others = sorted({m for c in conflicts for m in c.managers})
    report(f"  {rel.name}: {moved} object(s) held fields applied by an earlier Helm run as {', '.join(others)} "
           f"(Helm names its field manager after the program); handed them to this run ({me}), applying again")
    return True


# --- deploy ----------------------------------------------------------------------------------------------


@dataclass
class DeployResult:
    release: str
    namespace: str
    revision: int
    status: str
    chart: str
    images: list[str]
    hosts: list[str]
    seconds: float
    changed: bool
    health: HealthSnapshot | None = None

    def summary(self) -> list[str]:
        return [
            f"release    {self.release} (namespace {self.namespace})",
            f"revision   {self.revision} ({self.status})",
            f"chart      {self.chart}",
            f"image      {', '.join(self.images) or '-'}",
            f"hosts      {', '.join(self.hosts) or '-'}",
            f"took       {self.seconds:.1f}s",
        ]


def images_of(objects: Iterable[dict[str, Any]]) -> list[str]:
    images: list[str] = []
    for obj in objects:
        if obj.get("kind") in WORKLOAD_KINDS:
            tmpl = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
            if obj.get("kind") == "Job":
                tmpl = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
            for c in tmpl.get("containers") or []:
                if c.get("image") and c["image"] not in images:
                    images.append(str(c["image"]))
    return images


def hosts_of(objects: Iterable[dict[str, Any]]) -> list[str]:
    return [str(r.get("host")) for o in objects if o.get("kind") == "Ingress"
            for r in (o.get("spec") or {}).get("rules") or [] if r.get("host")]


def deploy(target: Target, prep: Prepared, *, wait: bool = True, timeout: int | None = None,
           report: Reporter = _quiet, description: str | None = None, locked: bool = False,
           plan: ReleasePlan | None = None, verb: str = "deploy") -> DeployResult:
    """``helm upgrade --install`` of one release; with ``wait`` Helm's watcher waits while we show progress.

    ``plan``: the release's plan the caller made (and showed): its live state and desired objects are used as they
    are, nothing is read or rendered again. The revision's description (``helm history``) says who, which run and
    what changes (``verb``: what the flow does), unless ``description`` is given."""
    from prjdevops.ops.plan import plan_release

    rel = prep.release
    timeout = timeout or rel.timeout
    started = time.monotonic()
    plan = plan or plan_release(target, prep)
    before = plan.live
    if description is None:
        description = revision_description(plan, verb)
    report(f"{'upgrading' if before else 'installing'} {rel.name} in namespace {rel.namespace} "
           f"(chart {Path(rel.chart).name if rel.local_chart else rel.chart})")
    wait_mode = rel.wait if (wait and rel.wait != "none") else None
    result: dict[str, Any] = {}
    cancel = new_cancel_token()

    interrupted = threading.Event()
    objects = [dict(o) for o in plan.desired]

    def run() -> None:
        try:
            result["info"] = apply_with_recovery(
                target, rel, "upgrade" if before else "install",
                lambda: target.helm.upgrade_install(
                    rel.chart, rel.name, prep.values.values, namespace=rel.namespace, wait=wait_mode,
                    timeout=timeout, description=description, chart_version=rel.version, repo_url=rel.repo,
                    cancel=cancel, exists=before is not None),
                before=before, report=report, stopped=interrupted.is_set, locked=locked,
                healthy=(lambda: snapshot(target.kube, objects, rel.namespace).healthy) if objects else None)
        except BaseException as e:  # re-raised in the caller's thread below
            result["error"] = e

    worker = threading.Thread(target=run, name=f"helm-{rel.name}", daemon=True)
    worker.start()
    health: HealthSnapshot | None = None
    try:
        if wait_mode:
            done = threading.Event()

            def signal_done() -> None:
                worker.join()
                done.set()

            threading.Thread(target=signal_done, daemon=True).start()
            # Helm's own wait ends the rollout at `timeout`; ours polls a little longer so it sees Helm's verdict,
            # but the countdown shows the operator's timeout
            health = wait_healthy(target.kube, objects, rel.namespace, timeout=timeout + 5, report=report,
                                  stop=done, label=f"  {rel.name}: ", shown_timeout=timeout)
        worker.join()
    except BaseException:
        # Ctrl-C (or any failure here): cancel Helm so it records the revision as failed instead of leaving
        # it pending, then let the interruption propagate.
        interrupted.set()
        cancel.cancel()
        worker.join(timeout=30)
        raise
    if "error" in result:
        err = result["error"]
        if isinstance(err, HelmOperationError) and wait_mode:
            snap = snapshot(target.kube, objects, rel.namespace)
            if not snap.healthy:
                raise HealthCheckFailed(
                    prep.redactor.text(f"release {rel.name!r} did not become ready within {timeout}s: "
                                       f"{stuck_message(snap)}"),
                    hint=f"inspect with {status_command(target.env)}, or raise --timeout") from err
        if isinstance(err, DeployError):
            raise type(err)(prep.redactor.text(err.message)) if isinstance(err, HealthCheckFailed) else err
        raise err
    info: ReleaseInfo = result["info"]
    if wait_mode:
        health = snapshot(target.kube, objects, rel.namespace)
    live_objects = parse_manifest(info.manifest, rel.namespace) or objects
    return DeployResult(release=rel.name, namespace=rel.namespace, revision=info.revision, status=info.status,
                        chart=f"{info.chart}@{info.chart_version}", images=images_of(live_objects),
                        hosts=hosts_of(live_objects), seconds=time.monotonic() - started,
                        changed=plan.changes, health=health)


def revision_description(plan: ReleasePlan, verb: str) -> str:
    """What the tool writes into the revision: who, which run, what changes (counts, images)."""
    from prjdevops import summary
    from prjdevops.ops.run import operator, run_id

    old = summary.container_images(parse_manifest(plan.live.manifest, plan.namespace)) if plan.live else {}
    changes = summary.counts_text(plan.diffs)
    if plan.live is not None and plan.live.status != "deployed":
        changes = f"over {plan.live.status} revision {plan.live.revision}, {changes}"
    return summary.description(summary.Revision(
        verb, operator(), run_id(), changes, summary.image_changes(old, summary.container_images(plan.desired))))


def render_for(prep: Prepared, namespace: str, *, is_upgrade: bool = False) -> str:
    """The manifest the release would produce (offline render of in-repo charts)."""
    if not prep.release.local_chart:
        return ""
    rendered = render(Path(prep.release.chart), prep.values.values, release=prep.release.name,
                      namespace=namespace, is_upgrade=is_upgrade)
    return "\n---\n".join(rendered.values())


# --- diff ------------------------------------------------------------------------------------------------


def diff(target: Target, prep: Prepared) -> list[ObjectDiff]:
    """Per-object diff of the live release manifest against what a deploy would apply (the release's plan)."""
    from prjdevops.ops.plan import plan_release

    return list(plan_release(target, prep).diffs)


# --- status ----------------------------------------------------------------------------------------------


@dataclass
class ReleaseStatus:
    release: str
    namespace: str
    info: ReleaseInfo | None
    pods: list[dict[str, Any]]
    services: list[dict[str, Any]]
    ingresses: list[dict[str, Any]]
    history: list[ReleaseInfo] = field(default_factory=list)  # filled by the production status
    backups: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from prjdevops.adapters.helm import to_json

        return {"release": self.release, "namespace": self.namespace, "deployed": self.info is not None,
                "helm": to_json(self.info) if self.info else None, "pods": self.pods,
                "services": self.services, "ingresses": self.ingresses,
                "history": [to_json(h) for h in self.history], "backups": self.backups}


def with_descriptions(target: Target, rel: Release, infos: Sequence[ReleaseInfo]) -> list[ReleaseInfo]:
    """``infos`` with the descriptions Helm stored (what the tool wrote: who, run, what changed)."""
    if not infos or all(i.description for i in infos):
        return list(infos)
    stored = target.kube.helm_descriptions(rel.name, rel.namespace)
    return [dataclasses.replace(i, description=stored.get(i.revision, i.description)) for i in infos]


def status(target: Target, name: str) -> ReleaseStatus:
    """Helm's view of the release plus the pods, services and ingresses it runs."""
    rel = target.env.release(name)
    info = target.helm.status(rel.name, namespace=rel.namespace)
    if info is not None:
        (info,) = with_descriptions(target, rel, [info])
    pods: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    ingresses: list[dict[str, Any]] = []
    if info is not None:
        sel = f"app.kubernetes.io/instance={rel.name}"
        now = time.time()
        for p in target.kube.pods(rel.namespace, sel):
            pd = target.kube.api_client.sanitize_for_serialization(p)
            ok, why = pod_ready(pd)
            created = (pd.get("metadata") or {}).get("creationTimestamp")
            pods.append({"name": pd["metadata"]["name"], "ready": ok, "phase": (pd.get("status") or {}).get("phase"),
                         "restarts": pod_restarts(pd), "age_seconds": int(now - _ts(created)) if created else 0,
                         "reason": "" if ok else why})
        core, net = target.kube.core(), target.kube.networking()
        svcs = target.kube.call("list services", core.list_namespaced_service, rel.namespace, label_selector=sel)
        for s in svcs.items:
            ports = ",".join(f"{p.port}/{p.protocol}" for p in s.spec.ports or [])
            services.append({"name": s.metadata.name, "type": s.spec.type, "cluster_ip": s.spec.cluster_ip,
                             "ports": ports})
        ings = target.kube.call("list ingresses", net.list_namespaced_ingress, rel.namespace, label_selector=sel)
        for i in ings.items:
            hosts = [r.host for r in i.spec.rules or [] if r.host]
            tls = [t.secret_name for t in i.spec.tls or [] if t.secret_name]
            ingresses.append({"name": i.metadata.name, "hosts": hosts, "tls_secrets": tls})
    return ReleaseStatus(rel.name, rel.namespace, info, pods, services, ingresses)


def guarded_deploy(target: Target, prep: Prepared, *, io: Interaction, wait: bool = True, timeout: int | None = None,
                   report: Reporter = _quiet, plan: ReleasePlan | None = None) -> DeployResult:
    """``stg.deploy``: the environment's guards (cluster, Lease, confirmation where asked), then the deploy of the
    release's plan (``plan``: made by the caller, who decided it changes something)."""
    from prjdevops.hooks import ordered, plan_lines
    from prjdevops.ops.guarded import guarded
    from prjdevops.ops.hooks import HookFailed, HookRunner, log_dir

    env, rel = target.env, prep.release
    hooks = {e: ordered(e, env.hooks, rel.hooks, builtins=["health"] if wait else [])
             for e in ("prepare", "pre-deploy", "post-deploy", "on-failure")}
    runner = HookRunner(env, rel, redact=prep.redactor.text, report=report, log_dir=log_dir(env))
    with guarded(target.kube, env, io=io, report=report, target=target) as guard:
        runner.run(hooks["prepare"], event="prepare")
        for line in plan_lines([*hooks["pre-deploy"], *hooks["post-deploy"], *hooks["on-failure"]]):
            report(line)
        guard.confirm(f"deploy {rel.name}")
        if plan is None:
            from prjdevops.ops.plan import plan_release

            plan = plan_release(target, prep)
        guard.check()
        runner.run(hooks["pre-deploy"], event="pre-deploy", revision=plan.live.revision if plan.live else None)
        try:
            result = deploy(target, prep, wait=wait, timeout=timeout, report=report, locked=guard.holds_lease,
                            plan=plan)
            runner.run(hooks["post-deploy"], event="post-deploy", revision=result.revision)
        except (HealthCheckFailed, HelmOperationError, HookFailed) as err:
            runner.run(hooks["on-failure"], event="on-failure", extra={"PRJDEVOPS_ERROR": prep.redactor.text(
                err.message)}, stop_on_failure=False)
            raise
        return result


def guarded_delete(target: Target, name: str, *, io: Interaction, delete_namespace: bool = False,
                   report: Reporter = _quiet) -> bool:
    """``stg.delete``: the environment's guards, then the uninstall (idempotent)."""
    from prjdevops.hooks import ordered, plan_lines
    from prjdevops.ops.guarded import guarded
    from prjdevops.ops.hooks import HookRunner, log_dir

    env, rel = target.env, target.env.release(name)
    hooks = {e: ordered(e, env.hooks, rel.hooks) for e in ("pre-delete", "post-delete")}
    runner = HookRunner(env, rel, report=report, log_dir=log_dir(env))
    with guarded(target.kube, env, io=io, report=report, target=target) as guard:
        for line in plan_lines([*hooks["pre-delete"], *hooks["post-delete"]]):
            report(line)
        guard.confirm(f"uninstall {name}" + (" and delete its namespace" if delete_namespace else ""))
        guard.check()
        runner.run(hooks["pre-delete"], event="pre-delete")
        removed = delete(target, name, delete_namespace=delete_namespace, report=report)
        runner.run(hooks["post-delete"], event="post-delete")
        return removed


# --- delete ----------------------------------------------------------------------------------------------


def delete(target: Target, name: str, *, delete_namespace: bool = False, report: Reporter = _quiet) -> bool:
    """Uninstall the release (idempotent); optionally delete its namespace too. True when something went."""
    rel = target.env.release(name)
    target.checkpoint()
    removed = target.helm.uninstall(rel.name, namespace=rel.namespace)
    report(f"uninstalled release {rel.name} from namespace {rel.namespace}" if removed
           else f"release {rel.name} is not installed in namespace {rel.namespace}: nothing to delete")
    if delete_namespace:
        core = target.kube.core()
        gone = target.kube.get_or_none(f"delete namespace {rel.namespace}", core.delete_namespace, rel.namespace)
        report(f"deleted namespace {rel.namespace}" if gone is not None
               else f"namespace {rel.namespace} does not exist")
        removed = removed or gone is not None
    return removed
