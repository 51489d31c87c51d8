"""One change per environment at a time: a ``coordination.k8s.io/v1`` Lease held in the cluster.

The Lease names its holder (user@host:pid) and is renewed by a background thread every third of its duration, so a
long deploy (health wait, rollback, verify) keeps it however long it runs, while a crashed run's Lease expires one
duration after its last renewal and is taken over (at once when the holder ran on this machine and is gone). A
renewal that finds someone else holding the Lease marks it lost: the flow stops before its next write
(:meth:`DeployLease.check`), naming who took it.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prjdevops.adapters.kube import KubeClient
from prjdevops.errors import ClusterError, Conflict, GuardRefused, LeaseLost
from prjdevops.ops.run import operator

LEASE_NAMESPACE = "kube-system"
CONFLICT_RETRIES = 5
DEFAULT_SECONDS = 60


def lease_name(env: str) -> str:
    return f"prjdevops-deploy-{env}"


def holder_identity() -> str:
    return f"{operator()}:{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _micro(t: datetime) -> str:
    """A MicroTime as the API server writes it."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Holding:
    """Who holds a Lease, since when, and whether that still counts (pure: read from the Lease's spec)."""

    holder: str
    since: datetime | None
    renewed: datetime | None
    duration: int

    @classmethod
    def of(cls, lease: dict[str, Any] | None) -> Holding | None:
        spec = (lease or {}).get("spec") or {}
        if not spec.get("holderIdentity"):
            return None
        return cls(str(spec["holderIdentity"]), _parse(spec.get("acquireTime")),
                   _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime")),
                   int(spec.get("leaseDurationSeconds") or 0))

    def expired(self, now: datetime) -> bool:
        return self.renewed is None or (now - self.renewed).total_seconds() > self.duration

    def live(self, now: datetime) -> bool:
        return not self.expired(now) and not holder_gone(self.holder)

    def describe(self) -> str:
        since = self.since.strftime("%Y-%m-%d %H:%M:%S UTC") if self.since else "an unknown time"
        return f"{self.holder} since {since}"


