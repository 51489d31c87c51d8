"""One deploy per environment at a time: a ``coordination.k8s.io/v1`` Lease held in the cluster.

The Lease records holder and expiry; a second deploy is refused naming the holder; a Lease whose holder
stopped renewing (crashed run) expires after its duration and is taken over.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prjdevops.adapters.kube import KubeClient
from prjdevops.errors import ClusterError, GuardRefused

LEASE_NAMESPACE = "kube-system"
CONFLICT_RETRIES = 5


def lease_name(env: str) -> str:
    return f"prjdevops-deploy-{env}"


def holder_identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _expired(spec: Any) -> bool:
    renewed = _parse(getattr(spec, "renew_time", None)) or _parse(getattr(spec, "acquire_time", None))
    duration = int(getattr(spec, "lease_duration_seconds", 0) or 0)
    return renewed is None or (_now() - renewed).total_seconds() > duration


def _holder_gone(holder: str) -> bool:
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


@contextmanager
def deploy_lock(kube: KubeClient, env: str, *, duration: int = 900, holder: str | None = None) -> Iterator[str]:
    """Hold the environment's deploy Lease for the block; refuse when someone else holds a live one."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = kube.coordination()
    name = lease_name(env)
    me = holder or holder_identity()
    # Read-modify-write: a 409 (someone wrote the Lease between our read and our write, or our own earlier
    # attempt landed and only its answer was lost) means "read again and decide again", a few times.
    for attempt in range(CONFLICT_RETRIES):
        now = _now()
        spec = client.V1LeaseSpec(holder_identity=me, lease_duration_seconds=duration, acquire_time=now,
                                  renew_time=now)
        existing = kube.get_or_none(f"read lease {name}", api.read_namespaced_lease, name, LEASE_NAMESPACE)
        try:
            if existing is None:
                body = client.V1Lease(metadata=client.V1ObjectMeta(name=name, namespace=LEASE_NAMESPACE),
                                      spec=spec)
                kube.call(f"create lease {name}", api.create_namespaced_lease, LEASE_NAMESPACE, body)
            else:
                held_by = existing.spec.holder_identity if existing.spec else None
                if held_by == me and attempt > 0:
                    break  # our previous write landed
                if held_by and held_by != me and not _expired(existing.spec) and not _holder_gone(held_by):
                    since = existing.spec.acquire_time or existing.spec.renew_time
                    raise GuardRefused(
                        f"another deploy to {env!r} is running: lease {LEASE_NAMESPACE}/{name} is held by "
                        f"{held_by} since {since} (expires {existing.spec.lease_duration_seconds}s after its last "
                        "renewal)", hint="wait for it to finish; a crashed run's lock expires by itself "
                        "(at once when it ran on this machine)")
                existing.spec = spec  # resourceVersion kept: a racing taker gets 409 Conflict
                kube.call(f"take lease {name}", api.replace_namespaced_lease, name, LEASE_NAMESPACE, existing)
            break
        except ClusterError as e:
            cause = e.__cause__
            if not (isinstance(cause, ApiException) and cause.status == 409):
                raise
            if attempt == CONFLICT_RETRIES - 1:
                raise GuardRefused(f"could not take lease {LEASE_NAMESPACE}/{name} for {env!r}: it changed under "
                                   f"us {CONFLICT_RETRIES} times in a row (409 Conflict)",
                                   hint="another deploy may be starting: retry when it has finished") from e
            time.sleep(0.05 * (attempt + 1))
    try:
        yield me
    finally:
        release_lock(kube, env, me)


def release_lock(kube: KubeClient, env: str, me: str) -> None:
    """Delete our Lease (only ours); a failure here leaves it to expire by itself."""
    api = kube.coordination()
    name = lease_name(env)
    try:
        current = kube.get_or_none(f"read lease {name}", api.read_namespaced_lease, name, LEASE_NAMESPACE)
        if current is not None and current.spec and current.spec.holder_identity == me:
            kube.get_or_none(f"delete lease {name}", api.delete_namespaced_lease, name, LEASE_NAMESPACE)
    except ClusterError:
        pass


def wait_free(kube: KubeClient, env: str, timeout: float) -> bool:
    """True once nobody holds a live lease (used by tests and --wait-lock)."""
    api = kube.coordination()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lease = kube.get_or_none("read lease", api.read_namespaced_lease, lease_name(env), LEASE_NAMESPACE)
        if lease is None or _expired(lease.spec):
            return True
        time.sleep(0.2)
    return False
