"""Readiness as pure predicates over API objects (plain dicts, as the API serves them), in one table.

Each predicate returns ``(ready, detail)``; ``detail`` is a short human reason such as ``"2/3 ready"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Obj = Mapping[str, Any]


def _gen_observed(obj: Obj) -> bool:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)


def deployment_ready(obj: Obj) -> tuple[bool, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    # Generation first (as kubectl rollout status): a deadline condition left from the previous rollout
    # must not fail a new one the controller has not looked at yet.
    if not _gen_observed(obj):
        return False, "new spec not yet observed"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return False, f"progress deadline exceeded ({ready}/{want} ready)"
    ok = updated >= want and available >= want and ready >= want and total <= updated
    return ok, f"{ready}/{want} ready, {updated} updated"


def statefulset_ready(obj: Obj) -> tuple[bool, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    rev_ok = not status.get("updateRevision") or status.get("currentRevision") == status.get("updateRevision")
    ok = _gen_observed(obj) and ready >= want and updated >= want and rev_ok
    return ok, f"{ready}/{want} ready"


def daemonset_ready(obj: Obj) -> tuple[bool, str]:
    status = obj.get("status") or {}
    want = int(status.get("desiredNumberScheduled") or 0)
    ready = int(status.get("numberReady") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    ok = _gen_observed(obj) and ready >= want and updated >= want
    return ok, f"{ready}/{want} ready"


def job_complete(obj: Obj) -> tuple[bool, str]:
    status = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return False, f"failed: {cond.get('reason', '')} {cond.get('message', '')}".strip()
        if cond.get("type") == "Complete" and cond.get("status") == "True":
            return True, "complete"
    return False, f"{int(status.get('succeeded') or 0)} succeeded, {int(status.get('active') or 0)} active"


def job_failed(obj: Obj) -> bool:
    return any(c.get("type") == "Failed" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def pod_ready(obj: Obj) -> tuple[bool, str]:
    status = obj.get("status") or {}
    if status.get("phase") == "Succeeded":
        return True, "completed"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return True, "ready"
    return False, pod_problem(obj)


def pod_problem(obj: Obj) -> str:
    """Why a pod is not ready, in the words ``kubectl describe`` would use."""
    status = obj.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        if waiting:
            msg = waiting.get("message") or ""
            restarts = int(cs.get("restartCount") or 0)
            extra = f", {restarts} restarts" if restarts else ""
            return f"{cs.get('name')}: {waiting.get('reason', 'Waiting')}{extra}{': ' + msg if msg else ''}"
        terminated = state.get("terminated")
        if terminated:
            return f"{cs.get('name')}: terminated ({terminated.get('reason', '')}, exit {terminated.get('exitCode')})"
        if not cs.get("ready"):
            return f"{cs.get('name')}: running but not ready"
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True" and (cond.get("reason") or cond.get("message")):
            return f"{cond.get('type')}: {cond.get('reason', '')} {cond.get('message', '')}".strip()
    return f"phase {status.get('phase', 'Unknown')}"


def pod_restarts(obj: Obj) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in (obj.get("status") or {}).get("containerStatuses") or [])


def crash_looping(obj: Obj) -> bool:
    status = obj.get("status") or {}
    # an init container in CrashLoopBackOff blocks the pod just as surely (Init:CrashLoopBackOff)
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            return True
    return False


#: kind -> readiness predicate; kinds not listed are ready once they exist.
READINESS: dict[str, Callable[[Obj], tuple[bool, str]]] = {
    "Deployment": deployment_ready,
    "StatefulSet": statefulset_ready,
    "DaemonSet": daemonset_ready,
    "Job": job_complete,
    "Pod": pod_ready,
}

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def selector_string(match_labels: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((match_labels or {}).items()))
