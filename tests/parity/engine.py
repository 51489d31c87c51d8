"""Differential parity: send the same requests to the sandbox and to a real kube-apiserver, compare what matters.

A probe is data: method, path (``{ns}`` is the probe namespace), body, content type, and what to compare:

- ``status``: the HTTP status code (always compared);
- ``reason``: ``reason`` of a ``Status`` body (None for an object);
- ``kind``: the body's ``kind``;
- ``causes``: sorted ``(reason, field)`` of ``details.causes`` (messages differ in wording, fields must not);
- ``/json/pointer``: the value at that JSON pointer (``~1`` for ``/`` in a key), ``<absent>`` when missing;
- ``present:/pointer``: whether the pointer exists;
- ``names``: sorted ``metadata.name`` of a list's items; ``count``: how many items;
- ``resources``: sorted resource names of an APIResourceList; ``groups``: sorted group names of an APIGroupList;
- ``managers``: sorted ``(manager, operation)`` of ``metadata.managedFields``;
- ``events``: for a watch: sorted ``(type, name or Status code)`` of its events.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ABSENT = "<absent>"


@dataclass(frozen=True)
class Probe:
    id: str
    method: str
    path: str
    body: Any = None
    content_type: str = "application/json"
    compare: tuple[str, ...] = ("reason",)
    # a probe that only makes a later probe possible (e.g. waits for a CRD to be served) still counts
    wait_until: Callable[[int, Any], bool] | None = field(default=None, compare=False)


@dataclass
class Endpoint:
    """An API server reached with plain HTTP(S): the sandbox (http) or kube-apiserver (https + client cert)."""

    base: str
    ssl_context: ssl.SSLContext | None = None

    def send(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
             timeout: float = 30) -> tuple[int, Any, bytes]:
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Content-Type": content_type, "Accept": "application/json", "User-Agent": "prjdevops-parity"})
        try:
            with urllib.request.urlopen(req, context=self.ssl_context, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = None
        return status, parsed, raw


def pointer(doc: Any, ptr: str) -> Any:
    cur = doc
    for part in ptr.strip("/").split("/") if ptr.strip("/") else []:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and key in cur:
            cur = cur[key]
        elif isinstance(cur, list) and key.isdigit() and int(key) < len(cur):
            cur = cur[int(key)]
        else:
            return ABSENT
    return cur


def watch_events(raw: bytes) -> list[tuple[str, str]]:
    events = []
    for line in raw.decode(errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        obj = ev.get("object") or {}
        label = str(obj.get("code")) if obj.get("kind") == "Status" else (obj.get("metadata") or {}).get("name", "")
        events.append((str(ev.get("type")), label))
    return sorted(events)


def answer(probe: Probe, status: int, body: Any, raw: bytes) -> dict[str, Any]:
    """The normalized answer: only what the probe compares."""
    out: dict[str, Any] = {"status": status}
    doc = body if isinstance(body, dict) else {}
    for what in probe.compare:
        if what == "reason":
            out[what] = doc.get("reason") if doc.get("kind") == "Status" else None
        elif what == "kind":
            out[what] = doc.get("kind")
        elif what == "causes":
            causes = (doc.get("details") or {}).get("causes") or []
            out[what] = sorted({(c.get("reason", ""), c.get("field", "")) for c in causes})
        elif what.startswith("present:"):
            out[what] = pointer(doc, what.split(":", 1)[1]) != ABSENT
        elif what.startswith("/"):
            out[what] = pointer(doc, what)
        elif what == "names":
            out[what] = sorted((i.get("metadata") or {}).get("name", "") for i in doc.get("items") or [])
        elif what == "count":
            out[what] = len(doc.get("items") or [])
        elif what == "resources":
            out[what] = sorted(r["name"] for r in doc.get("resources") or [])
        elif what == "groups":
            out[what] = sorted(g["name"] for g in doc.get("groups") or [])
        elif what == "managers":
            out[what] = sorted({(m.get("manager", ""), m.get("operation", ""))
                                for m in (doc.get("metadata") or {}).get("managedFields") or []})
        elif what == "events":
            out[what] = watch_events(raw)
        else:
            raise ValueError(f"probe {probe.id}: unknown comparison {what!r}")
    return out


def run(endpoint: Endpoint, probes: Iterable[Probe], namespace: str) -> dict[str, dict[str, Any]]:
    """Every probe in order (later probes build on earlier ones); probe id -> normalized answer."""
    answers: dict[str, dict[str, Any]] = {}
    for probe in probes:
        path = probe.path.replace("{ns}", namespace)
        body = probe.body
        if body is not None and not isinstance(body, bytes):
            body = json.loads(json.dumps(body).replace("{ns}", namespace))
        try:
            status, parsed, raw = endpoint.send(probe.method, path, body, probe.content_type)
            if probe.wait_until is not None:
                deadline = time.monotonic() + 15
                while not probe.wait_until(status, parsed) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    status, parsed, raw = endpoint.send(probe.method, path, body, probe.content_type)
            answers[probe.id] = answer(probe, status, parsed, raw)
        except (OSError, urllib.error.URLError) as exc:
            answers[probe.id] = {"error": type(exc).__name__}
    return answers


def compare(sandbox: dict[str, dict[str, Any]], real: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(probe ids answered alike, probe ids that differ), in probe order."""
    alike = [pid for pid in real if sandbox.get(pid) == real[pid]]
    differ = [pid for pid in real if sandbox.get(pid) != real[pid]]
    return alike, differ


def table(probes: list[Probe], sandbox: dict[str, dict[str, Any]], real: dict[str, dict[str, Any]]) -> str:
    alike, differ = compare(sandbox, real)
    lines = [f"parity: {len(probes)} probes, {len(alike)} answered alike, {len(differ)} differ"]
    by_id = {p.id: p for p in probes}
    for pid in differ:
        p = by_id[pid]
        lines.append(f"  DIFF {pid:<40} {p.method} {p.path}")
        lines.append(f"       sandbox: {json.dumps(sandbox.get(pid), default=str)[:400]}")
        lines.append(f"       real:    {json.dumps(real.get(pid), default=str)[:400]}")
    return "\n".join(lines)
