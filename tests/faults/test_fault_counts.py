"""The sandbox counts how often each fault fired, and the fault tests' check that an injected fault fired bites.

These test the test harness itself (the sandbox's counters, the off switch, the conftest hook): a harness that
cannot fail would let every fault test pass on nothing."""

from __future__ import annotations

import json
import time
import types
import urllib.request
from typing import Any

import pytest
from kubernetes import client

from kubesandbox import Fault, FaultSet
from kubesandbox.errors import SandboxError
from kubesandbox.faults import kinds_switched_off
from tests.faults import conftest as harness


def _configmap(core: Any, name: str) -> None:
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))


@pytest.mark.faults_unchecked
def test_counts_survive_use_removal_and_clear(sandbox: Any, api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    once = sandbox.faults.add(Fault(kind="error", status=503, method="POST", path="/configmaps", count=1))
    never = sandbox.faults.add(Fault(kind="error", status=503, method="DELETE", path="/secrets"))
    reads = harness.probe(sandbox, "GET", "/configmaps")
    with pytest.raises(client.ApiException) as refused:
        _configmap(core, "a")
    assert refused.value.status == 503
    _configmap(core, "a")
    core.list_namespaced_config_map("default")
    core.list_namespaced_config_map("default")
    sandbox.faults.clear()
    assert sandbox.fault_counts() == {once: 1, never: 0, reads: 2}
    assert harness.never_fired(sandbox) == [f"fault {never} error DELETE /secrets"]


def test_control_api_reports_the_counts(sandbox: Any) -> None:
    fid = sandbox.faults.add(Fault(kind="error", status=503, path="/namespaces$", method="GET", count=2))
    for _ in range(3):
        try:
            urllib.request.urlopen(sandbox.url + "/api/v1/namespaces", timeout=5).close()
        except urllib.error.HTTPError as e:
            assert e.code == 503
    with urllib.request.urlopen(sandbox.url + "/sandbox/faults", timeout=5) as resp:
        body = json.load(resp)
    assert body["fired"] == {str(fid): 2}
    assert body["faults"] == []  # used up: not active any more, but still counted


def test_pod_faults_count_the_pods_they_hold(sandbox: Any, api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    fid = sandbox.faults.add(Fault(kind="never_ready", namespace="default", name_prefix="sick"))
    core.create_namespaced_pod("default", client.V1Pod(
        metadata=client.V1ObjectMeta(name="sick-1"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1")])))
    deadline = time.monotonic() + 10
    while sandbox.fault_counts()[fid] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.fault_counts()[fid] >= 1


@pytest.mark.parametrize(("value", "off"), [
    ("", frozenset()),
    ("error, conflict", frozenset({"error", "conflict"})),
    ("all", frozenset({"latency", "error", "conflict", "never_ready", "crash_loop", "image_pull", "watch_drop"})),
])
def test_off_switch_parsing(value: str, off: frozenset[str]) -> None:
    assert kinds_switched_off(value) == off


def test_off_switch_refuses_unknown_kinds() -> None:
    with pytest.raises(SandboxError, match="unknown fault kind"):
        kinds_switched_off("eror")


def test_switched_off_kinds_never_fire() -> None:
    faults = FaultSet(off=frozenset({"error"}))
    err = faults.add(Fault(kind="error", path="/x"))
    slow = faults.add(Fault(kind="latency", path="/x"))
    assert [f.kind for f in faults.for_request("GET", "/x")] == ["latency"]
    assert faults.counts() == {err: 0, slow: 1}


def _run_hook(sandbox: Any) -> None:
    gen = harness.pytest_runtest_call(types.SimpleNamespace(funcargs={"sandbox": sandbox}))  # type: ignore[arg-type]
    next(gen)
    with pytest.raises(StopIteration):
        gen.send(None)


@pytest.mark.faults_unchecked
def test_hook_fails_a_test_whose_fault_never_fired(sandbox: Any) -> None:
    sandbox.faults.add(Fault(kind="conflict", method="POST", path="/leases", count=2))
    with pytest.raises(AssertionError, match=r"never fired .*conflict POST /leases"):
        _run_hook(sandbox)


def test_hook_passes_fired_faults_and_exempts_random_shares(sandbox: Any) -> None:
    sandbox.faults.add(Fault(kind="error", ratio=0.01, method="DELETE", path="/nothing"))  # may not fire: exempt
    fid = sandbox.faults.add(Fault(kind="latency", method="GET", path="/version"))
    urllib.request.urlopen(sandbox.url + "/version", timeout=5).close()
    assert sandbox.fault_counts()[fid] == 1
    _run_hook(sandbox)
