"""Server-side printing (``meta.k8s.io/v1`` Table) so ``kubectl get`` shows the usual columns."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def age(obj: Obj) -> str:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    return human_since(ts)


def human_since(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return "<unknown>"
    secs = max(0, int((dt.datetime.now(dt.UTC) - then).total_seconds()))
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _g(obj: Any, *path: str, default: Any = None) -> Any:
    cur = obj
    for p in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(p)
    return default if cur is None else cur


def _pod_status(pod: Obj) -> str:
    if _g(pod, "metadata", "deletionTimestamp"):
        return "Terminating"
    for cs in _g(pod, "status", "containerStatuses", default=[]):
        waiting = _g(cs, "state", "waiting", "reason")
        if waiting:
            return str(waiting)
        term = _g(cs, "state", "terminated", "reason")
        if term and _g(pod, "status", "phase") not in ("Succeeded", "Failed"):
            return str(term)
    phase = _g(pod, "status", "phase", default="Pending")
    if phase == "Succeeded":
        return "Completed"
    if phase == "Failed":
        return "Error"
    return str(phase)


def _pod_ready(pod: Obj) -> str:
    css = _g(pod, "status", "containerStatuses", default=[])
    total = len(_g(pod, "spec", "containers", default=[]))
    return f"{sum(1 for c in css if c.get('ready'))}/{total}"


def _restarts(pod: Obj) -> int:
    return sum(int(c.get("restartCount", 0)) for c in _g(pod, "status", "containerStatuses", default=[]))


def _ports(svc: Obj) -> str:
    out = []
    for p in _g(svc, "spec", "ports", default=[]):
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _external_ip(svc: Obj) -> str:
    ips = [i.get("ip") or i.get("hostname") for i in _g(svc, "status", "loadBalancer", "ingress", default=[])]
    if ips:
        return ",".join(str(i) for i in ips)
    return "<pending>" if _g(svc, "spec", "type") == "LoadBalancer" else "<none>"


def _job_status(job: Obj) -> str:
    for c in _g(job, "status", "conditions", default=[]):
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
            return str(c["type"])
    return "Running"


def _images(obj: Obj) -> str:
    return ",".join(str(c.get("image")) for c in _g(obj, "spec", "template", "spec", "containers", default=[]))


def _containers(obj: Obj) -> str:
    return ",".join(str(c.get("name")) for c in _g(obj, "spec", "template", "spec", "containers", default=[]))


def _node_ready(node: Obj) -> str:
    for c in _g(node, "status", "conditions", default=[]):
        if c.get("type") == "Ready":
            return "Ready" if c.get("status") == "True" else "NotReady"
    return "Unknown"


def _endpoints(ep: Obj) -> str:
    addrs = [f"{a.get('ip')}:{p.get('port')}" for s in ep.get("subsets") or [] for a in s.get("addresses") or []
             for p in s.get("ports") or [{}]]
    if not addrs:
        return "<none>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


NAME: Column = ("Name", "string", 0, lambda o: o["metadata"]["name"])
AGE: Column = ("Age", "string", 0, age)

COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "Pod"): [NAME, ("Ready", "string", 0, _pod_ready), ("Status", "string", 0, _pod_status),
                  ("Restarts", "integer", 0, _restarts), AGE,
                  ("IP", "string", 1, lambda o: _g(o, "status", "podIP", default="<none>")),
                  ("Node", "string", 1, lambda o: _g(o, "spec", "nodeName", default="<none>"))],
    ("apps", "Deployment"): [
        NAME, ("Ready", "string", 0, lambda o: f"{_g(o, 'status', 'readyReplicas', default=0)}/"
                                             f"{_g(o, 'spec', 'replicas', default=1)}"),
        ("Up-to-date", "integer", 0, lambda o: _g(o, "status", "updatedReplicas", default=0)),
        ("Available", "integer", 0, lambda o: _g(o, "status", "availableReplicas", default=0)), AGE,
        ("Containers", "string", 1, _containers), ("Images", "string", 1, _images)],
    ("apps", "ReplicaSet"): [
        NAME, ("Desired", "integer", 0, lambda o: _g(o, "spec", "replicas", default=1)),
        ("Current", "integer", 0, lambda o: _g(o, "status", "replicas", default=0)),
        ("Ready", "integer", 0, lambda o: _g(o, "status", "readyReplicas", default=0)), AGE,
        ("Containers", "string", 1, _containers), ("Images", "string", 1, _images)],
    ("apps", "StatefulSet"): [
        NAME, ("Ready", "string", 0, lambda o: f"{_g(o, 'status', 'readyReplicas', default=0)}/"
                                             f"{_g(o, 'spec', 'replicas', default=1)}"), AGE],
    ("apps", "DaemonSet"): [
        NAME, ("Desired", "integer", 0, lambda o: _g(o, "status", "desiredNumberScheduled", default=0)),
        ("Current", "integer", 0, lambda o: _g(o, "status", "currentNumberScheduled", default=0)),
        ("Ready", "integer", 0, lambda o: _g(o, "status", "numberReady", default=0)),
        ("Up-to-date", "integer", 0, lambda o: _g(o, "status", "updatedNumberScheduled", default=0)),
        ("Available", "integer", 0, lambda o: _g(o, "status", "numberAvailable", default=0)), AGE],
    ("batch", "Job"): [
        NAME, ("Status", "string", 0, _job_status),
        ("Completions", "string", 0, lambda o: f"{_g(o, 'status', 'succeeded', default=0)}/"
                                               f"{_g(o, 'spec', 'completions', default=1)}"), AGE],
    ("", "Service"): [
        NAME, ("Type", "string", 0, lambda o: _g(o, "spec", "type", default="ClusterIP")),
        ("Cluster-IP", "string", 0, lambda o: _g(o, "spec", "clusterIP", default="<none>")),
        ("External-IP", "string", 0, _external_ip), ("Port(s)", "string", 0, _ports), AGE],
    ("", "Namespace"): [NAME, ("Status", "string", 0, lambda o: _g(o, "status", "phase", default="Active")), AGE],
    ("", "Node"): [NAME, ("Status", "string", 0, _node_ready),
                   ("Roles", "string", 0, lambda o: "control-plane"), AGE,
                   ("Version", "string", 0, lambda o: _g(o, "status", "nodeInfo", "kubeletVersion", default=""))],
    ("", "Secret"): [NAME, ("Type", "string", 0, lambda o: o.get("type", "Opaque")),
                     ("Data", "integer", 0, lambda o: len(o.get("data") or {})), AGE],
    ("", "ConfigMap"): [NAME, ("Data", "integer", 0, lambda o: len(o.get("data") or {})
                               + len(o.get("binaryData") or {})), AGE],
    ("", "Endpoints"): [NAME, ("Endpoints", "string", 0, _endpoints), AGE],
    ("", "PersistentVolumeClaim"): [
        NAME, ("Status", "string", 0, lambda o: _g(o, "status", "phase", default="Pending")),
        ("Capacity", "string", 0, lambda o: _g(o, "status", "capacity", "storage", default="")), AGE],
    ("", "Event"): [
        ("Last Seen", "string", 0, lambda o: human_since(o.get("lastTimestamp") or o.get("firstTimestamp"))),
        ("Type", "string", 0, lambda o: o.get("type", "")), ("Reason", "string", 0, lambda o: o.get("reason", "")),
        ("Object", "string", 0, lambda o: f"{str(_g(o, 'involvedObject', 'kind', default='')).lower()}/"
                                          f"{_g(o, 'involvedObject', 'name', default='')}"),
        ("Message", "string", 0, lambda o: o.get("message", ""))],
}


def columns_for(group: str, kind: str, crd: Obj | None = None, version: str = "") -> list[Column]:
    """Built-in columns, or a CRD's additionalPrinterColumns for its custom resources."""
    if crd is not None:
        for ver in (crd.get("spec") or {}).get("versions") or []:
            if ver.get("name") == version and ver.get("additionalPrinterColumns"):
                return [NAME, *(_printer_column(c) for c in ver["additionalPrinterColumns"])]
    return COLUMNS.get((group, kind), [NAME, AGE])


