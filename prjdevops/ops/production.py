"""The guarded deploy: cluster check, plan, confirmation, lock, stuck-release recovery, backup first,
health gate after, automatic rollback that is itself verified. Also manual rollback, backup and restore.

Every step is driven by the environment's settings, so the same flow runs (and is tested) on the sandbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prjdevops import backup as backups
from prjdevops import guards
from prjdevops.adapters.helm import ReleaseInfo, chart_defaults
from prjdevops.adapters.kube import read_context
from prjdevops.errors import ConfigError, DeployError, GuardRefused, HealthCheckFailed, HelmOperationError
from prjdevops.manifests import ObjectDiff, diff_objects, parse_manifest
from prjdevops.ops.lock import deploy_lock
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
    diff,
    diff_summary,
    images_of,
    snapshot,
    wait_healthy,
)
from prjdevops.ops.release import status as release_status
from prjdevops.values import deep_merge


@dataclass
class Interaction:
    """How the flow may talk to the operator."""

    yes: bool = False
    is_tty: bool = False
    ask: Callable[[str], str] = input


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


def recover(target: Target, prep: Prepared, report: Reporter = _quiet) -> ReleaseInfo:
    """Roll a release stuck in pending-* back to its last good revision."""
    stuck = stuck_revision(target, prep)
    if stuck is None:
        raise ConfigError(f"release {prep.release.name!r} is not stuck; nothing to recover")
    good = last_deployed(target, prep, before=stuck.revision)
    if good is None:
        raise DeployError(f"release {prep.release.name!r} is stuck in {stuck.status} with no earlier good revision",
                          hint="uninstall it with invoke stg.delete --env ... and deploy again")
    report(f"recovering {prep.release.name}: revision {stuck.revision} is {stuck.status}; "
           f"rolling back to revision {good.revision}")
    return _rollback(target, prep, good.revision, before=stuck, report=report)


def _rollback(target: Target, prep: Prepared, revision: int, *, before: ReleaseInfo | None,
              report: Reporter) -> ReleaseInfo:
    """``helm rollback`` to ``revision``; a transient API failure is handled like an upgrade's."""
    rel = prep.release
    wanted = target.helm.status(rel.name, namespace=rel.namespace, revision=revision)
    objects = parse_manifest(wanted.manifest if wanted else "", rel.namespace)
    return apply_with_recovery(
        target, rel, "rollback",
        lambda: target.helm.rollback(rel.name, revision=revision, namespace=rel.namespace,
                                     timeout=target.env.guards.rollback_timeout),
        before=before, report=report, locked=target.env.guards.lock,
        healthy=(lambda: snapshot(target.kube, objects, rel.namespace).healthy) if objects else None)


def guarded_deploy(target: Target, prep: Prepared, *, io: Interaction, report: Reporter = _quiet,
                   recover_stuck: bool = False, timeout: int | None = None,
                   gate: Callable[[Target, Prepared], list[str]] | None = None, locked: bool = False) -> Outcome:
    """The whole production deploy. ``gate`` (optional) returns failed post-deploy checks; any fails the deploy.

    ``locked``: the caller already holds the environment's deploy Lease (the platform deploy holds it for the
    whole run), so this step must neither take nor release it.
    """
    env, rel = target.env, prep.release
    started = time.monotonic()
    preflight(target, prep)
    stuck = stuck_revision(target, prep)
    if stuck is not None and not recover_stuck:
        raise GuardRefused(f"release {rel.name!r} is stuck in {stuck.status} (revision {stuck.revision}) from an "
                           "interrupted run; nothing was changed",
                           hint="rerun with --recover to roll back to the last deployed revision")
    diffs = diff(target, prep)
    if not diffs and stuck is None:
        report(f"no changes: {rel.name} in {env.name} already matches; nothing to do")
        current = target.helm.status(rel.name, namespace=rel.namespace)
        return Outcome(rel.name, "unchanged", current.revision if current else 0)
    report(f"plan for {rel.name} in {env.name}: {len(diffs)} object(s) change")
    for line in diff_summary(diffs):
        report(line)
    guards.confirm(env, yes=io.yes, is_tty=io.is_tty, ask=io.ask, what=f"deploy {rel.name}")
    lock = deploy_lock(target.kube, env.name) if env.guards.lock and not locked else _null_lock()
    with lock:
        if stuck is not None:
            recover(target, prep, report)
        previous = target.helm.status(rel.name, namespace=rel.namespace)
        record = None
        if env.backup.enabled and previous is not None:
            record = backups.take(target.helm, env, rel, reason="before deploy", redactor=prep.redactor)
            if record is not None:
                report(f"backup of revision {record.revision} written to {record.path}")
        try:
            result = deploy(target, prep, timeout=timeout or env.guards.health_timeout, report=report,
                            description=f"prjdevops deploy to {env.name}", locked=env.guards.lock)
            failed = gate(target, prep) if gate else []
            if failed:
                raise HealthCheckFailed(f"post-deploy checks failed: {'; '.join(failed)}")
        except (HealthCheckFailed, HelmOperationError) as err:
            if previous is None:
                raise
            evidence = save_evidence(target, prep, record, str(err))
            report(f"deploy failed: {err}")
            if evidence:
                report(f"failure evidence saved to {evidence}")
            verified = rollback_verified(target, prep, previous, report)
            raise HealthCheckFailed(
                prep.redactor.text(f"deploy of {rel.name!r} to {env.name!r} failed and was rolled back to "
                                   f"revision {previous.revision} (now revision {verified.revision}, verified "
                                   f"healthy): {err.message}"),
                hint=f"see the evidence in {evidence}" if evidence else None) from err
    return Outcome(rel.name, "deployed", result.revision, record.path if record else None, diffs,
                   time.monotonic() - started)


