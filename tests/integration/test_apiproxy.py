"""The retrying loopback proxy Helm's client uses: which requests it repeats (pure table), and against the sandbox
with injected faults: reads and idempotent writes ride out 503s (the faults fired, the proxy counted its retries), a
create that may have been processed is not repeated, only its token's paths are answered, watches stream and a
client that hangs up ends its upstream stream; a Helm install through it under 503s succeeds."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Fault, Sandbox
from prjdevops.adapters.apiproxy import RetryingProxy, is_watch, retryable
from prjdevops.adapters.kube import KubeClient, RetryPolicy
from prjdevops.model import Cluster

UNAVAILABLE = json.dumps({"kind": "Status", "reason": "ServiceUnavailable", "code": 503}).encode()
INTERNAL = json.dumps({"kind": "Status", "reason": "InternalError", "code": 500}).encode()

# the proxy is judged under faults the sandbox's fault engine injects in front of it
pytestmark = pytest.mark.sandbox_only(reason="fault injection (5xx shares and counts) behind the proxy")


@pytest.mark.parametrize(("method", "status", "body", "again"), [
    ("GET", None, b"", True), ("GET", 503, b"", True), ("GET", 500, b"", True), ("GET", 429, b"", True),
    ("GET", 404, b"", False), ("GET", 409, b"", False), ("GET", 200, b"", False),
    ("PATCH", 503, b"", True), ("PUT", 502, b"", True), ("DELETE", 504, b"", True),
    ("POST", None, b"", True), ("POST", 429, b"", True), ("POST", 503, UNAVAILABLE, True),
    ("POST", 503, INTERNAL, False), ("POST", 500, UNAVAILABLE, False), ("POST", 502, b"", False),
    ("POST", 504, b"", False), ("POST", 503, b"not json", False), ("POST", 422, b"", False),
])
def test_which_requests_are_repeated(method: str, status: int | None, body: bytes, again: bool) -> None:
    assert retryable(method, status, body) is again


@pytest.mark.parametrize(("path", "watch"), [
    ("/api/v1/namespaces/a/pods?watch=true&resourceVersion=5", True), ("/api/v1/watch/namespaces/a/pods", True),
    ("/api/v1/namespaces/a/pods?watch=1", True), ("/api/v1/namespaces/a/pods?labelSelector=x", False),
    ("/api/v1/namespaces/a/pods?watch=false", False),
])
def test_watches_are_recognised(path: str, watch: bool) -> None:
    assert is_watch(path) is watch


@pytest.fixture
def proxied(sandbox: Sandbox, kubeconfig: Path) -> Iterator[RetryingProxy]:
    kube = KubeClient(Cluster(context="sandbox", kubeconfig=kubeconfig))
    proxy = RetryingProxy(kube.upstream(), policy=RetryPolicy(attempts=6, base=0.01, cap=0.05, total=10)).start()
    try:
        yield proxy
    finally:
        proxy.stop()
        kube.close()


def call(proxy: RetryingProxy, method: str, path: str, body: Any = None, *, token: str | None = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{proxy.url}/{token or proxy.token}{path}", data=data, method=method,
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": "v"}}


def test_reads_and_idempotent_writes_ride_out_503s(sandbox: Sandbox, proxied: RetryingProxy) -> None:
    assert call(proxied, "POST", "/api/v1/namespaces/default/configmaps", cm("web"))[0] == 201
    get = sandbox.faults.add(Fault(kind="error", status=503, path="/configmaps/web", method="GET", count=3))
    status, obj = call(proxied, "GET", "/api/v1/namespaces/default/configmaps/web")
    assert status == 200 and obj["data"] == {"k": "v"}
    patch = sandbox.faults.add(Fault(kind="error", status=503, path="/configmaps/web", method="PATCH", count=2))
    status, obj = call(proxied, "PATCH", "/api/v1/namespaces/default/configmaps/web", {"data": {"k": "w"}},
                       content_type="application/merge-patch+json")
    assert status == 200 and obj["data"] == {"k": "w"}
    assert sandbox.fault_counts()[get] == 3 and sandbox.fault_counts()[patch] == 2
    assert proxied.stats.retried == 5 and proxied.stats.gave_up == 0


def test_a_create_that_may_have_been_processed_is_not_repeated(sandbox: Sandbox, proxied: RetryingProxy) -> None:
    internal = sandbox.faults.add(Fault(kind="error", status=500, path="/configmaps", method="POST", count=1))
    status, _ = call(proxied, "POST", "/api/v1/namespaces/default/configmaps", cm("once"))
    assert status == 500 and sandbox.fault_counts()[internal] == 1 and proxied.stats.retried == 0
    refused = sandbox.faults.add(Fault(kind="error", status=503, path="/configmaps", method="POST", count=2))
    status, _ = call(proxied, "POST", "/api/v1/namespaces/default/configmaps", cm("twice"))
    assert status == 201 and sandbox.fault_counts()[refused] == 2 and proxied.stats.retried == 2


def test_only_its_token_is_answered(proxied: RetryingProxy) -> None:
    assert call(proxied, "GET", "/api/v1/namespaces", token="guess")[0] == 401
    assert call(proxied, "GET", "/api/v1/namespaces")[0] == 200
    listening = proxied.url.rsplit(":", 1)[1]
    with socket.socket() as s:  # loopback only
        assert s.connect_ex(("127.0.0.1", int(listening))) == 0


def test_a_watch_streams_and_ends_when_the_client_hangs_up(sandbox: Sandbox, proxied: RetryingProxy) -> None:
    assert call(proxied, "POST", "/api/v1/namespaces/default/configmaps", cm("w1"))[0] == 201
    req = urllib.request.Request(f"{proxied.url}/{proxied.token}/api/v1/namespaces/default/configmaps?watch=true")
    resp = urllib.request.urlopen(req, timeout=10)
    first = json.loads(resp.readline())
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "w1"
    assert call(proxied, "POST", "/api/v1/namespaces/default/configmaps", cm("w2"))[0] == 201
    second = json.loads(resp.readline())
    assert second["object"]["metadata"]["name"] == "w2"  # streamed as it happened, not at the end
    resp.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(t.name == "api-proxy-watch" for t in __import__("threading")
                                                                                  .enumerate()):
        time.sleep(0.1)
    assert not any(t.name == "api-proxy-watch" for t in __import__("threading").enumerate())


def test_helm_through_the_proxy_installs_under_503s(sandbox: Sandbox, kubeconfig: Path, tmp_path: Path) -> None:
    from prjdevops.environments import load_environment
    from prjdevops.ops import release
    from tests.integration.conftest import write_env

    write_env(tmp_path / "environments", "px", kubeconfig)
    fid = sandbox.faults.add(Fault(kind="error", status=503, ratio=0.15))
    with release.connect(load_environment("px", tmp_path / "environments")) as target:
        prep = release.prepare(target.env, "plate-web")
        info = target.helm.upgrade_install(prep.release.chart, "plate-web", prep.values.values,
                                           namespace="plate-web", wait=None, timeout=60)
        assert info.status == "deployed"
    assert sandbox.fault_counts()[fid] > 0


def test_helms_disk_cache_entries_of_a_proxy_are_named_as_client_go_names_them(tmp_path: Path) -> None:
    import hashlib

    from prjdevops.adapters.apiproxy import client_cache_entries

    entries = client_cache_entries(tmp_path, 41234, ["/tok/api?timeout=32s", "/tok/openapi/v3", "/tok/api?timeout=32s"])
    assert entries == [tmp_path / "discovery" / "127.0.0.1_41234",
                       tmp_path / "http" / hashlib.sha256(b"http://127.0.0.1:41234/tok/api?timeout=32s").hexdigest(),
                       tmp_path / "http" / hashlib.sha256(b"http://127.0.0.1:41234/tok/openapi/v3").hexdigest()]
    assert client_cache_entries(tmp_path, 1, []) == [tmp_path / "discovery" / "127.0.0.1_1"]


@pytest.mark.parametrize(("path", "cached"), [
    ("/version", True), ("/api", True), ("/api/v1", True), ("/apis", True), ("/apis/apps/v1", True),
    ("/apis/apps", True), ("/openapi/v3", True), ("/openapi/v3/apis/apps/v1?hash=AB", True), ("/api?timeout=32s", True),
    ("/api/v1/namespaces", False), ("/apis/apps/v1/deployments", False), ("/", False),
    ("/api/v1/namespaces/a/secrets?labelSelector=owner%3Dhelm", False),
])
def test_only_discovery_answers_are_recorded_for_the_cache_cleanup(path: str, cached: bool) -> None:
    from prjdevops.adapters.apiproxy import discovery_path

    assert discovery_path(path) is cached


def test_a_run_leaves_nothing_in_helms_disk_cache(sandbox: Sandbox, kubeconfig: Path, tmp_path: Path) -> None:
    """Helm's client caches discovery (and, with its OpenAPI probe, OpenAPI documents) under ~/.kube/cache keyed by
    the server's address: the proxy's port, never used again. Helm writes there during the run; the proxy removes
    it when it stops."""
    from prjdevops.adapters.apiproxy import client_cache_entries, kube_cache_root
    from prjdevops.adapters.helm import HelmClient

    kube = KubeClient(Cluster(context="sandbox", kubeconfig=kubeconfig))
    proxy = RetryingProxy(kube.upstream()).start()
    helm = HelmClient(kubeconfig=kubeconfig, context="sandbox",
                      via=lambda: (proxy.kubeconfig(tmp_path / "kc"), "prjdevops-proxy"))
    try:
        chart = Path(__file__).resolve().parents[2] / "helm" / "applications" / "plate-web"
        helm.upgrade_install(chart, "cache-probe", {}, namespace="cache-probe", wait=None, timeout=60)
        written = [e for e in client_cache_entries(kube_cache_root(), proxy.port, proxy.gets()) if e.exists()]
        assert kube_cache_root() / "discovery" / f"127.0.0.1_{proxy.port}" in written  # Helm cached about it
        assert len(written) > 1  # and its HTTP cache holds answers from it
    finally:
        helm.close()
        proxy.stop()
        kube.close()
    assert [e for e in written if e.exists()] == []
