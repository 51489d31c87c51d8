"""The guarded deploy: cluster check, plan, confirmation, lock, stuck-release recovery, backup first,
health gate after, automatic rollback that is itself verified. Also manual rollback, backup and restore.

Every step is driven by the environment's settings, so the same flow runs (and is tested) on the sandbox.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prjdevops import backup as backups
from prjdevops import guards, summary
from prjdevops.adapters.helm import ReleaseInfo, chart_defaults
from prjdevops.adapters.kube import read_context
from prjdevops.errors import ConfigError, DeployError, GuardRefused, HealthCheckFailed, HelmOperationError
from prjdevops.hooks import Hook, ordered, plan_lines
from prjdevops.manifests import ObjectDiff, diff_objects, parse_manifest
from prjdevops.model import Environment, Release
from prjdevops.ops.guarded import Guard, Interaction, guarded
from prjdevops.ops.hooks import HookFailed, HookRunner
from prjdevops.ops.hooks import log_dir as hook_log_dir
from prjdevops.ops.lock import current_holder
from prjdevops.ops.plan import (
    DEPLOYED_STATES,
    SERVER,
    ReleasePlan,
    load_verdicts,
    plan_release,
    record_verdict,
    rollback_target,
)
from prjdevops.ops.release import (
    PENDING,
    HealthSnapshot,
    Prepared,
    ReleaseStatus,
    Reporter,
    Target,
    _quiet,
    apply_with_recovery,
    deploy,
    images_of,
    snapshot,
    wait_healthy,
    with_descriptions,
)
from prjdevops.ops.release import status as release_status
from prjdevops.values import deep_merge

__all__ = ["Interaction", "Outcome", "guarded_deploy", "manual_rollback", "restore"]


@dataclass
class Outcome:
    release: str
    action: str  # unchanged | deployed | rolled-back | recovered
    revision: int
    backup: Path | None = None
    diffs: list[ObjectDiff] = field(default_factory=list)
    seconds: float = 0.0


def preflight(target: Target, prep: Prepared) -> None:
    """Guards that need no change: the cluster is the recorded one, the image tag is pinned, backups writable."""
    env = target.env
    guards.check_cluster(env, read_context(env.cluster))
    effective = deep_merge(chart_defaults(prep.chart_dir), prep.values.values) if prep.release.local_chart \
        else prep.values.values
    guards.check_image_tag(env, prep.release.name, effective)
    if env.backup.enabled:
        backups.check_writable(env, prep.release)


def stuck_revision(target: Target, prep: Prepared) -> ReleaseInfo | None:
    info = target.helm.status(prep.release.name, namespace=prep.release.namespace)
    return info if info is not None and info.status in PENDING else None


def last_deployed(target: Target, prep: Prepared, *, before: int | None = None) -> ReleaseInfo | None:
    history = target.helm.history(prep.release.name, namespace=prep.release.namespace)
    good = [h for h in history if h.status in ("deployed", "superseded")
            and (before is None or h.revision < before)]
    return good[-1] if good else None


def recover(target: Target, prep: Prepared, report: Reporter = _quiet, *,
            history: list[ReleaseInfo] | None = None) -> ReleaseInfo:
    """Roll a release stuck in pending-* back to the newest revision deployed healthy before it."""
    rel = prep.release
    history = history if history else target.helm.history(rel.name, namespace=rel.namespace)
    stuck = history[-1] if history and history[-1].status in PENDING else None
    if stuck is None:
        raise ConfigError(f"release {prep.release.name!r} is not stuck; nothing to recover")
    earlier = [h for h in history if h.revision < stuck.revision]
    good = rollback_target(earlier, load_verdicts(target.env, rel, earlier))
    if good is None:
        raise DeployError(f"release {prep.release.name!r} is stuck in {stuck.status} with no earlier good revision",
                          hint=f"uninstall it with invoke stg.delete --env {target.env.name} and deploy again")
    report(f"recovering {prep.release.name}: revision {stuck.revision} is {stuck.status}; "
           f"rolling back to revision {good.revision}")
    return _rollback(target, prep, good.revision, before=stuck, report=report)


def _rollback(target: Target, prep: Prepared, revision: int, *, before: ReleaseInfo | None,
              report: Reporter, wanted: ReleaseInfo | None = None) -> ReleaseInfo:
    """``helm rollback`` to ``revision``; a transient API failure is handled like an upgrade's. ``wanted``: that
    revision as the caller read it (with its manifest), not read again."""
    rel = prep.release
    if wanted is None or wanted.revision != revision or not wanted.manifest:
        wanted = target.helm.status(rel.name, namespace=rel.namespace, revision=revision)
    objects = parse_manifest(wanted.manifest if wanted else "", rel.namespace)
    limit = target.env.guards.rollback_timeout
    result: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            result["info"] = apply_with_recovery(
                target, rel, "rollback",
                lambda: target.helm.rollback(rel.name, revision=revision, namespace=rel.namespace, timeout=limit),
                before=before, report=report, locked=target.env.guards.lock,
                healthy=(lambda: snapshot(target.kube, objects, rel.namespace).healthy) if objects else None)
        except BaseException as e:  # re-raised in the caller's thread below
            result["error"] = e
        finally:
            done.set()

    # Helm waits for the rollback's workloads in silence: show which are not ready yet while it does
    worker = threading.Thread(target=run, name=f"helm-rollback-{rel.name}", daemon=True)
    worker.start()
    try:
        if objects:
            wait_healthy(target.kube, objects, rel.namespace, timeout=limit + 5, report=report, stop=done,
                         label=f"  {rel.name} (rolling back to {revision}): ", shown_timeout=limit)
    except BaseException:
        # an interrupt: Helm's rollback cannot be cancelled half-way without leaving pending-rollback; let it end
        report(f"  {rel.name}: interrupted; waiting for Helm's rollback to revision {revision} to finish "
               f"(at most {limit}s) so the release is not left pending")
        worker.join(timeout=limit + 30)
        raise
    worker.join()
    if "error" in result:
        raise result["error"]
    info: ReleaseInfo = result["info"]
    return info


def deploy_hooks(env: Environment, rel: Release, *, backup: bool, gate: bool) -> dict[str, list[Hook]]:
    """Every step a deploy of ``rel`` runs around the upgrade, by event, in order: the built-in backup, health gate
    and verify gate as hooks among the team's own (see ``prjdevops/hooks.py``)."""
    builtins = [*(["backup"] if backup else []), "health", *(["verify"] if gate else [])]
    return {event: ordered(event, env.hooks, rel.hooks, builtins=builtins)
            for event in ("prepare", "pre-deploy", "post-deploy", "on-failure")}