class _null_lock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


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


def rollback_verified(target: Target, prep: Prepared, to: ReleaseInfo, report: Reporter = _quiet,
                      ) -> ReleaseInfo:
    """Roll back to ``to`` and check the result: deployed, same images and values, workloads healthy."""
    rel, env = prep.release, target.env
    report(f"rolling back {rel.name} to revision {to.revision}")
    info = _rollback(target, prep, to.revision, before=target.helm.status(rel.name, namespace=rel.namespace),
                     report=report)
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
                                + "; ".join(problems), hint="inspect with invoke prod.status")
    report(f"rollback verified: {rel.name} revision {info.revision} (= revision {to.revision}), healthy")
    return info


def manual_rollback(target: Target, prep: Prepared, *, revision: int | None, io: Interaction,
                    report: Reporter = _quiet) -> ReleaseInfo:
    """``prod.rollback [REV]``: previous revision by default; confirmation; backup first; verified."""
    env, rel = target.env, prep.release
    guards.check_cluster(env, read_context(env.cluster))
    history = target.helm.history(rel.name, namespace=rel.namespace)
    if not history:
        raise ConfigError(f"release {rel.name!r} is not installed in {env.name!r}; nothing to roll back")
    current = history[-1]
    if revision is None:
        prior = [h for h in history if h.revision < current.revision]
        if not prior:
            raise ConfigError(f"release {rel.name!r} has only revision {current.revision}; nothing to roll back to")
        revision = prior[-1].revision
    valid = [h.revision for h in history]
    if revision not in valid or revision == current.revision:
        choices = ", ".join(str(r) for r in valid if r != current.revision) or "none"
        raise ConfigError(f"cannot roll {rel.name!r} back to revision {revision}: valid revisions are {choices} "
                          f"(current is {current.revision})")
    guards.confirm(env, yes=io.yes, is_tty=io.is_tty, ask=io.ask,
                   what=f"roll {rel.name} back from revision {current.revision} to {revision}")
    lock = deploy_lock(target.kube, env.name) if env.guards.lock else _null_lock()
    with lock:
        if env.backup.enabled:
            record = backups.take(target.helm, env, rel, reason=f"before rollback to r{revision}",
                                  redactor=prep.redactor)
            if record is not None:
                report(f"backup of revision {record.revision} written to {record.path}")
        to = target.helm.status(rel.name, namespace=rel.namespace, revision=revision)
        assert to is not None
        return rollback_verified(target, prep, to, report)


def restore(target: Target, prep: Prepared, name: str, *, io: Interaction, report: Reporter = _quiet,
            ) -> list[ObjectDiff]:
    """Re-apply a verified backup's values with the in-repo chart; returns the diff left afterwards (empty)."""
    env, rel = target.env, prep.release
    guards.check_cluster(env, read_context(env.cluster))
    record = backups.find(env, rel, name)
    values = backups.load_values(record)  # verifies every checksum first
    manifest = backups.load_manifest(record)
    current_version = _chart_version(prep)
    if record.chart_version and current_version and record.chart_version != current_version:
        raise ConfigError(f"backup {name} was taken with chart version {record.chart_version}, the repository has "
                          f"{current_version}; check out the matching chart first")
    guards.confirm(env, yes=io.yes, is_tty=io.is_tty, ask=io.ask, what=f"restore {rel.name} from backup {name}")
    restored = Prepared(release=rel, values=type(prep.values)(values=values, sources={}), redactor=prep.redactor)
    lock = deploy_lock(target.kube, env.name) if env.guards.lock else _null_lock()
    with lock:
        if env.backup.enabled:
            backups.take(target.helm, env, rel, reason=f"before restore of {name}", redactor=prep.redactor)
        deploy(target, restored, timeout=env.guards.health_timeout, report=report, locked=env.guards.lock,
               description=f"prjdevops restore of backup {name}")
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
    st.history = target.helm.history(rel.name, namespace=rel.namespace)
    st.backups = [{"name": b.name, "revision": b.revision, "taken_at": b.taken_at, "reason": b.reason,
                   "path": str(b.path)} for b in backups.listing(target.env, rel)[-last_backups:]]
    return st
