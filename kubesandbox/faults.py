"""Fault injection: slow or failing API calls, write conflicts, pods that never get Ready or crash-loop."""

from __future__ import annotations

import builtins
import itertools
import os
import random
import re
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kubesandbox.errors import SandboxError

from .selectors import LabelSelector

KINDS = ("latency", "error", "conflict", "never_ready", "crash_loop", "image_pull", "watch_drop")
POD_KINDS = ("never_ready", "crash_loop", "image_pull")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Kinds listed here (comma-separated) are accepted but never fire: the switch that proves a fault test needs its
# faults (with them off, it must fail). Read when a FaultSet is created.
OFF_ENV = "KUBESANDBOX_FAULTS_OFF"


def kinds_switched_off(value: str | None = None) -> frozenset[str]:
    """The kinds named in ``$KUBESANDBOX_FAULTS_OFF`` (``all`` for every kind); unknown names are refused."""
    raw = os.environ.get(OFF_ENV, "") if value is None else value
    names = {n.strip() for n in raw.split(",") if n.strip()}
    if "all" in names:
        return frozenset(KINDS)
    unknown = names - set(KINDS)
    if unknown:
        raise SandboxError(f"{OFF_ENV}: unknown fault kind(s) {', '.join(sorted(unknown))} "
                           f"(one of {', '.join(KINDS)}, or all)")
    return frozenset(names)


@dataclass(frozen=True)
class Fault:
    """One injected fault.

    * ``latency``: sleep ``seconds`` before answering requests matching ``method``/``path`` (regexes).
    * ``error``: answer ``status`` (default 503) to a ``ratio`` of matching requests.
    * ``conflict``: answer 409 Conflict to matching writes (POST/PUT/PATCH/DELETE).
    * ``never_ready``: pods in ``namespace`` whose name starts with ``name_prefix`` and/or match
      ``label_selector`` run but never pass readiness.
    * ``crash_loop``: the same pods crash-loop (waiting CrashLoopBackOff, restartCount grows).
    * ``image_pull``: the same pods stay Pending with ErrImagePull/ImagePullBackOff.
    * ``watch_drop``: watches matching ``path`` are cut ``seconds`` after they opened (the connection closes
      mid-stream, without the end of the chunked body, as when a load balancer or the API server drops it).

    ``count`` limits how many times a request or watch fault fires (None = until removed). A pod fault "fires"
    each time the pod controller holds a pod by it.
    """

    kind: str
    seconds: float = 0.0
    status: int = 503
    ratio: float = 1.0
    method: str | None = None
    path: str | None = None
    namespace: str | None = None
    name_prefix: str | None = None
    label_selector: str | None = None
    count: int | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SandboxError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0.0 <= self.ratio <= 1.0:
            raise SandboxError(f"fault ratio must be within 0..1, got {self.ratio}")
        if self.kind == "error" and not 400 <= self.status <= 599:
            raise SandboxError(f"error fault status must be a 4xx/5xx code, got {self.status}")
        for rx in (self.method, self.path):
            if rx is not None:
                try:
                    re.compile(rx)
                except re.error as e:
                    raise SandboxError(f"bad fault regex {rx!r}: {e}") from e

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build from a JSON object (the HTTP control API); unknown keys are refused."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"id"}
        if unknown:
            raise SandboxError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise SandboxError("a fault needs a 'kind'")
        return cls(**{k: v for k, v in data.items() if k in names})

    def matches_request(self, method: str, path: str) -> bool:
        if self.method is not None and not re.fullmatch(self.method, method, re.IGNORECASE):
            return False
        return self.path is None or re.search(self.path, path) is not None

    def matches_pod(self, pod: dict[str, Any]) -> bool:
        meta = pod.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.name_prefix is not None and not str(meta.get("name", "")).startswith(self.name_prefix):
            return False
        return self.label_selector is None or LabelSelector.parse(self.label_selector).matches(
            meta.get("labels") or {})


@dataclass
class FaultSet:
    """The active faults; thread-safe. ``add`` returns an id for ``remove``.

    Every fault added is remembered with how often it fired (a request it answered or delayed, a watch stream it
    was set to cut, a controller pass in which it held a pod), also after it was removed, used up or cleared:
    ``counts()``, ``added()``. ``off``: kinds that never fire (from ``$KUBESANDBOX_FAULTS_OFF``)."""

    _faults: dict[int, Fault] = field(default_factory=dict)
    _left: dict[int, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=random.Random)
    _added: dict[int, Fault] = field(default_factory=dict)
    _fired: dict[int, int] = field(default_factory=dict)
    off: frozenset[str] = field(default_factory=kinds_switched_off)

    def add(self, fault: Fault) -> int:
        with self._lock:
            fid = next(self._ids)
            self._faults[fid] = fault
            self._added[fid] = fault
            self._fired[fid] = 0
            if fault.count is not None:
                self._left[fid] = fault.count
            return fid

    def counts(self) -> dict[int, int]:
        """How often each fault ever added fired, by id (removed, used-up and cleared ones included)."""
        with self._lock:
            return dict(self._fired)

    def added(self) -> dict[int, Fault]:
        """Every fault ever added, by id."""
        with self._lock:
            return dict(self._added)

    def remove(self, fid: int) -> bool:
        with self._lock:
            self._left.pop(fid, None)
            return self._faults.pop(fid, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._left.clear()

    def list(self) -> builtins.list[dict[str, Any]]:
        with self._lock:
            return [{"id": fid, **asdict(f), "fired": self._fired.get(fid, 0)} for fid, f in self._faults.items()]

    def __len__(self) -> int:
        return len(self._faults)

    def for_request(self, method: str, path: str) -> builtins.list[Fault]:
        """Request faults that fire now (counts are consumed here)."""
        if not self._faults:
            return []
        fired: list[Fault] = []
        with self._lock:
            for fid, f in list(self._faults.items()):
                if f.kind not in ("latency", "error", "conflict") or f.kind in self.off:
                    continue
                if f.kind == "conflict" and method not in WRITE_METHODS:
                    continue
                if not f.matches_request(method, path):
                    continue
                if f.kind == "error" and f.ratio < 1.0 and self._rng.random() >= f.ratio:
                    continue
                fired.append(f)
                self._fired[fid] += 1
                if fid in self._left:
                    self._left[fid] -= 1
                    if self._left[fid] <= 0:
                        del self._left[fid]
                        del self._faults[fid]
        return fired

    def watch_drop(self, path: str) -> float | None:
        """Seconds after which a watch on ``path`` is cut, when a watch_drop fault fires (its count is consumed)."""
        if not self._faults:
            return None
        with self._lock:
            for fid, f in list(self._faults.items()):
                if f.kind != "watch_drop" or f.kind in self.off or not f.matches_request("GET", path):
                    continue
                self._fired[fid] += 1
                if fid in self._left:
                    self._left[fid] -= 1
                    if self._left[fid] <= 0:
                        del self._left[fid]
                        del self._faults[fid]
                return f.seconds
        return None

    def pod_fault(self, pod: dict[str, Any]) -> Fault | None:
        """The never_ready/crash_loop/image_pull fault that applies to a pod, if any."""
        if not self._faults:
            return None
        with self._lock:
            for fid, f in self._faults.items():
                if f.kind in POD_KINDS and f.kind not in self.off and f.matches_pod(pod):
                    self._fired[fid] += 1
                    return f
        return None