def guarded_deploy(target: Target, prep: Prepared, *, io: Interaction, report: Reporter = _quiet,
                   recover_stuck: bool = False, timeout: int | None = None,
                   gate: Callable[[Target, Prepared], list[str]] | None = None, guard: Guard | None = None,
                   skip_backup: bool = False, plan: ReleasePlan | None = None) -> Outcome:
    """The whole production deploy. ``gate`` (optional) returns failed post-deploy checks; any fails the deploy.

    ``guard``: the enclosing flow's guard (the platform deploy holds the Lease and the confirmation for the whole
    run), reused instead of taking them again. ``skip_backup``: where the environment keeps backups, skipping one
    needs the typed confirmation even with ``--yes``. The team's hooks run around the upgrade: prepare and
    pre-deploy before it (a failure stops before any change), post-deploy after the health gate (a failure fails
    the deploy and rolls back like a failed gate), on-failure after a failure. ``plan``: the release's plan the
    caller made (with its history); without one it is made here: Helm's status, values and history and one
    server-side dry run are every read of the release before its first write. A failure rolls back to the newest
    revision that was deployed healthy, never to a failed one.
    """
    env, rel = target.env, prep.release
    started = time.monotonic()
    with guarded(target.kube, env, io=io, report=report, target=target, outer=guard) as g:
        if skip_backup and env.backup.enabled:
            if not io.is_tty:
                raise GuardRefused(f"skipping the backup of {rel.name!r} in {env.name!r} needs the typed yes at a "
                                   "terminal (--yes does not skip a backup); nothing was changed",
                                   hint="run it at a terminal, or deploy with the backup")
            guards.confirm(env, yes=False, is_tty=True, ask=io.ask, what=f"deploy {rel.name} without a backup",
                           always=True,
                           question=f"deploy {rel.name} to {env.name!r} WITHOUT a backup first? Type 'yes': ",
                           declined=f"not confirmed: nothing was changed in {env.name!r}")
        hooks = deploy_hooks(env, rel, backup=env.backup.enabled and not skip_backup, gate=gate is not None)
        runner = HookRunner(env, rel, redact=prep.redactor.text, report=report, log_dir=hook_log_dir(env))
        runner.run(hooks["prepare"], event="prepare")
        preflight(target, prep)
        if plan is None or (plan.live is not None and not plan.history) or plan.validation != SERVER:
            # no plan, one without the history a rollback target needs, or one rendered offline because the
            # releases it needs were installed by the same run first: they are there now
            plan = plan_release(target, prep, with_history=True)
        stuck = plan.live if plan.action.recover else None
        if stuck is not None and not g.holds_lease:
            holder = current_holder(target.kube, env.name)
            if holder is not None:
                raise GuardRefused(f"another deploy to {env.name!r} is running: release {rel.name!r} is "
                                   f"{stuck.status} (revision {stuck.revision}) and the deploy lease is held by "
                                   f"{holder.describe()}", hint="wait for it to finish, or use --wait-lock SECONDS")
        if stuck is not None and not recover_stuck:
            raise GuardRefused(f"release {rel.name!r} is stuck in {stuck.status} (revision {stuck.revision}) from an "
                               "interrupted run (no other deploy holds the lease); nothing was changed",
                               hint="rerun with --recover to roll back to the last deployed revision")
        if not plan.changes:
            revision = plan.live.revision if plan.live else 0
            report(f"no changes: {rel.name} in {env.name} already matches (revision {revision}, deployed); "
                   "nothing to do")
            return Outcome(rel.name, "unchanged", revision)
        report(f"plan for {rel.name} in {env.name}: {plan.summary()}")
        for line in [*summary.kind_table(plan.diffs), *summary.field_lines(plan.diffs), *plan.hook_lines()]:
            report(line)
        if plan.validation != SERVER:
            report(f"  note: {plan.validation}")
        for line in plan_lines([*hooks["pre-deploy"], *hooks["post-deploy"], *hooks["on-failure"]]):
            report(line)
        g.confirm(f"deploy {rel.name}")
        history = list(plan.history)
        if stuck is not None:
            g.check()
            recover(target, prep, report, history=history)
            history = target.helm.history(rel.name, namespace=rel.namespace)
        previous = rollback_target(history, load_verdicts(env, rel, history))
        record = None
        if env.backup.enabled and not skip_backup and plan.live is not None:
            g.check()
            record = backups.take_planned(target.helm, env, rel, plan, reason="before deploy",
                                          redactor=prep.redactor) if stuck is None else \
                backups.take(target.helm, env, rel, reason="before deploy", redactor=prep.redactor)
            if record is not None:
                report(f"backup of revision {record.revision} written to {record.path}")
        g.check()
        runner.run(hooks["pre-deploy"], event="pre-deploy", revision=previous.revision if previous else None)
        try:
            result = deploy(target, prep, timeout=timeout or env.guards.health_timeout, report=report,
                            locked=g.holds_lease,
                            plan=plan if stuck is None else None)
            failed = gate(target, prep) if gate else []
            if failed:
                raise HealthCheckFailed(f"post-deploy checks failed: {'; '.join(failed)}")
            runner.run(hooks["post-deploy"], event="post-deploy", revision=result.revision)
            _verdict(target, prep, result.revision, True, report)
        except (HealthCheckFailed, HelmOperationError, HookFailed) as err:
            failure = {"PRJDEVOPS_ERROR": prep.redactor.text(err.message)}
            _verdict(target, prep, None, False, report, why=prep.redactor.text(str(err)))
            if previous is None:
                runner.run(hooks["on-failure"], event="on-failure", extra=failure, stop_on_failure=False)
                if history:
                    raise HealthCheckFailed(
                        prep.redactor.text(f"deploy of {rel.name!r} to {env.name!r} failed and no earlier revision "
                                           f"was deployed healthy, so nothing was rolled back: {err.message}"),
                        hint=f"fix the cause and deploy again; see invoke prod.status --env {env.name}") from err
                raise
            evidence = save_evidence(target, prep, record, str(err))
            report(f"deploy failed: {err}")
            if evidence:
                report(f"failure evidence saved to {evidence}")
            verified = rollback_verified(target, prep, previous, report)
            runner.run(hooks["on-failure"], event="on-failure", revision=verified.revision, extra=failure,
                       stop_on_failure=False)
            raise HealthCheckFailed(
                prep.redactor.text(f"deploy of {rel.name!r} to {env.name!r} failed and was rolled back to "
                                   f"revision {previous.revision}, the newest deployed healthy (now revision "
                                   f"{verified.revision}, verified healthy): {err.message}"),
                hint=f"see the evidence in {evidence}" if evidence else None) from err
    return Outcome(rel.name, "deployed", result.revision, record.path if record else None, list(plan.diffs),
                   time.monotonic() - started)


