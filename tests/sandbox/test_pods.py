"""Pod readiness as the kubelet reports it: init containers first, readiness probes and their initial delay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubesandbox import Sandbox

from .helpers import wait_for


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(port=0, pod_ready_delay=0.1, probe_time_scale=0.01) as s:
        yield s


def _create(sb: Sandbox, name: str, **spec: Any) -> None:
    body = {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": "app:1"}], **spec}}
    sb.api.create(sb.api.rt("", "v1", "pods"), "default", body)


def _pod(sb: Sandbox, name: str) -> dict[str, Any]:
    pod = sb.store.get("", "v1", "pods", "default", name)
    assert pod is not None
    return pod


def _cond(pod: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == ctype), {})


def test_init_containers_complete_before_the_pod_starts(sb: Sandbox) -> None:
    _create(sb, "p", initContainers=[{"name": "migrate", "image": "app:1"}, {"name": "warm", "image": "app:1"}])
    first = wait_for(lambda: _cond(_pod(sb, "p"), "Initialized"), what="Initialized condition")
    assert first["status"] == "False" and first["reason"] == "ContainersNotInitialized"
    assert first["message"] in ("containers with incomplete status: [migrate warm]",
                                "containers with incomplete status: [warm]")
    pod = _pod(sb, "p")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    wait_for(lambda: _cond(_pod(sb, "p"), "Ready").get("status") == "True", what="pod Ready")
    pod = _pod(sb, "p")
    assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == [
        "Completed", "Completed"]
    assert _cond(pod, "Initialized")["status"] == "True"


def test_readiness_probe_initial_delay_is_honoured_and_scaled(sb: Sandbox) -> None:
    _create(sb, "plain")
    _create(sb, "probed", containers=[{"name": "app", "image": "app:1", "readinessProbe": {
        "httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 300}}])  # 3 s at scale 0.01
    wait_for(lambda: _cond(_pod(sb, "plain"), "Ready").get("status") == "True", what="plain pod Ready")
    wait_for(lambda: _pod(sb, "probed")["status"].get("phase") == "Running", what="probed pod Running")
    pod = _pod(sb, "probed")
    ready = _cond(pod, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [app]"
    cs = pod["status"]["containerStatuses"][0]
    assert cs["ready"] is False and cs["started"] is True and "running" in cs["state"]
    wait_for(lambda: _cond(_pod(sb, "probed"), "Ready").get("status") == "True", timeout=15, what="probe passed")
    assert _pod(sb, "probed")["status"]["containerStatuses"][0]["ready"] is True
