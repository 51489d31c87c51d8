"""The sandbox's object store: every API object, one global resourceVersion, a watch log, a state file.

Objects are kept as parsed dicts *and* their JSON bytes; stored dicts are never mutated (writers replace
them), so readers get them cheaply and GET answers are the cached bytes. Callers that want to change an
object take a copy (``get`` returns copies; ``peek``/``scan`` hand out the stored read-only dicts).
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resources import Registry

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)

WATCH_LOG_SIZE = 20_000


class Gone(Exception):
    """The asked resourceVersion is older than the watch log keeps (HTTP 410)."""


@dataclass(frozen=True)
class Event:
    """One change, as a watcher sees it."""

    rv: int
    key: Key
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    raw: bytes
    old: Obj | None = None  # the previous state of a MODIFIED object (for selector transitions)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Store:
    """Thread-safe object store with a global resourceVersion counter and a bounded change log.

    Public read helpers for tests: :meth:`get` and :meth:`list` take ``(group, version, resource,
    namespace, name)`` where ``resource`` is a plural (``deployments``) or a kind (``Deployment``);
    the version is accepted for readability but objects are stored once per group.
    """

    def __init__(self, registry: Registry, state_file: Path | None = None) -> None:
        self.registry = registry
        self.state_file = state_file
        self._objs: dict[Key, dict[tuple[str, str], tuple[Obj, bytes]]] = {}
        self._applied: dict[str, Obj] = {}
        self._rv = 1
        self._log: collections.deque[Event] = collections.deque(maxlen=WATCH_LOG_SIZE)
        self._first_rv = 1
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.dirty = False
        self._save_lock = threading.Lock()

    # --- versions -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    # --- internal reads (key based) -------------------------------------------------------------

    def peek(self, key: Key, namespace: str, name: str) -> Obj | None:
        """The stored dict (read-only!) or None."""
        entry = self._objs.get(key, {}).get((namespace, name))
        return entry[0] if entry else None

    def raw(self, key: Key, namespace: str, name: str) -> bytes | None:
        entry = self._objs.get(key, {}).get((namespace, name))
        return entry[1] if entry else None

    def copy(self, key: Key, namespace: str, name: str) -> Obj | None:
        entry = self._objs.get(key, {}).get((namespace, name))
        if entry is None:
            return None
        out: Obj = json.loads(entry[1])
        return out

    def scan(self, key: Key, namespace: str | None = None) -> list[tuple[Obj, bytes]]:
        """Stored (dict, bytes) pairs of a key, optionally in one namespace, sorted by ns/name."""
        with self.lock:
            items = sorted(self._objs.get(key, {}).items())
        if namespace is None:
            return [v for _, v in items]
        return [v for (ns, _), v in items if ns == namespace]

    def keys(self) -> list[Key]:
        with self.lock:
            return [k for k, v in self._objs.items() if v]

    def iter_all(self) -> Iterator[tuple[Key, Obj]]:
        with self.lock:
            snapshot = [(k, e[0]) for k, objs in self._objs.items() for e in objs.values()]
        yield from snapshot

    # --- writes ---------------------------------------------------------------------------------

    def _record(self, key: Key, etype: str, obj: Obj, old: Obj | None = None) -> bytes:
        raw = dumps(obj)
        self._log.append(Event(self._rv, key, etype, obj, raw, old))
        if len(self._log) == self._log.maxlen:
            self._first_rv = self._log[0].rv
        self.dirty = True
        self.changed.notify_all()
        return raw

    def write(self, key: Key, obj: Obj, *, created: bool) -> Obj:
        """Store ``obj`` (ownership passes to the store) with a new resourceVersion."""
        meta = obj["metadata"]
        with self.lock:
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            objs = self._objs.setdefault(key, {})
            nsname = (meta.get("namespace", ""), meta["name"])
            prev = objs.get(nsname)
            raw = self._record(key, "ADDED" if created else "MODIFIED", obj, prev[0] if prev else None)
            objs[nsname] = (obj, raw)
        return obj

    def remove(self, key: Key, namespace: str, name: str) -> Obj | None:
        """Delete for good; the DELETED event carries a fresh resourceVersion."""
        with self.lock:
            entry = self._objs.get(key, {}).pop((namespace, name), None)
            if entry is None:
                return None
            obj: Obj = json.loads(entry[1])
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._record(key, "DELETED", obj)
            self._applied = {k: v for k, v in self._applied.items()
                             if not k.startswith(_applied_prefix(key, namespace, name))}
        return obj

    # --- server-side apply memory ---------------------------------------------------------------

    def applied(self, key: Key, namespace: str, name: str, manager: str) -> Obj | None:
        return self._applied.get(_applied_prefix(key, namespace, name) + manager)

    def set_applied(self, key: Key, namespace: str, name: str, manager: str, cfg: Obj) -> None:
        with self.lock:
            self._applied[_applied_prefix(key, namespace, name) + manager] = cfg
            self.dirty = True

    # --- watch ----------------------------------------------------------------------------------

    def events_after(self, rv: int, timeout: float) -> list[Event]:
        """Events newer than ``rv``; waits up to ``timeout`` when there are none yet."""
        with self.lock:
            if rv < self._first_rv - 1:
                raise Gone(f"too old resource version: {rv} ({self._first_rv - 1})")
            if self._rv <= rv:
                self.changed.wait(timeout)
            if self._rv <= rv:
                return []
            return _tail(self._log, rv)

    # --- public read helpers for tests ----------------------------------------------------------

    def _key_for(self, group: str, resource: str) -> Key:
        with self.registry._lock:
            for rt in self.registry._types.values():
                if rt.group == group and resource in (rt.plural, rt.kind, rt.kind.lower()):
                    return rt.key
        return (group, resource)

    def get(self, group: str, version: str, resource: str, namespace: str | None, name: str) -> Obj | None:
        """A copy of one object, or None. ``resource`` is a plural or a kind; core group is ``""``."""
        del version
        with self.lock:
            return self.copy(self._key_for(group, resource), namespace or "", name)

    def list(self, group: str, version: str, resource: str, namespace: str | None = None) -> list[Obj]:
        """Copies of all objects of a resource (in one namespace if given)."""
        del version
        key = self._key_for(group, resource)
        return [json.loads(raw) for _, raw in self.scan(key, namespace)]

    # --- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            objects = [{"group": k[0], "resource": k[1], "object": e[0]}
                       for k, objs in self._objs.items() for e in objs.values()]
            return {"format": 1, "resourceVersion": self._rv, "objects": objects,
                    "applied": dict(self._applied)}

    def save(self) -> None:
        """Write the state file atomically (tmp + rename); no-op without a state file."""
        if self.state_file is None:
            return
        with self._save_lock:
            data = dumps(self.snapshot())
            self.dirty = False
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.state_file.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.state_file)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def load(self) -> bool:
        """Read the state file if there is one; returns whether anything was loaded."""
        if self.state_file is None or not self.state_file.exists():
            return False
        data = json.loads(self.state_file.read_bytes())
        with self.lock:
            self._rv = int(data.get("resourceVersion", 1))
            self._first_rv = self._rv
            for item in data.get("objects", []):
                obj = item["object"]
                meta = obj["metadata"]
                key = (item["group"], item["resource"])
                self._objs.setdefault(key, {})[(meta.get("namespace", ""), meta["name"])] = (obj, dumps(obj))
            self._applied = dict(data.get("applied", {}))
        return True


def _applied_prefix(key: Key, namespace: str, name: str) -> str:
    return f"{key[0]}|{key[1]}|{namespace}|{name}|"


def _tail(log: collections.deque[Event], rv: int) -> list[Event]:
    # The log is ordered by rv; walk back from the end, cheaper than a scan when watchers keep up.
    out: list[Event] = []
    for ev in reversed(log):
        if ev.rv <= rv:
            break
        out.append(ev)
    out.reverse()
    return out