def _verdict(target: Target, prep: Prepared, revision: int | None, healthy: bool, report: Reporter,
             why: str = "") -> None:
    """Record the tool's verdict on a revision it deployed (``None``: the newest one, whatever it is)."""
    rel = prep.release
    info = target.helm.status(rel.name, namespace=rel.namespace, revision=revision)
    if info is None:
        return
    problem = record_verdict(target.env, rel, info, healthy, why)
    if problem:
        report(f"  note: {problem}")


def save_evidence(target: Target, prep: Prepared, record: backups.BackupRecord | None, error: str) -> Path | None:
    """Events and pod statuses of the release's namespace, next to the backup (secrets redacted)."""
    if record is None:
        return None
    folder = record.path.parent / f"{record.name}-failure-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    try:
        folder.mkdir(parents=True)
        ns = prep.release.namespace
        api = target.kube.api_client
        pods = [api.sanitize_for_serialization(p) for p in target.kube.pods(ns)]
        events = [api.sanitize_for_serialization(e) for e in target.kube.events(ns)]
        evidence = {"error": error, "pods": [{"name": p["metadata"]["name"], "status": p.get("status")}
                                             for p in pods], "events": events}
        (folder / "evidence.json").write_text(prep.redactor.text(json.dumps(evidence, indent=2, default=str)))
        lines = [f"{e.get('type', '')} {e.get('reason', '')} "
                 f"{(e.get('involvedObject') or {}).get('name', '')}: {e.get('message', '')}" for e in events]
        (folder / "events.txt").write_text(prep.redactor.text("\n".join(lines) + "\n"))
    except (OSError, DeployError):
        return None
    return folder