def holder_gone(holder: str) -> bool:
    """A holder on this machine whose process no longer runs (killed, or cut off from the API so it could not
    delete its Lease): no need to wait for the expiry. A recycled pid only makes us wait, never take over."""
    m = re.fullmatch(r".*@(?P<host>[^@:]+):(?P<pid>\d+)", holder)
    if m is None or m["host"] != socket.gethostname():
        return False
    try:
        os.kill(int(m["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def current_holder(kube: KubeClient, env: str) -> Holding | None:
    """The live holder of the environment's Lease, if any (read-only commands use it to explain a pending release)."""
    held = Holding.of(kube.read_lease(lease_name(env), LEASE_NAMESPACE))
    return held if held is not None and held.live(_now()) else None


class DeployLease:
    """The environment's deploy Lease, held from :meth:`acquire` to :meth:`release`, renewed in the background."""

    def __init__(self, kube: KubeClient, env: str, *, duration: int = DEFAULT_SECONDS, holder: str | None = None,
                 report: Callable[[str], None] = lambda _: None) -> None:
        self.kube, self.env, self.duration = kube, env, max(3, int(duration))
        self.name = lease_name(env)
        self.me = holder or holder_identity()
        self.report = report
        self.lost_to: str | None = None
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self.renewals = 0

    # --- taking it -----------------------------------------------------------------------------------------------

    def _refusal(self, held: Holding) -> GuardRefused:
        return GuardRefused(
            f"another deploy to {self.env!r} is running: lease {LEASE_NAMESPACE}/{self.name} is held by "
            f"{held.describe()} (renewed while it runs; it expires {held.duration}s after its last renewal)",
            hint="wait for it to finish, or rerun with --wait-lock SECONDS to wait for it; a crashed run's lock "
                 "expires by itself (at once when it ran on this machine)")

    def _try_take(self) -> Holding | None:
        """One read-decide-write; None when taken, else the live holder. 409s are read again, a few times."""
        for attempt in range(CONFLICT_RETRIES):
            now = _now()
            spec = {"holderIdentity": self.me, "leaseDurationSeconds": self.duration, "acquireTime": _micro(now),
                    "renewTime": _micro(now), "leaseTransitions": 0}
            existing = self.kube.read_lease(self.name, LEASE_NAMESPACE)
            held = Holding.of(existing)
            try:
                if existing is None:
                    out = self.kube.write_lease(self.name, LEASE_NAMESPACE, spec)
                else:
                    if held is not None and held.holder == self.me and attempt > 0:
                        self._version = existing["metadata"].get("resourceVersion")
                        return None  # our previous write landed; only its answer was lost
                    if held is not None and held.holder != self.me and held.live(now):
                        return held
                    spec["leaseTransitions"] = int((existing.get("spec") or {}).get("leaseTransitions") or 0) + 1
                    out = self.kube.write_lease(self.name, LEASE_NAMESPACE, spec,
                                                resource_version=existing["metadata"].get("resourceVersion"))
                self._version = out["metadata"].get("resourceVersion")
                return None
            except Conflict as e:
                if attempt == CONFLICT_RETRIES - 1:
                    raise GuardRefused(f"could not take lease {LEASE_NAMESPACE}/{self.name} for {self.env!r}: it "
                                       f"changed under us {CONFLICT_RETRIES} times in a row (409 Conflict)",
                                       hint="another deploy may be starting: retry when it has finished") from e
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def acquire(self, *, wait: float = 0.0, poll: float = 1.0) -> None:
        """Take the Lease; with ``wait`` > 0, wait up to that many seconds for a live holder, showing who."""
        deadline = time.monotonic() + max(0.0, wait)
        last_said = 0.0
        while True:
            held = self._try_take()
            if held is None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._refusal(held) if wait <= 0 else GuardRefused(
                    f"waited {wait:.0f}s for the deploy lease of {self.env!r}: still held by {held.describe()}",
                    hint="try again later, or with a longer --wait-lock")
            if time.monotonic() - last_said >= 10 or last_said == 0.0:
                self.report(f"waiting for the deploy lease of {self.env!r}: held by {held.describe()} "
                            f"({int(left + 0.999)}s left)")
                last_said = time.monotonic()
            time.sleep(min(poll, max(0.05, left)))
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.env}", daemon=True)
        self._thread.start()

    # --- keeping it ----------------------------------------------------------------------------------------------

    def renew(self) -> bool:
        """Write a fresh renewTime; False (and :attr:`lost_to` set) when someone else holds the Lease now."""
        with self._mutex:
            if self.lost_to is not None:
                return False
            for _ in range(CONFLICT_RETRIES):
                existing = self.kube.read_lease(self.name, LEASE_NAMESPACE)
                held = Holding.of(existing)
                if existing is None or held is None or held.holder != self.me:
                    self.lost_to = held.describe() if held is not None else "nobody (the Lease was deleted)"
                    return False
                spec = dict(existing.get("spec") or {})
                spec["renewTime"] = _micro(_now())
                try:
                    out = self.kube.write_lease(self.name, LEASE_NAMESPACE, spec,
                                                resource_version=existing["metadata"].get("resourceVersion"))
                except Conflict:
                    continue  # changed between our read and write: read again and decide again
                self._version = out["metadata"].get("resourceVersion")
                self.renewals += 1
                return True
            return True  # contended but still ours at the last read: the next renewal tries again

    def _renew_loop(self) -> None:
        interval = self.duration / 3
        last_ok = time.monotonic()
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    return
                last_ok = time.monotonic()
            except ClusterError:
                # an unreachable API: keep trying; past the duration someone may have taken over, so say lost
                if time.monotonic() - last_ok > self.duration:
                    with self._mutex:
                        self.lost_to = self.lost_to or f"possibly another run (not renewed for {self.duration}s)"
                    return

    def check(self) -> None:
        """Raise :class:`LeaseLost` when the Lease is no longer ours: called before every write of a flow."""
        if self.lost_to is not None:
            raise LeaseLost(f"lost the deploy lease of {self.env!r} to {self.lost_to}; stopped before the next change",
                            hint="check what the other run did (invoke prod.status / stg.status), then rerun")

    # --- giving it back ------------------------------------------------------------------------------------------

    def release(self) -> None:
        """Stop renewing and delete our Lease (only ours); a failure here leaves it to expire by itself."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._mutex:
            if self.lost_to is not None:
                return
            try:
                existing = self.kube.read_lease(self.name, LEASE_NAMESPACE)
                held = Holding.of(existing)
                if existing is not None and held is not None and held.holder == self.me:
                    self.kube.delete_lease(self.name, LEASE_NAMESPACE,
                                           resource_version=str(existing["metadata"].get("resourceVersion")))
            except ClusterError:
                pass


@contextmanager
def deploy_lock(kube: KubeClient, env: str, *, duration: int = DEFAULT_SECONDS, holder: str | None = None,
                wait: float = 0.0, report: Callable[[str], None] = lambda _: None) -> Iterator[DeployLease]:
    """Hold the environment's deploy Lease for the block (renewed); refuse when someone else holds a live one."""
    lease = DeployLease(kube, env, duration=duration, holder=holder, report=report)
    lease.acquire(wait=wait)
    try:
        yield lease
    finally:
        lease.release()


def wait_free(kube: KubeClient, env: str, timeout: float) -> bool:
    """True once nobody holds a live lease (used by tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = Holding.of(kube.read_lease(lease_name(env), LEASE_NAMESPACE))
        if held is None or held.expired(_now()):
            return True
        time.sleep(0.2)
    return False