_JSONPATH = re.compile(r"""\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]""")


def jsonpath(obj: Any, expr: str) -> Any:
    """The subset of JSONPath CRD printer columns use: ``.a.b``, ``[0]``, ``[?(@.type=="Ready")]``."""
    cur: Any = obj
    pos = 0
    expr = expr.strip().removeprefix("{").removesuffix("}")
    while pos < len(expr) and cur is not None:
        m = _JSONPATH.match(expr, pos)
        if not m:
            return None
        pos = m.end()
        field, index, key, value = m.groups()
        if field is not None:
            cur = cur.get(field) if isinstance(cur, dict) else None
        elif index is not None:
            cur = cur[int(index)] if isinstance(cur, list) and int(index) < len(cur) else None
        else:
            cur = next((x for x in cur if isinstance(x, dict) and str(jsonpath(x, "." + key)) == value), None) \
                if isinstance(cur, list) else None
    return cur


def _printer_column(col: Obj) -> Column:
    path, typ = str(col.get("jsonPath", "")), str(col.get("type", "string"))

    def cell(o: Obj) -> Any:
        v = jsonpath(o, path)
        if typ == "date":
            return human_since(v if isinstance(v, str) else None)
        return "" if v is None else v
    return (str(col.get("name", "")), typ if typ != "date" else "string", int(col.get("priority", 0)), cell)


def column_definitions(cols: list[Column]) -> list[Obj]:
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": "", "priority": p}
            for n, t, p, _ in cols]


def row(cols: list[Column], obj: Obj) -> Obj:
    cells = []
    for _, _, _, fn in cols:
        try:
            cells.append(fn(obj))
        except (KeyError, TypeError, ValueError):
            cells.append("<unknown>")
    meta = obj.get("metadata") or {}
    return {"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                       "metadata": meta}}


def table(group: str, kind: str, objs: list[Obj], meta: Obj, with_columns: bool = True,
          crd: Obj | None = None, version: str = "") -> Obj:
    cols = columns_for(group, kind, crd, version)
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    if with_columns:
        out["columnDefinitions"] = column_definitions(cols)
    out["rows"] = [row(cols, o) for o in objs]
    return out
