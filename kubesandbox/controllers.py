"""Simulated controllers and kubelet, one background thread, each switchable by name.

They run whenever the store changes (and at timed wake-ups such as "pod becomes Ready after
``pod_ready_delay``"), scanning the objects they care about; every write is skipped when nothing changed,
so the loop settles. Status shapes follow what ``kubectl rollout status``, Helm's legacy waiter and the
kstatus watcher read.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubesandbox.errors import SandboxError

from . import fielderrors
from .api import NODE_NAME, SERVICE_CIDR, Api, ApiError, invalid_errors, now
from .faults import FaultSet
from .fielderrors import FieldError
from .resources import ResourceType
from .selectors import match_label_selector
from .store import Obj

log = logging.getLogger("kubesandbox")

NAMES = ("namespace", "gc", "deployment", "replicaset", "statefulset", "daemonset", "job", "volume", "kubelet",
         "service", "loadbalancer", "endpoints")
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated suffixes
FAIL_ANNOTATION = "sandbox.prjdevops.io/fail"
CRASH_BACKOFF_SECONDS = 1.0
PROBE_EVENT_SECONDS = 5.0
EVENT_TTL_SECONDS = 3600
NAMESPACE_MIN_TERMINATING = 1.0


def safe_hash(data: Any, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:length])


def suffix() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(5))


def _copy(obj: Obj) -> Obj:
    out: Obj = json.loads(json.dumps(obj))
    return out


def _controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_ref(owner: Obj) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_ready(pod: Obj) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


def set_condition(conds: list[Obj], ctype: str, status: str, reason: str = "", message: str = "",
                  *, update_time: bool = False) -> None:
    """Set a condition in place, keeping lastTransitionTime when the status did not change."""
    ts = now()
    for c in conds:
        if c.get("type") == ctype:
            if c.get("status") != status:
                c["lastTransitionTime"] = ts
                if update_time:
                    c["lastUpdateTime"] = ts
            elif update_time and (c.get("reason") != reason or c.get("message") != message):
                c["lastUpdateTime"] = ts
            c.update({"status": status})
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return
    cond: Obj = {"type": ctype, "status": status, "lastTransitionTime": ts}
    if update_time:
        cond["lastUpdateTime"] = ts
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    conds.append(cond)


def _int_or_percent(v: Any, total: int, round_up: bool) -> int:
    if isinstance(v, str) and v.endswith("%"):
        frac = total * int(v[:-1]) / 100
        return int(-(-frac // 1)) if round_up else int(frac)
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


class Controllers:
    """The controller loop; ``enable``/``disable``/``set`` switch individual controllers by name."""

    def __init__(self, api: Api, faults: FaultSet, *, pod_ready_delay: float = 0.2,
                 lb_pool: str | None = None, enabled: bool = True, probe_time_scale: float = 0.01) -> None:
        self.api = api
        self.store = api.store
        self.faults = faults
        self.pod_ready_delay = pod_ready_delay
        self.probe_time_scale = probe_time_scale
        try:
            self.lb_pool = ipaddress.ip_network(lb_pool, strict=False) if lb_pool else None
        except ValueError as e:
            raise SandboxError(f"bad lb_pool {lb_pool!r}: {e}") from e
        self._on = dict.fromkeys(NAMES, enabled)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_at: float | None = None
        self._seen: dict[str, float] = {}  # pod uid -> monotonic time the kubelet first saw it
        self._crash: dict[str, float] = {}  # pod uid -> monotonic time of the last simulated restart
        self._probe_event: dict[str, float] = {}
        self._progress: dict[str, tuple[Any, float]] = {}  # deployment uid -> (progress marker, time)
        self._kick = False
        self._events_checked = 0.0
        self._reported: builtins.set[tuple[str, str, str]] = builtins.set()
        self._noted: builtins.set[tuple[str, str]] = builtins.set()  # (uid, reason) of one-off events
        self._ns_terminating: dict[str, float] = {}  # namespace uid -> when it was first seen terminating
        api.service_allocator = self._allocate_service

    # --- switches -------------------------------------------------------------------------------

    def _check(self, name: str) -> None:
        if name not in self._on:
            raise SandboxError(f"unknown controller {name!r} (one of {', '.join(NAMES)})")

    def enable(self, name: str) -> None:
        self.set(name, True)

    def disable(self, name: str) -> None:
        self.set(name, False)

    def set(self, name: str, on: bool) -> None:
        self._check(name)
        self._on[name] = bool(on)
        self.kick()

    def enabled(self, name: str) -> bool:
        self._check(name)
        return self._on[name]

    def state(self) -> dict[str, bool]:
        return dict(self._on)

    def kick(self) -> None:
        """Run a pass soon even if nothing changed."""
        with self.store.lock:
            self._kick = True
            self.store.changed.notify_all()

    # --- loop -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sandbox-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.kick()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        last_rv = -1
        while not self._stop.is_set():
            with self.store.lock:
                timeout = 1.0
                if self._wake_at is not None:
                    timeout = max(0.0, min(timeout, self._wake_at - time.monotonic()))
                if self.store.resource_version == last_rv and not self._kick and timeout > 0:
                    self.store.changed.wait(timeout)
                self._kick = False
            if self._stop.is_set():
                return
            self._wake_at = None
            for _ in range(10):  # settle: rerun while a pass changed something
                before = self.store.resource_version
                self.run_once()
                if self.store.resource_version == before:
                    break
            last_rv = self.store.resource_version

    def _wake(self, delay: float) -> None:
        at = time.monotonic() + max(0.0, delay)
        if self._wake_at is None or at < self._wake_at:
            self._wake_at = at

    def run_once(self) -> None:
        """One pass of every enabled controller."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("namespace", self._namespaces), ("gc", self._gc), ("deployment", self._deployments),
            ("replicaset", self._replicasets), ("statefulset", self._statefulsets),
            ("daemonset", self._daemonsets), ("job", self._jobs), ("volume", self._volumes),
            ("kubelet", self._kubelet),
            ("service", self._services), ("loadbalancer", self._loadbalancers),
            ("endpoints", self._endpoints),
        ]
        for name, fn in steps:
            if not self._on[name]:
                continue
            try:
                fn()
            except ApiError as e:
                log.debug("controller %s: %s", name, e.message)
            except Exception:  # a controller bug must not kill the loop or the server
                log.exception("controller %s failed", name)

    @contextlib.contextmanager
    def _isolated(self, controller: str, obj: Obj) -> Iterator[None]:
        """One object's failure (say a malformed spec) must not stop the others being reconciled."""
        try:
            yield
        except ApiError as e:
            log.debug("controller %s: %s", controller, e.message)
        except Exception as e:
            meta = obj.get("metadata") or {}
            key = (controller, str(meta.get("uid")), f"{type(e).__name__}: {e}")
            if key not in self._reported:  # once per object and error, not once per pass
                if len(self._reported) > 10_000:
                    self._reported.clear()
                self._reported.add(key)
                log.exception("controller %s cannot handle %s/%s", controller, meta.get("namespace", ""),
                              meta.get("name"))

    # --- helpers --------------------------------------------------------------------------------

    def _rt(self, group: str, plural: str) -> ResourceType:
        rt = self.api.registry.by_key((group, plural))
        assert rt is not None
        return rt

    def _objs(self, group: str, plural: str, ns: str | None = None) -> list[Obj]:
        return [o for o, _ in self.store.scan((group, plural), ns)]

    def _owned(self, group: str, plural: str, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        return [o for o in self._objs(group, plural, owner["metadata"].get("namespace"))
                if _controller_uid(o) == uid and not o["metadata"].get("deletionTimestamp")]

    def _create_pod(self, owner: Obj, name: str, extra_labels: dict[str, str],
                    extra_spec: Obj | None = None) -> None:
        tmpl = _copy((owner.get("spec") or {}).get("template") or {})
        meta = tmpl.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        labels.update(extra_labels)
        pod: Obj = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"], "labels": labels,
                         "ownerReferences": [owner_ref(owner)]},
            "spec": tmpl.get("spec") or {},
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = meta["annotations"]
        if extra_spec:
            pod["spec"].update(extra_spec)
        self.api.create(self._rt("", "pods"), owner["metadata"]["namespace"], pod)

    def _delete(self, group: str, plural: str, obj: Obj) -> None:
        self.api.remove_now(self._rt(group, plural), obj["metadata"].get("namespace", ""),
                            obj["metadata"]["name"])

    def _write(self, group: str, plural: str, obj: Obj) -> None:
        self.api.write_status(self._rt(group, plural), obj)

    # --- namespace ------------------------------------------------------------------------------

    def _namespaces(self) -> None:
        for ns in self._objs("", "namespaces"):
            with self._isolated("namespace", ns):
                if not ns["metadata"].get("deletionTimestamp"):
                    continue
                name = ns["metadata"]["name"]
                left = 0
                for key in self.api.registry.namespaced_keys():
                    for obj in self._objs(*key, ns=name):
                        left += 1
                        self._delete(key[0], key[1], obj)
                # A real namespace controller takes a moment (discovery, deletes, finalizer); meanwhile new
                # content is refused with 403 "being terminated", not 404.
                since = self._ns_terminating.setdefault(str(ns["metadata"].get("uid")), time.monotonic())
                wait = NAMESPACE_MIN_TERMINATING - (time.monotonic() - since)
                if wait > 0:
                    self._wake(wait)
                    continue
                if left == 0 or not any(self._objs(*k, ns=name) for k in self.api.registry.namespaced_keys()):
                    self.store.remove(("", "namespaces"), "", name)
                    self._ns_terminating.pop(str(ns["metadata"].get("uid")), None)

    # --- garbage collector ----------------------------------------------------------------------

    def _gc(self) -> None:
        self._expire_events()
        everything = list(self.store.iter_all())
        uids = {o["metadata"].get("uid") for _, o in everything}
        dependents: dict[str, list[tuple[tuple[str, str], Obj]]] = {}
        for key, obj in everything:
            with self._isolated("gc", obj):
                for ref in obj["metadata"].get("ownerReferences") or []:
                    dependents.setdefault(str(ref.get("uid")), []).append((key, obj))
        for key, obj in everything:
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if refs and not any(r.get("uid") in uids for r in refs):
                self._delete(key[0], key[1], obj)
                continue
            if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or []):
                deps = dependents.get(str(meta.get("uid")), [])
                for dkey, dep in deps:
                    if not dep["metadata"].get("deletionTimestamp"):
                        rt = self._rt(*dkey)
                        self.api.delete(rt, dep["metadata"].get("namespace", ""), dep["metadata"]["name"],
                                        propagation="Foreground")
                if not deps:
                    new = _copy(obj)
                    new["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
                    if not new["metadata"]["finalizers"]:
                        del new["metadata"]["finalizers"]
                    self._write(*key, new)

    def _expire_events(self) -> None:
        """Core Events live an hour, as with the API server's default --event-ttl."""
        t = time.monotonic()
        if t - self._events_checked < 30:
            return
        self._events_checked = t
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=EVENT_TTL_SECONDS)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        for ev in self._objs("", "events"):
            if str(ev.get("lastTimestamp") or ev["metadata"].get("creationTimestamp", "")) < cutoff:
                self._delete("", "events", ev)

    # --- deployment -----------------------------------------------------------------------------

    def _deployments(self) -> None:
        for dep in self._objs("apps", "deployments"):
            with self._isolated("deployment", dep):
                if dep["metadata"].get("deletionTimestamp"):
                    continue
                self._deployment(dep)

    def _deployment(self, dep: Obj) -> None:
        spec = dep["spec"]
        meta = dep["metadata"]
        ns = meta["namespace"]
        desired = int(spec.get("replicas", 1))
        tmpl = spec.get("template") or {}
        phash = safe_hash(tmpl)
        rss = self._owned("apps", "replicasets", dep)
        rs_rt = self._rt("apps", "replicasets")
        revs = [int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
                for r in rss]
        max_rev = max(revs, default=0)
        new_rs = next((r for r in rss if (r["metadata"].get("labels") or {}).get("pod-template-hash") == phash),
                      None)
        paused = bool(spec.get("paused"))
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        old_rss = [r for r in rss if r is not new_rs]
        old_pods = sum(int((r.get("status") or {}).get("replicas", 0)) for r in old_rss)
        if new_rs is None and not paused:
            rs_name = f"{meta['name']}-{phash}"
            labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = phash
            rs_tmpl = _copy(tmpl)
            rs_tmpl.setdefault("metadata", {})["labels"] = labels
            selector = _copy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = phash
            start = 0 if recreate and old_pods else desired
            body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                                 "annotations": {"deployment.kubernetes.io/revision": str(max_rev + 1),
                                                 "deployment.kubernetes.io/desired-replicas": str(desired)},
                                 "ownerReferences": [owner_ref(dep)]},
                    "spec": {"replicas": start, "selector": selector, "template": rs_tmpl}}
            try:
                self.api.create(rs_rt, ns, body)
            except ApiError as e:
                if e.code != 409:
                    raise
            self.api.record_event(dep, "Normal", "ScalingReplicaSet",
                                  f"Scaled up replica set {rs_name} from 0 to {start}",
                                  "deployment-controller")
            return  # next pass sees the new ReplicaSet
        if new_rs is None:
            return
        rev = int((new_rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
        if rev < max_rev:  # a rollback to an old template: that ReplicaSet becomes the newest revision
            upd = _copy(new_rs)
            upd["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(max_rev + 1)
            self._write("apps", "replicasets", upd)
            return
        new_status = new_rs.get("status") or {}
        new_available = int(new_status.get("availableReplicas", 0))
        if not paused:
            want_new = desired
            if recreate and old_pods:
                want_new = 0
            self._scale_rs(dep, new_rs, want_new)
            if recreate or new_available >= desired:
                for r in old_rss:
                    self._scale_rs(dep, r, 0)
            self._cleanup_history(dep, old_rss)
        # status
        all_rs = [new_rs, *old_rss]
        def total(field: str, rss_: list[Obj]) -> int:
            return sum(int((r.get("status") or {}).get(field, 0)) for r in rss_)
        replicas = total("replicas", all_rs)
        updated = int(new_status.get("replicas", 0))
        ready = total("readyReplicas", all_rs)
        available = total("availableReplicas", all_rs)
        new_dep = _copy(dep)
        new_dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(
            max(rev, max_rev))
        st = new_dep.setdefault("status", {})
        st["observedGeneration"] = meta.get("generation", 1)
        st["replicas"] = replicas
        st["updatedReplicas"] = updated
        st["readyReplicas"] = ready
        st["availableReplicas"] = available
        if desired - available > 0:
            st["unavailableReplicas"] = desired - available
        else:
            st.pop("unavailableReplicas", None)
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            if st[k] == 0:
                del st[k]
        conds = st.setdefault("conditions", [])
        max_unavail = 0
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        if not recreate:
            max_unavail = _int_or_percent(ru.get("maxUnavailable", "25%"), desired, round_up=False)
        if available >= desired - max_unavail:
            set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.", update_time=True)
        else:
            set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.", update_time=True)
        rs_name = new_rs["metadata"]["name"]
        complete = updated == desired and replicas == desired and available == desired
        marker = (phash, updated, ready, available, replicas)
        uid = meta["uid"]
        last = self._progress.get(uid)
        t = time.monotonic()
        if last is None or last[0] != marker:
            self._progress[uid] = (marker, t)
            last = (marker, t)
        deadline = int(spec.get("progressDeadlineSeconds", 600))
        if complete:
            set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.', update_time=True)
        elif paused:
            set_condition(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                          update_time=True)
        elif t - last[1] > deadline:
            set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                          f'ReplicaSet "{rs_name}" has timed out progressing.', update_time=True)
        else:
            set_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                          f'ReplicaSet "{rs_name}" is progressing.', update_time=True)
            self._wake(deadline - (t - last[1]) + 0.05)
        conds.sort(key=lambda c: 0 if c["type"] == "Available" else 1)
        self._write("apps", "deployments", new_dep)

    def _scale_rs(self, dep: Obj, rs: Obj, replicas: int) -> None:
        if int(rs["spec"].get("replicas", 1)) == replicas:
            return
        upd = _copy(rs)
        before = int(upd["spec"].get("replicas", 1))
        upd["spec"]["replicas"] = replicas
        upd["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(
            dep["spec"].get("replicas", 1))
        if not self.api.write_status(self._rt("apps", "replicasets"), upd):
            return  # changed meanwhile: the next pass decides again
        verb = "up" if replicas > before else "down"
        self.api.record_event(dep, "Normal", "ScalingReplicaSet",
                              f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {replicas}",
                              "deployment-controller")

    def _cleanup_history(self, dep: Obj, old_rss: list[Obj]) -> None:
        limit = int(dep["spec"].get("revisionHistoryLimit", 10))
        idle = [r for r in old_rss if int(r["spec"].get("replicas", 0)) == 0
                and int((r.get("status") or {}).get("replicas", 0)) == 0]
        idle.sort(key=lambda r: int((r["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", 0)))
        for r in idle[:max(0, len(idle) - limit)]:
            self._delete("apps", "replicasets", r)

    # --- replicaset -----------------------------------------------------------------------------

    def _replicasets(self) -> None:
        for rs in self._objs("apps", "replicasets"):
            with self._isolated("replicaset", rs):
                if rs["metadata"].get("deletionTimestamp"):
                    continue
                want = int(rs["spec"].get("replicas", 1))
                pods = self._owned("", "pods", rs)
                live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
                for _ in range(want - len(live)):
                    self._create_pod(rs, f"{rs['metadata']['name']}-{suffix()}", {})
                if len(live) > want:
                    live.sort(key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]))
                    for p in live[:len(live) - want]:
                        self._delete("", "pods", p)
                pods = self._owned("", "pods", rs)
                ready = sum(1 for p in pods if pod_ready(p))
                new = _copy(rs)
                st: Obj = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                           "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
                new["status"] = {k: v for k, v in st.items() if v or k in ("replicas", "observedGeneration")}
                self._write("apps", "replicasets", new)

    # --- statefulset ----------------------------------------------------------------------------

    def _statefulsets(self) -> None:
        for sts in self._objs("apps", "statefulsets"):
            with self._isolated("statefulset", sts):
                if sts["metadata"].get("deletionTimestamp"):
                    continue
                self._statefulset(sts)

    def _statefulset(self, sts: Obj) -> None:
        spec = sts["spec"]
        name = sts["metadata"]["name"]
        ns = sts["metadata"]["namespace"]
        want = int(spec.get("replicas", 1))
        rev = f"{name}-{safe_hash(spec.get('template') or {})}"
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        pods = {p["metadata"]["name"]: p for p in self._owned("", "pods", sts)}
        pvc_rt = self._rt("", "persistentvolumeclaims")
        for i in range(want):
            pname = f"{name}-{i}"
            if pname in pods:
                if ordered and not pod_ready(pods[pname]):
                    break
                continue
            for vct in spec.get("volumeClaimTemplates") or []:
                cname = f"{vct['metadata']['name']}-{pname}"
                if self.store.peek(pvc_rt.key, ns, cname) is None:
                    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": cname, "namespace": ns,
                                        "labels": dict((spec.get("selector") or {}).get("matchLabels") or {})},
                           "spec": _copy(vct.get("spec") or {})}
                    self.api.create(pvc_rt, ns, pvc)
            tmpl_spec: Obj = {"hostname": pname}
            if spec.get("serviceName"):
                tmpl_spec["subdomain"] = spec["serviceName"]
            claims = [{"name": vct["metadata"]["name"],
                       "persistentVolumeClaim": {"claimName": f"{vct['metadata']['name']}-{pname}"}}
                      for vct in spec.get("volumeClaimTemplates") or []]
            if claims:  # as the StatefulSet controller does: template volumes of the same name are replaced
                names = {c["name"] for c in claims}
                tmpl_volumes = ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []
                tmpl_spec["volumes"] = claims + [v for v in tmpl_volumes if v.get("name") not in names]
            self._create_pod(sts, pname, {"controller-revision-hash": rev,
                                          "statefulset.kubernetes.io/pod-name": pname,
                                          "apps.kubernetes.io/pod-index": str(i)}, tmpl_spec)
            if ordered:
                break
        extra = sorted((p for n, p in pods.items() if _ordinal(n, name) >= want),
                       key=lambda p: -_ordinal(p["metadata"]["name"], name))
        for p in extra[:1] if ordered else extra:
            self._delete("", "pods", p)
        pods = {p["metadata"]["name"]: p for p in self._owned("", "pods", sts)}
        us = spec.get("updateStrategy") or {}
        in_range = [p for n, p in pods.items() if _ordinal(n, name) < want]
        if us.get("type", "RollingUpdate") == "RollingUpdate" and len(in_range) == want and all(
                pod_ready(p) for p in in_range):
            partition = int((us.get("rollingUpdate") or {}).get("partition", 0))
            stale = [p for p in in_range if (p["metadata"].get("labels") or {}).get(
                "controller-revision-hash") != rev and _ordinal(p["metadata"]["name"], name) >= partition]
            if stale:
                stale.sort(key=lambda p: -_ordinal(p["metadata"]["name"], name))
                self._delete("", "pods", stale[0])
        pods = {p["metadata"]["name"]: p for p in self._owned("", "pods", sts)}
        updated = sum(1 for p in pods.values()
                      if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == rev)
        ready = sum(1 for p in pods.values() if pod_ready(p))
        new = _copy(sts)
        old_st = sts.get("status") or {}
        current_rev = old_st.get("currentRevision", rev)
        if updated == want == len(pods):
            current_rev = rev
        current = sum(1 for p in pods.values()
                      if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == current_rev)
        new["status"] = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                         "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": current,
                         "updatedReplicas": updated, "currentRevision": current_rev, "updateRevision": rev,
                         "collisionCount": 0}
        self._write("apps", "statefulsets", new)

    # --- daemonset ------------------------------------------------------------------------------

    def _daemonsets(self) -> None:
        for ds in self._objs("apps", "daemonsets"):
            with self._isolated("daemonset", ds):
                if ds["metadata"].get("deletionTimestamp"):
                    continue
                spec = ds["spec"]
                rev = safe_hash(spec.get("template") or {})
                pods = self._owned("", "pods", ds)
                live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
                stale = [p for p in live if (p["metadata"].get("labels") or {}).get("controller-revision-hash") != rev]
                rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
                if rolling:
                    for p in stale:
                        self._delete("", "pods", p)
                        live.remove(p)
                if not live:
                    self._create_pod(ds, f"{ds['metadata']['name']}-{suffix()}",
                                     {"controller-revision-hash": rev,
                                      "pod-template-generation": str(ds["metadata"].get("generation", 1))},
                                     {"nodeName": NODE_NAME})
                for p in live[1:]:
                    self._delete("", "pods", p)
                pods = self._owned("", "pods", ds)
                ready = sum(1 for p in pods if pod_ready(p))
                updated = sum(1 for p in pods
                              if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == rev)
                new = _copy(ds)
                new["status"] = {"observedGeneration": ds["metadata"].get("generation", 1),
                                 "desiredNumberScheduled": 1, "currentNumberScheduled": len(pods),
                                 "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                                 "updatedNumberScheduled": updated}
                if ready < 1:
                    new["status"]["numberUnavailable"] = 1
                self._write("apps", "daemonsets", new)

    # --- job ------------------------------------------------------------------------------------

    def _jobs(self) -> None:
        for job in self._objs("batch", "jobs"):
            with self._isolated("job", job):
                meta = job["metadata"]
                if meta.get("deletionTimestamp"):
                    continue
                spec = job["spec"]
                st = _copy(job.get("status") or {})
                conds = st.setdefault("conditions", [])
                finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds)
                pods = self._owned("", "pods", job)
                phases = [(p.get("status") or {}).get("phase") for p in pods]
                succeeded = phases.count("Succeeded")
                failed = phases.count("Failed")
                active = len(pods) - succeeded - failed
                completions = spec.get("completions")
                parallelism = int(spec.get("parallelism", 1))
                target = int(completions) if completions is not None else 1
                if not finished and not spec.get("suspend"):
                    st.setdefault("startTime", now())
                    if succeeded >= target:
                        set_condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                                      "Reached expected number of succeeded pods")
                        set_condition(conds, "Complete", "True", "CompletionsReached",
                                      "Reached expected number of succeeded pods")
                        st["completionTime"] = now()
                        self.api.record_event(job, "Normal", "Completed", "Job completed", "job-controller")
                    elif failed > int(spec.get("backoffLimit", 6)):
                        msg = "Job has reached the specified backoff limit"
                        set_condition(conds, "FailureTarget", "True", "BackoffLimitExceeded", msg)
                        set_condition(conds, "Failed", "True", "BackoffLimitExceeded", msg)
                        self.api.record_event(job, "Warning", "BackoffLimitExceeded", msg, "job-controller")
                        for p in pods:
                            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                                self._delete("", "pods", p)
                    else:
                        for _ in range(min(parallelism, target - succeeded) - active):
                            uid = meta["uid"]
                            self._create_pod(job, f"{meta['name']}-{suffix()}",
                                             {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                                              "batch.kubernetes.io/job-name": meta["name"],
                                              "job-name": meta["name"]})
                            active += 1
                st["active"] = active if not finished else 0
                st["succeeded"] = succeeded
                st["failed"] = failed
                st["ready"] = sum(1 for p in pods if pod_ready(p))
                st["terminating"] = 0
                for k in ("active", "succeeded", "failed"):
                    if not st[k]:
                        del st[k]
                if not conds:
                    del st["conditions"]
                new = _copy(job)
                new["status"] = st
                self._write("batch", "jobs", new)

    # --- kubelet (pods) -------------------------------------------------------------------------

    def _kubelet(self) -> None:
        t = time.monotonic()
        pods = self._objs("", "pods")
        used_ips = {(p.get("status") or {}).get("podIP") for p in pods}
        live_uids = set()
        for pod in pods:
            with self._isolated("kubelet", pod):
                meta = pod["metadata"]
                uid = meta["uid"]
                live_uids.add(uid)
                if meta.get("deletionTimestamp"):
                    continue
                phase = (pod.get("status") or {}).get("phase", "Pending")
                if phase in ("Succeeded", "Failed"):
                    continue
                if not pod["spec"].get("nodeName"):
                    blocked = self._unbound_claim(pod)
                    if blocked is not None:
                        self._unschedulable(pod, blocked)
                        continue
                seen = self._seen.setdefault(uid, t)
                new = _copy(pod)
                spec = new["spec"]
                spec.setdefault("nodeName", NODE_NAME)
                st = new.setdefault("status", {})
                if not st.get("podIP"):
                    st["podIP"] = self._pod_ip(used_ips)
                    used_ips.add(st["podIP"])
                    st["podIPs"] = [{"ip": st["podIP"]}]
                    st["hostIP"] = "127.0.0.1"
                    st["hostIPs"] = [{"ip": "127.0.0.1"}]
                st.setdefault("startTime", now())
                st.setdefault("qosClass", "BestEffort")
                conds = st.setdefault("conditions", [])
                set_condition(conds, "PodScheduled", "True")
                age = t - seen
                inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
                init_time = len(inits) * self.pod_ready_delay  # each init container "runs" one delay
                unready = f"containers with unready status: [{_names(spec)}]"
                if phase == "Pending" and age < init_time:
                    done = int(age // self.pod_ready_delay)
                    self._initializing(new, inits, done)
                    self._wake((done + 1) * self.pod_ready_delay - age)
                    self._write("", "pods", new)
                    continue
                if inits:
                    prev = {x.get("name"): x for x in st.get("initContainerStatuses") or []}
                    st["initContainerStatuses"] = [self._init_status(c, "done", prev.get(c.get("name")))
                                                   for c in inits]
                age -= init_time
                if age < self.pod_ready_delay and phase == "Pending":
                    set_condition(conds, "PodReadyToStartContainers", "True")
                    set_condition(conds, "Initialized", "True")
                    set_condition(conds, "ContainersReady", "False", "ContainersNotReady", unready)
                    set_condition(conds, "Ready", "False", "ContainersNotReady", unready)
                    st["containerStatuses"] = [self._cstatus(c, {"waiting": {"reason": "ContainerCreating"}}, False)
                                               for c in spec.get("containers") or []]
                    self._wake(self.pod_ready_delay - age)
                    self._write("", "pods", new)
                    continue
                restart = spec.get("restartPolicy", "Always")
                fault = self.faults.pod_fault(pod)
                if fault is not None and fault.kind == "image_pull":
                    self._image_pull_failure(pod, new, uid, t)
                    continue
                fail = (meta.get("annotations") or {}).get(FAIL_ANNOTATION, "").lower() in ("true", "1", "yes")
                st["phase"] = "Running"
                set_condition(conds, "PodReadyToStartContainers", "True")
                set_condition(conds, "Initialized", "True")
                old_cs = {c.get("name"): c for c in st.get("containerStatuses") or []}
                if fault is not None and fault.kind == "crash_loop" and restart == "Always":
                    last = self._crash.get(uid)
                    bump = last is None or t - last >= CRASH_BACKOFF_SECONDS
                    if bump:
                        self._crash[uid] = t
                    self._wake(CRASH_BACKOFF_SECONDS)
                    css = []
                    for c in spec.get("containers") or []:
                        count = int((old_cs.get(c["name"]) or {}).get("restartCount", 0)) + (1 if bump else 0)
                        cs = self._cstatus(c, {"waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off restarting failed container={c['name']} pod={meta['name']}"}},
                            False, count)
                        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now(),
                                                          "finishedAt": now()}}
                        cs["started"] = False
                        css.append(cs)
                    st["containerStatuses"] = css
                    set_condition(conds, "ContainersReady", "False", "ContainersNotReady",
                                  f"containers with unready status: [{_names(spec)}]")
                    set_condition(conds, "Ready", "False", "ContainersNotReady",
                                  f"containers with unready status: [{_names(spec)}]")
                    if bump:
                        self.api.record_event(pod, "Warning", "BackOff",
                                              f"Back-off restarting failed container {_first(spec)} in pod "
                                              f"{meta['name']}_{meta['namespace']}({uid})", "kubelet")
                elif fault is not None and fault.kind == "never_ready" and restart == "Always":
                    st["containerStatuses"] = [self._cstatus(c, self._running(old_cs, c), False,
                                                             int((old_cs.get(c["name"]) or {}).get("restartCount", 0)))
                                               for c in spec.get("containers") or []]
                    set_condition(conds, "ContainersReady", "False", "ContainersNotReady",
                                  f"containers with unready status: [{_names(spec)}]")
                    set_condition(conds, "Ready", "False", "ContainersNotReady",
                                  f"containers with unready status: [{_names(spec)}]")
                    last = self._probe_event.get(uid)
                    if last is None or t - last >= PROBE_EVENT_SECONDS:
                        self._probe_event[uid] = t
                        self.api.record_event(pod, "Warning", "Unhealthy",
                                              fault.message or "Readiness probe failed: HTTP probe failed with "
                                                               "statuscode: 503", "kubelet")
                    self._wake(PROBE_EVENT_SECONDS)
                elif restart != "Always" and (age >= 2 * self.pod_ready_delay or fault is not None):
                    code = 1 if fail or fault is not None else 0
                    st["phase"] = "Failed" if code else "Succeeded"
                    reason = "Error" if code else "Completed"
                    st["containerStatuses"] = [self._cstatus(c, {"terminated": {
                        "exitCode": code, "reason": reason, "startedAt": now(), "finishedAt": now()}}, False)
                        for c in spec.get("containers") or []]
                    set_condition(conds, "ContainersReady", "False", "PodCompleted")
                    set_condition(conds, "Ready", "False", "PodCompleted")
                    if code:
                        self.api.record_event(pod, "Warning", "Failed", "Error: container exited with code 1",
                                              "kubelet")
                else:
                    if restart != "Always":
                        self._wake(2 * self.pod_ready_delay - age)
                    running_for = age - self.pod_ready_delay
                    css = []
                    for c in spec.get("containers") or []:
                        was = old_cs.get(c["name"]) or {}
                        wait = self._probe_wait(c, running_for)
                        ready = bool(was.get("ready")) or wait <= 0  # a Ready container stays Ready
                        if not ready:
                            self._wake(wait)
                        cs = self._cstatus(c, self._running(old_cs, c), ready, int(was.get("restartCount", 0)))
                        if c.get("startupProbe") and not ready:
                            cs["started"] = False
                        css.append(cs)
                    st["containerStatuses"] = css
                    not_ready = [cs["name"] for cs in css if not cs["ready"]]
                    if not_ready:
                        why = f"containers with unready status: [{' '.join(not_ready)}]"
                        set_condition(conds, "ContainersReady", "False", "ContainersNotReady", why)
                        set_condition(conds, "Ready", "False", "ContainersNotReady", why)
                    else:
                        set_condition(conds, "ContainersReady", "True")
                        set_condition(conds, "Ready", "True")
                        for c in conds:
                            if c["type"] in ("Ready", "ContainersReady"):
                                c.pop("reason", None)
                                c.pop("message", None)
                order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
                conds.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else 99)
                self._write("", "pods", new)
        for gone in set(self._seen) - live_uids:
            self._seen.pop(gone, None)
            self._crash.pop(gone, None)
            self._probe_event.pop(gone, None)

    def _unbound_claim(self, pod: Obj) -> str | None:
        """Why the scheduler cannot place ``pod`` for its PVCs (missing or not Bound), or None."""
        ns = pod["metadata"]["namespace"]
        for vol in pod["spec"].get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName") if isinstance(vol, dict) else None
            if not claim:
                continue
            pvc = self.store.peek(("", "persistentvolumeclaims"), ns, str(claim))
            if pvc is None:
                return f'persistentvolumeclaim "{claim}" not found'
            if (pvc.get("status") or {}).get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
        return None

    def _unschedulable(self, pod: Obj, why: str) -> None:
        msg = (f"0/1 nodes are available: {why}. preemption: 0/1 nodes are available: 1 Preemption is not helpful "
               "for scheduling.")
        new = _copy(pod)
        st = new.setdefault("status", {})
        st["phase"] = "Pending"
        conds = st.setdefault("conditions", [])
        set_condition(conds, "PodScheduled", "False", "Unschedulable", msg)
        self._write("", "pods", new)
        if self._note(pod, "FailedScheduling:" + why):
            self.api.record_event(pod, "Warning", "FailedScheduling", msg, "default-scheduler")

    def _note(self, obj: Obj, reason: str) -> bool:
        """True the first time ``reason`` is noted for this object (one-off events)."""
        key = (str(obj["metadata"].get("uid")), reason)
        if key in self._noted:
            return False
        if len(self._noted) > 10_000:
            self._noted.clear()
        self._noted.add(key)
        return True

    # --- volumes (PV controller + provisioner) --------------------------------------------------

    def _volumes(self) -> None:
        classes = {o["metadata"]["name"]: o for o in self._objs("storage.k8s.io", "storageclasses")}
        for pvc in self._objs("", "persistentvolumeclaims"):
            with self._isolated("volume", pvc):
                if pvc["metadata"].get("deletionTimestamp"):
                    continue
                new = _copy(pvc)
                spec = new.setdefault("spec", {})
                st = new.setdefault("status", {})
                if st.get("phase") == "Bound":
                    want = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
                    if want is not None and (st.get("capacity") or {}).get("storage") != want:
                        st["capacity"] = {"storage": want}  # an expansion completes at once
                        self._write("", "persistentvolumeclaims", new)
                    continue
                if "storageClassName" not in spec:
                    default = self.api.default_storage_class()  # retroactive default class assignment
                    if default is not None:
                        spec["storageClassName"] = default
                cls_name = spec.get("storageClassName")
                if not cls_name:
                    if self._note(pvc, "FailedBinding"):
                        self.api.record_event(pvc, "Normal", "FailedBinding", "no persistent volumes available "
                                              "for this claim and no storage class is set",
                                              "persistentvolume-controller")
                    if "storageClassName" in spec and "storageClassName" not in pvc.get("spec", {}):
                        self._write("", "persistentvolumeclaims", new)
                    continue
                cls = classes.get(str(cls_name))
                if cls is None:
                    if self._note(pvc, f"ProvisioningFailed:{cls_name}"):
                        self.api.record_event(pvc, "Warning", "ProvisioningFailed",
                                              f'storageclass.storage.k8s.io "{cls_name}" not found',
                                              "persistentvolume-controller")
                    if (pvc.get("spec") or {}).get("storageClassName") != cls_name:
                        self._write("", "persistentvolumeclaims", new)
                    continue
                provisioner = str(cls.get("provisioner", ""))
                volume = f"pvc-{pvc['metadata']['uid']}"
                spec["volumeName"] = volume
                ann = new["metadata"].setdefault("annotations", {})
                ann.update({"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                            "volume.beta.kubernetes.io/storage-provisioner": provisioner,
                            "volume.kubernetes.io/storage-provisioner": provisioner})
                new["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or []),
                                 "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {})
                                              .get("storage", "0")}}
                self._write("", "persistentvolumeclaims", new)
                self.api.record_event(pvc, "Normal", "ProvisioningSucceeded",
                                      f"Successfully provisioned volume {volume} using {provisioner or 'sandbox'}",
                                      provisioner or "sandbox")

    def _image_pull_failure(self, pod: Obj, new: Obj, uid: str, t: float) -> None:
        """Pending, containers waiting ErrImagePull then ImagePullBackOff, a Warning Event per attempt."""
        spec, st = new["spec"], new["status"]
        last = self._crash.get(uid)
        attempt = last is None or t - last >= CRASH_BACKOFF_SECONDS
        if attempt:
            self._crash[uid] = t
        old_reason = ((st.get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting", {}).get("reason")
        reason = "ErrImagePull" if old_reason not in ("ErrImagePull", "ImagePullBackOff") else "ImagePullBackOff"
        if not attempt:
            reason = old_reason or "ErrImagePull"
        st["phase"] = "Pending"
        conds = st.setdefault("conditions", [])
        set_condition(conds, "Initialized", "True")
        unready = f"containers with unready status: [{_names(spec)}]"
        set_condition(conds, "ContainersReady", "False", "ContainersNotReady", unready)
        set_condition(conds, "Ready", "False", "ContainersNotReady", unready)
        st["containerStatuses"] = [self._cstatus(c, {"waiting": {
            "reason": reason, "message": f'Back-off pulling image "{c.get("image")}"'}}, False)
            for c in spec.get("containers") or []]
        self._wake(CRASH_BACKOFF_SECONDS)
        self._write("", "pods", new)
        if attempt:
            self.api.record_event(pod, "Warning", "Failed",
                                  f'Failed to pull image "{_image(spec)}": sandbox fault: image not found',
                                  "kubelet")

    def _probe_wait(self, c: Obj, running_for: float) -> float:
        """Seconds until a running container passes its readiness (and startup) probe; <= 0 when it has.

        No readiness probe: Ready as soon as it runs (as the kubelet does). A probe first succeeds after its
        ``initialDelaySeconds``, scaled by ``probe_time_scale``.
        """
        need = 0.0
        for key in ("startupProbe", "readinessProbe"):
            probe = c.get(key)
            if isinstance(probe, dict):
                delay = probe.get("initialDelaySeconds") or 0
                need = max(need, float(delay) * self.probe_time_scale if isinstance(delay, int | float) else 0.0)
        return need - running_for

    def _initializing(self, new: Obj, inits: list[Obj], done: int) -> None:
        """Init containers run one after another: ``done`` have completed, the next one runs."""
        spec, st = new["spec"], new["status"]
        st["phase"] = "Pending"
        conds = st.setdefault("conditions", [])
        pending = " ".join(str(c.get("name")) for c in inits[done:])
        set_condition(conds, "PodReadyToStartContainers", "True")
        set_condition(conds, "Initialized", "False", "ContainersNotInitialized",
                      f"containers with incomplete status: [{pending}]")
        unready = f"containers with unready status: [{_names(spec)}]"
        set_condition(conds, "ContainersReady", "False", "ContainersNotReady", unready)
        set_condition(conds, "Ready", "False", "ContainersNotReady", unready)
        prev = {x.get("name"): x for x in st.get("initContainerStatuses") or []}
        st["initContainerStatuses"] = [self._init_status(c, "done" if i < done else "running" if i == done
                                                         else "waiting", prev.get(c.get("name")))
                                       for i, c in enumerate(inits)]
        st["containerStatuses"] = [self._cstatus(c, {"waiting": {"reason": "PodInitializing"}}, False)
                                   for c in spec.get("containers") or []]
        order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        conds.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else 99)

    def _init_status(self, c: Obj, stage: str, old: Obj | None) -> Obj:
        """An init container's status: ``done`` (terminated Completed; a sidecar keeps running), ``running``
        or ``waiting``; the previous state (and its timestamps) is kept while the stage is unchanged."""
        sidecar = c.get("restartPolicy") == "Always"
        if stage == "done" and not sidecar:
            state: Obj = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now(),
                                         "finishedAt": now()}}
        elif stage in ("done", "running"):
            state = {"running": {"startedAt": now()}}
        else:
            state = {"waiting": {"reason": "PodInitializing"}}
        prev = (old or {}).get("state") or {}
        if set(prev) == set(state):
            state = prev
        cs = self._cstatus(c, state, stage == "done")
        cs["started"] = "running" in state
        return cs

    @staticmethod
    def _running(old: dict[str, Obj], c: Obj) -> Obj:
        prev = (old.get(c["name"]) or {}).get("state") or {}
        if "running" in prev:
            return {"running": prev["running"]}
        return {"running": {"startedAt": now()}}

    @staticmethod
    def _cstatus(c: Obj, state: Obj, ready: bool, restarts: int = 0) -> Obj:
        image = str(c.get("image", ""))
        return {"name": c.get("name"), "image": image, "imageID": f"sandbox://{image}",
                "containerID": f"sandbox://{safe_hash([c.get('name'), image], 16)}", "ready": ready,
                "started": "running" in state, "restartCount": restarts, "state": state}

    @staticmethod
    def _pod_ip(used: builtins.set[Any]) -> str:
        for i in range(2, 65000):
            ip = f"10.244.{i // 250}.{i % 250 + 1}"
            if ip not in used:
                return ip
        raise ApiError(500, "pod IP range exhausted")

    # --- services -------------------------------------------------------------------------------

    def _allocate_service(self, svc: Obj) -> None:
        """Cluster IP / node ports at create or update time, like the API server's allocators."""
        if not self._on["service"]:
            return
        spec = svc.setdefault("spec", {})
        stype = spec.get("type", "ClusterIP")
        if stype == "ExternalName":
            return
        others = [o for o in self._objs("", "services")
                  if o["metadata"].get("uid") != svc["metadata"].get("uid")]
        self._check_requested(svc, others)
        if not spec.get("clusterIP"):
            used = {(o.get("spec") or {}).get("clusterIP") for o in others}
            hosts = SERVICE_CIDR.hosts()
            next(hosts)  # 10.96.0.1 is the kubernetes service
            for ip in hosts:
                if str(ip) not in used:
                    spec["clusterIP"] = str(ip)
                    break
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if stype in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
            used_ports = {p.get("nodePort") for o in others for p in (o.get("spec") or {}).get("ports") or []}
            for p in spec.get("ports") or []:
                if not p.get("nodePort"):
                    port = next(n for n in range(30000, 32768) if n not in used_ports)
                    p["nodePort"] = port
                    used_ports.add(port)

    def _check_requested(self, svc: Obj, others: list[Obj]) -> None:
        """A requested cluster IP or node port must be free and in range (the allocators' 422s)."""
        spec = svc["spec"]
        errs: list[FieldError] = []
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            try:
                addr = ipaddress.ip_address(str(ip))
            except ValueError:
                addr = None  # validation reports the syntax
            if addr is not None:
                why = None
                if addr not in SERVICE_CIDR:
                    why = f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}"
                elif any((o.get("spec") or {}).get("clusterIP") == ip for o in others):
                    why = "provided IP is already allocated"
                if why:
                    errs.append(fielderrors.invalid("spec.clusterIPs", [ip], f"failed to allocate IP {ip}: {why}"))
        used = {p.get("nodePort") for o in others for p in (o.get("spec") or {}).get("ports") or []}
        for i, p in enumerate(spec.get("ports") or []):
            np = p.get("nodePort") if isinstance(p, dict) else None
            if not isinstance(np, int) or not np or spec.get("type") not in ("NodePort", "LoadBalancer"):
                continue
            if not 30000 <= np <= 32767:
                errs.append(fielderrors.invalid(f"spec.ports[{i}].nodePort", np, "provided port is not in the valid "
                                                "range. The range of valid ports is 30000-32767"))
            elif np in used:
                errs.append(fielderrors.invalid(f"spec.ports[{i}].nodePort", np, "provided port is already allocated"))
        if errs:
            raise invalid_errors(self._rt("", "services"), str(svc["metadata"].get("name", "")), errs)

    def _services(self) -> None:
        for svc in self._objs("", "services"):
            with self._isolated("service", svc):
                spec = svc.get("spec") or {}
                if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
                    new = _copy(svc)
                    self._allocate_service(new)
                    self._write("", "services", new)

    def _lb_ranges(self) -> list[list[Any]]:
        """Candidate addresses: MetalLB IPAddressPools if any exist, else the sandbox's lb_pool."""
        pools = self._objs("metallb.io", "ipaddresspools")
        out: list[list[Any]] = []
        for pool in pools:
            for entry in (pool.get("spec") or {}).get("addresses") or []:
                try:
                    if "-" in str(entry):
                        lo, hi = (ipaddress.ip_address(x.strip()) for x in str(entry).split("-", 1))
                        out.append([ipaddress.ip_address(int(lo) + i) for i in range(int(hi) - int(lo) + 1)][:4096])
                    else:
                        net = ipaddress.ip_network(str(entry), strict=False)
                        hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
                        out.append(hosts[:4096])
                except ValueError:
                    continue
        if not pools and self.lb_pool is not None:
            net = self.lb_pool
            out.append(list(net.hosts()) if net.num_addresses > 2 else list(net))
        return out

    def _loadbalancers(self) -> None:
        services = self._objs("", "services")
        used = {i.get("ip") for s in services
                for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []}
        for svc in services:
            with self._isolated("loadbalancer", svc):
                spec = svc.get("spec") or {}
                ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                if spec.get("type") != "LoadBalancer":
                    if ingress:
                        new = _copy(svc)
                        new["status"]["loadBalancer"] = {}
                        self._write("", "services", new)
                    continue
                if ingress:
                    continue
                ann = svc["metadata"].get("annotations") or {}
                wanted = (ann.get("metallb.io/loadBalancerIPs") or ann.get("metallb.universe.tf/loadBalancerIPs")
                          or spec.get("loadBalancerIP"))
                ip: str | None = None
                if wanted:
                    ip = str(wanted).split(",")[0].strip() if str(wanted).split(",")[0].strip() not in used else None
                else:
                    for rng in self._lb_ranges():
                        ip = next((str(a) for a in rng if str(a) not in used), None)
                        if ip:
                            break
                if ip is None:
                    # No pool at all: nothing answers, as on a cluster without a load-balancer implementation
                    # (kubectl shows <pending>); an exhausted MetalLB pool says so.
                    if self._objs("metallb.io", "ipaddresspools") and self._note(svc, "AllocationFailed"):
                        self.api.record_event(svc, "Warning", "AllocationFailed",
                                              "Failed to allocate IP: no available IPs", "metallb-controller")
                    continue
                used.add(ip)
                new = _copy(svc)
                new.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}
                self._write("", "services", new)
                self.api.record_event(svc, "Normal", "IPAllocated", f'Assigned IP ["{ip}"]', "metallb-controller")

    # --- endpoints ------------------------------------------------------------------------------

    def _endpoints(self) -> None:
        ep_rt = self._rt("", "endpoints")
        es_rt = self._rt("discovery.k8s.io", "endpointslices")
        services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self._objs("", "services")}
        for ep in self._objs("", "endpoints"):
            managed = (ep["metadata"].get("labels") or {}).get("endpoints.kubernetes.io/managed-by")
            key = (ep["metadata"]["namespace"], ep["metadata"]["name"])
            if managed == "endpoint-controller" and (key not in services or not (
                    services[key].get("spec") or {}).get("selector")):
                self._delete("", "endpoints", ep)
        pods_by_ns: dict[str, list[Obj]] = {}
        for p in self._objs("", "pods"):
            pods_by_ns.setdefault(p["metadata"]["namespace"], []).append(p)
        for (ns, name), svc in services.items():
            with self._isolated("endpoints", svc):
                spec = svc.get("spec") or {}
                selector = spec.get("selector")
                if not selector or svc["metadata"].get("deletionTimestamp"):
                    continue
                pods = [p for p in pods_by_ns.get(ns, [])
                        if match_label_selector(selector, p["metadata"].get("labels") or {})
                        and (p.get("status") or {}).get("podIP") and not p["metadata"].get("deletionTimestamp")
                        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
                ready = [p for p in pods if pod_ready(p)]
                unready = [p for p in pods if not pod_ready(p)]
                ports = [{"name": p.get("name"), "port": _target_port(p, pods), "protocol": p.get("protocol", "TCP")}
                         for p in spec.get("ports") or []]
                for p in ports:
                    if not p["name"]:
                        del p["name"]

                subset: Obj = {}
                if ready:
                    subset["addresses"] = [_address(p) for p in ready]
                if unready:
                    subset["notReadyAddresses"] = [_address(p) for p in unready]
                if subset:
                    subset["ports"] = ports
                labels = dict(svc["metadata"].get("labels") or {})
                labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
                body = {"apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns, "labels": labels},
                        "subsets": [subset] if subset else []}
                if not body["subsets"]:
                    del body["subsets"]
                self._upsert(ep_rt, ns, name, body)
                slice_name = f"{name}-{safe_hash(svc['metadata']['uid'], 5)}"
                slabels = dict(svc["metadata"].get("labels") or {})
                slabels.update({"kubernetes.io/service-name": name,
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
                sbody = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                         "metadata": {"name": slice_name, "namespace": ns, "labels": slabels,
                                      "ownerReferences": [owner_ref(svc)]},
                         "addressType": "IPv4",
                         "endpoints": [{"addresses": [p["status"]["podIP"]],
                                        "conditions": {"ready": pod_ready(p), "serving": pod_ready(p),
                                                       "terminating": False},
                                        "nodeName": p["spec"].get("nodeName", NODE_NAME),
                                        "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns,
                                                      "uid": p["metadata"]["uid"]}} for p in pods],
                         "ports": ports}
                self._upsert(es_rt, ns, slice_name, sbody)

    def _upsert(self, rt: ResourceType, ns: str, name: str, body: Obj) -> None:
        old = self.store.peek(rt.key, ns, name)
        if old is None:
            self.api.create(rt, ns, body)
            return
        new = _copy(old)
        for k, v in body.items():
            if k == "metadata":
                new["metadata"]["labels"] = v.get("labels", {})
            else:
                new[k] = v
        for k in list(new):
            if k not in body and k not in ("metadata", "apiVersion", "kind"):
                del new[k]
        self._write(rt.group, rt.plural, new)


def _address(p: Obj) -> Obj:
    meta = p["metadata"]
    return {"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName", NODE_NAME),
            "targetRef": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                          "uid": meta["uid"]}}


def _ordinal(pod_name: str, sts_name: str) -> int:
    try:
        return int(pod_name[len(sts_name) + 1:])
    except ValueError:
        return -1


def _names(spec: Obj) -> str:
    return " ".join(str(c.get("name")) for c in spec.get("containers") or [])


def _image(spec: Obj) -> str:
    cs = spec.get("containers") or [{}]
    return str(cs[0].get("image", ""))


def _first(spec: Obj) -> str:
    cs = spec.get("containers") or [{}]
    return str(cs[0].get("name", ""))


def _target_port(port: Obj, pods: list[Obj]) -> int:
    tp = port.get("targetPort", port.get("port"))
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    for p in pods:
        for c in p["spec"].get("containers") or []:
            for cp in c.get("ports") or []:
                if cp.get("name") == tp:
                    return int(cp["containerPort"])
    return int(port.get("port", 0))