def rollback_verified(target: Target, prep: Prepared, to: ReleaseInfo, report: Reporter = _quiet, *,
                      current: ReleaseInfo | None = None) -> ReleaseInfo:
    """Roll back to ``to`` and check the result: deployed, same images and values, workloads healthy.
    ``current``: the release's newest revision as the caller read it under the deploy Lease with no write since
    (the manual rollback's history); otherwise it is read here."""
    rel, env = prep.release, target.env
    if not to.manifest:  # a history entry carries no manifest: read the revision itself
        to = target.helm.status(rel.name, namespace=rel.namespace, revision=to.revision) or to
    report(f"rolling back {rel.name} to revision {to.revision}")
    before = current if current is not None else target.helm.status(rel.name, namespace=rel.namespace)
    info = _rollback(target, prep, to.revision, before=before, report=report, wanted=to)
    objects = parse_manifest(info.manifest, rel.namespace)
    snap: HealthSnapshot = wait_healthy(target.kube, objects, rel.namespace, timeout=env.guards.rollback_timeout,
                                        report=report, label=f"  {rel.name} (rollback): ")
    problems = []
    if info.status != "deployed":
        problems.append(f"status is {info.status}")
    want_images = images_of(parse_manifest(to.manifest, rel.namespace))
    if images_of(objects) != want_images:
        problems.append(f"images {images_of(objects)} != {want_images}")
    if target.helm.get_values(rel.name, namespace=rel.namespace) != \
            target.helm.get_values(rel.name, namespace=rel.namespace, revision=to.revision):
        problems.append("values differ from the target revision")
    if not snap.healthy:
        problems.append("workloads not healthy after rollback: " + snap.line())
    if problems:
        raise HealthCheckFailed(f"rollback of {rel.name!r} to revision {to.revision} did not verify: "
                                + "; ".join(problems), hint=f"inspect with invoke prod.status --env {env.name}")
    report(f"rollback verified: {rel.name} revision {info.revision} (= revision {to.revision}), healthy")
    problem = record_verdict(env, rel, info, True, f"verified rollback to revision {to.revision}")
    if problem:
        report(f"  note: {problem}")
    return info


