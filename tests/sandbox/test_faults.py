"""Fault injection, in process and over the HTTP control API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesandbox import Fault, Sandbox
from kubesandbox.errors import SandboxError

from .helpers import raw, wait_for


def _pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}}


def test_error_fault_with_count_and_path_match(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    sandbox.faults.add(Fault(kind="error", status=503, path=r"/configmaps", count=2))
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            v1.list_namespaced_config_map("default")
        assert e.value.status == 503 and '"reason":"ServiceUnavailable"' in e.value.body.replace(" ", "")
    assert v1.list_namespaced_config_map("default").items == []  # the fault is used up
    assert len(sandbox.faults) == 0
    fid = sandbox.faults.add(Fault(kind="error", status=500, method="GET", path="/secrets"))
    v1.list_namespaced_config_map("default")  # other paths unaffected
    with pytest.raises(ApiException):
        v1.list_namespaced_secret("default")
    assert sandbox.faults.remove(fid)
    v1.list_namespaced_secret("default")


def test_error_ratio_zero_never_fires(api_client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="error", ratio=0.0))
    for _ in range(5):
        client.CoreV1Api(api_client).list_namespace()


def test_latency_fault(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    sandbox.faults.add(Fault(kind="latency", seconds=0.5, path="/namespaces/default/configmaps$"))
    t = time.monotonic()
    v1.list_namespaced_config_map("default")
    assert time.monotonic() - t >= 0.5
    t = time.monotonic()
    v1.list_namespace()
    assert time.monotonic() - t < 0.5


def test_conflict_fault_hits_writes_only(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    sandbox.faults.add(Fault(kind="conflict", path="/configmaps"))
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {}})
    assert e.value.status == 409 and '"reason":"Conflict"' in e.value.body.replace(" ", "")
    v1.list_namespaced_config_map("default")
    sandbox.faults.clear()
    v1.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {}})


def test_never_ready_pods_report_probe_failures(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    sandbox.faults.add(Fault(kind="never_ready", namespace="default", label_selector="app=sick"))
    v1.create_namespaced_pod("default", _pod("sick", {"app": "sick"}))
    v1.create_namespaced_pod("default", _pod("fine", {"app": "fine"}))

    def ready(name: str) -> str | None:
        conds = v1.read_namespaced_pod(name, "default").status.conditions or []
        return next((c.status for c in conds if c.type == "Ready"), None)

    wait_for(lambda: ready("fine") == "True", what="healthy pod ready")
    pod = wait_for(lambda: (p := v1.read_namespaced_pod("sick", "default")).status.phase == "Running" and p,
                   what="sick pod running")
    assert ready("sick") == "False"
    assert pod.status.container_statuses[0].ready is False
    assert pod.status.container_statuses[0].state.running is not None
    events = wait_for(lambda: v1.list_namespaced_event(
        "default", field_selector="involvedObject.name=sick,reason=Unhealthy").items, what="Unhealthy event")
    assert events[0].type == "Warning" and "Readiness probe failed" in events[0].message
    sandbox.faults.clear()
    sandbox.controllers.kick()
    wait_for(lambda: ready("sick") == "True", what="pod recovers once the fault is removed")


def test_crash_loop_pods(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    sandbox.faults.add(Fault(kind="crash_loop", namespace="default", name_prefix="crash"))
    v1.create_namespaced_pod("default", _pod("crashy"))

    def restarts() -> int:
        cs = v1.read_namespaced_pod("crashy", "default").status.container_statuses or []
        return cs[0].restart_count if cs and cs[0].state.waiting and \
            cs[0].state.waiting.reason == "CrashLoopBackOff" else 0

    wait_for(lambda: restarts() >= 2, timeout=5, what="restart count grows")
    pod = v1.read_namespaced_pod("crashy", "default")
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 1
    ev = v1.list_namespaced_event("default", field_selector="involvedObject.name=crashy,reason=BackOff").items
    assert ev and ev[0].type == "Warning" and ev[0].count >= 2


def test_fault_validation() -> None:
    with pytest.raises(SandboxError):
        Fault(kind="explode")
    with pytest.raises(SandboxError):
        Fault(kind="error", ratio=2)
    with pytest.raises(SandboxError):
        Fault.from_json({"kind": "error", "colour": "red"})


def test_http_control_api(sandbox: Sandbox, api_client: Any) -> None:
    code, _, body = raw(sandbox.url, "POST", "/sandbox/faults",
                        '{"kind": "error", "status": 429, "path": "/api/v1/namespaces$"}',
                        {"Content-Type": "application/json"})
    assert code == 201
    fid = body["id"]
    code, _, body = raw(sandbox.url, "GET", "/sandbox/faults")
    assert code == 200 and body["faults"][0]["id"] == fid and body["faults"][0]["status"] == 429
    code, _, body = raw(sandbox.url, "GET", "/api/v1/namespaces")
    assert code == 429 and body["kind"] == "Status" and body["reason"] == "TooManyRequests"
    code, _, _ = raw(sandbox.url, "DELETE", f"/sandbox/faults/{fid}")
    assert code == 200
    assert raw(sandbox.url, "GET", "/api/v1/namespaces")[0] == 200
    assert raw(sandbox.url, "DELETE", f"/sandbox/faults/{fid}")[0] == 404
    code, _, body = raw(sandbox.url, "POST", "/sandbox/faults", '{"kind": "nope"}')
    assert code == 400 and "unknown fault kind" in body["message"]
    raw(sandbox.url, "POST", "/sandbox/faults", '{"kind": "latency", "seconds": 0.01}')
    assert raw(sandbox.url, "DELETE", "/sandbox/faults")[2] == {"faults": []}
    code, _, body = raw(sandbox.url, "POST", "/sandbox/controllers", '{"disable": ["deployment"], "job": false}')
    assert code == 200 and body["deployment"] is False and body["job"] is False and body["replicaset"] is True
    assert sandbox.controllers.enabled("deployment") is False
    code, _, body = raw(sandbox.url, "POST", "/sandbox/controllers", '{"enable": ["deployment"]}')
    assert body["deployment"] is True
    code, _, body = raw(sandbox.url, "POST", "/sandbox/controllers", '{"warp-drive": true}')
    assert code == 400 and "unknown controller" in body["message"]


def test_image_pull_failure(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    sandbox.faults.add(Fault(kind="image_pull", namespace="default", name_prefix="pull"))
    v1.create_namespaced_pod("default", _pod("pully"))

    def reason() -> str | None:
        cs = v1.read_namespaced_pod("pully", "default").status.container_statuses or []
        return cs[0].state.waiting.reason if cs and cs[0].state.waiting else None

    wait_for(lambda: reason() == "ImagePullBackOff", timeout=5, what="ImagePullBackOff")
    assert v1.read_namespaced_pod("pully", "default").status.phase == "Pending"
    ev = v1.list_namespaced_event("default", field_selector="involvedObject.name=pully,reason=Failed").items
    assert ev and "Failed to pull image" in ev[0].message
    sandbox.faults.clear()
    wait_for(lambda: v1.read_namespaced_pod("pully", "default").status.phase == "Running", what="recovery")


def test_request_counter_counts_api_requests_not_the_control_api(sandbox: Sandbox) -> None:
    before = raw(sandbox.url, "GET", "/sandbox/requests")[2]
    raw(sandbox.url, "GET", "/api/v1/namespaces")
    raw(sandbox.url, "POST", "/api/v1/namespaces", '{"apiVersion": "v1", "kind": "Namespace", '
        '"metadata": {"name": "counted"}}', {"Content-Type": "application/json"})
    raw(sandbox.url, "GET", "/api/v1/namespaces/nope-not-there")  # a 404 is served too, and counted
    raw(sandbox.url, "GET", "/sandbox/faults")
    code, _, after = raw(sandbox.url, "GET", "/sandbox/requests")
    assert code == 200
    assert after["total"] - before["total"] == 3
    assert after["GET"] - before.get("GET", 0) == 2 and after["POST"] - before.get("POST", 0) == 1
    assert sandbox.request_counts()["total"] == after["total"]