def manual_rollback(target: Target, prep: Prepared, *, revision: int | None, io: Interaction,
                    report: Reporter = _quiet) -> ReleaseInfo:
    """``prod.rollback [REV]``: previous revision by default; confirmation; backup first; verified."""
    with guarded(target.kube, target.env, io=io, report=report, target=target) as g:
        return _manual_rollback(target, prep, g, revision=revision, report=report)


def _manual_rollback(target: Target, prep: Prepared, g: Guard, *, revision: int | None,
                     report: Reporter) -> ReleaseInfo:
    env, rel = target.env, prep.release
    history = target.helm.history(rel.name, namespace=rel.namespace)
    if not history:
        raise ConfigError(f"release {rel.name!r} is not installed in {env.name!r}; nothing to roll back")
    current = history[-1]
    verdicts = load_verdicts(env, rel, history)
    if revision is None:
        if len(history) < 2:
            raise ConfigError(f"release {rel.name!r} has only revision {current.revision}; nothing to roll back to")
        good = rollback_target([h for h in history if h.revision < current.revision], verdicts)
        if good is None:
            raise ConfigError(f"release {rel.name!r} has no earlier revision that was deployed healthy; name one "
                              "with --revision N", hint="see the history with invoke prod.status")
        revision = good.revision
    valid = [h.revision for h in history]
    if revision not in valid or revision == current.revision:
        choices = ", ".join(str(r) for r in valid if r != current.revision) or "none"
        raise ConfigError(f"cannot roll {rel.name!r} back to revision {revision}: valid revisions are {choices} "
                          f"(current is {current.revision})")
    chosen = next(h for h in history if h.revision == revision)
    unhealthy = chosen.status not in DEPLOYED_STATES or verdicts.get(revision) is False
    hooks = {event: ordered(event, env.hooks, rel.hooks) for event in ("pre-rollback", "post-rollback")}
    for line in plan_lines([*hooks["pre-rollback"], *hooks["post-rollback"]]):
        report(line)
    what = f"roll {rel.name} back from revision {current.revision} to {revision}"
    if unhealthy:
        # an explicit revision that never deployed healthy: asked in every environment, and said plainly
        why = chosen.status if chosen.status not in DEPLOYED_STATES else "found unhealthy by prjdevops"
        report(f"warning: revision {revision} is {why}; rolling back to it restores a release that failed")
        g.confirm(what + f", WHICH IS {why.upper()} (it was never deployed healthy)", always=True)
    else:
        g.confirm(what)
    if env.backup.enabled:
        g.check()
        record = backups.take(target.helm, env, rel, reason=f"before rollback to r{revision}",
                              redactor=prep.redactor)
        if record is not None:
            report(f"backup of revision {record.revision} written to {record.path}")
    to = target.helm.status(rel.name, namespace=rel.namespace, revision=revision)
    assert to is not None
    runner = HookRunner(env, rel, redact=prep.redactor.text, report=report, log_dir=hook_log_dir(env))
    g.check()
    runner.run(hooks["pre-rollback"], event="pre-rollback", revision=current.revision)
    # nothing wrote the release since its history was read (the Lease is ours; the backup only read it)
    info = rollback_verified(target, prep, to, report, current=current if g.holds_lease else None)
    runner.run(hooks["post-rollback"], event="post-rollback", revision=info.revision)
    return info


def restore(target: Target, prep: Prepared, name: str, *, io: Interaction, report: Reporter = _quiet,
            ) -> list[ObjectDiff]:
    """Re-apply a verified backup's values with the in-repo chart; returns the diff left afterwards (empty)."""
    with guarded(target.kube, target.env, io=io, report=report, target=target) as g:
        return _restore(target, prep, name, g, report=report)


def _restore(target: Target, prep: Prepared, name: str, g: Guard, *, report: Reporter) -> list[ObjectDiff]:
    env, rel = target.env, prep.release
    record = backups.find(env, rel, name)
    values = backups.load_values(record)  # verifies every checksum first
    manifest = backups.load_manifest(record)
    current_version = _chart_version(prep)
    if record.chart_version and current_version and record.chart_version != current_version:
        raise ConfigError(f"backup {name} was taken with chart version {record.chart_version}, the repository has "
                          f"{current_version}; check out the matching chart first")
    g.confirm(f"restore {rel.name} from backup {name}")
    restored = Prepared(release=rel, values=type(prep.values)(values=values, sources={}), redactor=prep.redactor)
    if env.backup.enabled:
        g.check()
        backups.take(target.helm, env, rel, reason=f"before restore of {name}", redactor=prep.redactor)
    deploy(target, restored, timeout=env.guards.health_timeout, report=report, locked=g.holds_lease,
           verb=f"restore of backup {name}")
    live = target.helm.status(rel.name, namespace=rel.namespace)
    left = diff_objects(parse_manifest(manifest, rel.namespace),
                        parse_manifest(live.manifest if live else "", rel.namespace), prep.redactor)
    report(f"restored {rel.name} from {name}: " + ("zero diff against the backup" if not left
                                                    else f"{len(left)} object(s) still differ"))
    return left


def _chart_version(prep: Prepared) -> str:
    from prjdevops.adapters.helm import load_chart_metadata

    if not prep.release.local_chart:
        return prep.release.version or ""
    return str(load_chart_metadata(prep.chart_dir).get("version", ""))


def take_backup(target: Target, prep: Prepared) -> backups.BackupRecord:
    rec = backups.take(target.helm, target.env, prep.release, reason="on demand", redactor=prep.redactor)
    if rec is None:
        raise ConfigError(f"release {prep.release.name!r} is not installed in {target.env.name!r}; nothing to back up")
    return rec


def health_now(target: Target, prep: Prepared) -> HealthSnapshot:
    info = target.helm.status(prep.release.name, namespace=prep.release.namespace)
    return snapshot(target.kube, parse_manifest(info.manifest if info else "", prep.release.namespace),
                    prep.release.namespace)



def status(target: Target, name: str, *, last_backups: int = 5) -> ReleaseStatus:
    """The staging view plus the Helm history and the newest backups."""
    st = release_status(target, name)
    rel = target.env.release(name)
    st.history = with_descriptions(target, rel, target.helm.history(rel.name, namespace=rel.namespace))
    st.backups = [{"name": b.name, "revision": b.revision, "taken_at": b.taken_at, "reason": b.reason,
                   "path": str(b.path)} for b in backups.listing(target.env, rel)[-last_backups:]]
    return st
