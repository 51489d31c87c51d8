"""The retry policy of the Kubernetes adapter (table-driven) and the loopback-only guard; the retries through the
official client against the sandbox with counted faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from kubesandbox import Fault
from prjdevops.adapters.helm import transient_message
from prjdevops.adapters.kube import (
    KubeClient,
    RetryPolicy,
    check_loopback_only,
    is_loopback,
    transient,
    with_retries,
)
from prjdevops.errors import ClusterError, ConfigError
from prjdevops.model import Cluster


@pytest.mark.parametrize("attempt", range(12))
@pytest.mark.parametrize("rng", [0.0, 0.5, 0.999])
def test_delay_is_exponential_jittered_and_capped(attempt: int, rng: float) -> None:
    p = RetryPolicy(base=0.2, cap=3.0)
    ceiling = min(3.0, 0.2 * 2 ** attempt)
    d = p.delay(attempt, rng=lambda: rng)
    assert ceiling * 0.5 <= d <= ceiling <= 3.0


@pytest.mark.parametrize(("retry_after", "expected"), [(1.0, 1.0), (30.0, 3.0), (None, 0.1)])
def test_retry_after_is_honoured_up_to_the_cap(retry_after: float | None, expected: float) -> None:
    assert RetryPolicy(base=0.2, cap=3.0).delay(0, retry_after, rng=lambda: 0.0) == pytest.approx(expected)


def api(status: int) -> ApiException:
    return ApiException(status=status, reason="x")


@pytest.mark.parametrize(("error", "retried"), [
    (api(429), True), (api(500), True), (api(502), True), (api(503), True), (api(504), True),
    (api(400), False), (api(403), False), (api(404), False), (api(409), False), (api(422), False),
    (MaxRetryError(None, "/", NewConnectionError(None, "refused")), True),  # type: ignore[arg-type]
    (ProtocolError("connection aborted"), True), (ConnectionRefusedError(), True),
    (ValueError("a bug"), False),
])
def test_what_is_transient(error: BaseException, retried: bool) -> None:
    assert transient(error) is retried


class Flaky:
    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_transient_failures_are_retried_until_success() -> None:
    sleeps: list[float] = []
    fn = Flaky([api(503), api(500), ConnectionResetError()])
    assert with_retries(fn, policy=RetryPolicy(), sleep=sleeps.append) == ("ok", 4)
    assert len(sleeps) == 3 and all(0 < s <= 3.0 for s in sleeps)


def test_a_real_refusal_is_not_retried() -> None:
    fn = Flaky([api(404)])
    with pytest.raises(ApiException):
        with_retries(fn, policy=RetryPolicy(), sleep=lambda _: None)
    assert fn.calls == 1


def test_gives_up_after_the_attempts_and_says_how_many() -> None:
    fn = Flaky([api(503)] * 10)
    with pytest.raises(ApiException) as err:
        with_retries(fn, policy=RetryPolicy(attempts=4), sleep=lambda _: None)
    assert fn.calls == 4 and err.value.retry_attempts == 4  # type: ignore[attr-defined]


def test_gives_up_when_the_next_wait_would_pass_the_total_cap() -> None:
    fn = Flaky([api(503)] * 10)
    with pytest.raises(ApiException):
        with_retries(fn, policy=RetryPolicy(base=0.2, total=0.05), sleep=lambda _: None)
    assert fn.calls == 1


@pytest.mark.parametrize(("value", "attempts", "total"), [("", 8, 20.0), ("5", 8, 5.0), ("0", 1, 0.0)])
def test_policy_from_environment(monkeypatch: Any, value: str, attempts: int, total: float) -> None:
    monkeypatch.setenv("PRJDEVOPS_API_RETRY_SECONDS", value)
    p = RetryPolicy.from_env()
    assert (p.attempts, p.total) == (attempts, total)


def test_bad_retry_seconds_is_a_config_error(monkeypatch: Any) -> None:
    monkeypatch.setenv("PRJDEVOPS_API_RETRY_SECONDS", "soon")
    with pytest.raises(ConfigError, match="PRJDEVOPS_API_RETRY_SECONDS"):
        RetryPolicy.from_env()


@pytest.mark.parametrize(("message", "transient_"), [
    ("query: failed to query with labels: sandbox injected fault: HTTP 503", True),
    ("kubernetes cluster unreachable: an error on the server (\"unknown\") has prevented the request", True),
    ("could not get server version from Kubernetes: the server is currently unable to handle the request", True),
    ("Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused", True),
    ("resource Deployment/a/b not ready. status: Unknown, message: ", True),
    ("resource Deployment/a/b not ready. status: Unknown, message: context deadline exceeded", False),
    ("resource Deployment/a/b not ready. status: InProgress, message: context deadline exceeded", False),
    ("another operation (install/upgrade/rollback) is in progress", False),
    ("Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1", False),
])
def test_which_helm_errors_are_transient(message: str, transient_: bool) -> None:
    assert transient_message(message) is transient_


@pytest.mark.parametrize(("server", "local"), [
    ("http://127.0.0.1:6550", True), ("https://localhost:6443", True), ("https://127.3.4.5", True),
    ("https://[::1]:6443", True), ("https://10.1.2.3:6443", False), ("https://k8s.example.internal", False),
    ("https://localhost.example.com", False), ("", False),
])
def test_loopback_only_guard(monkeypatch: Any, server: str, local: bool) -> None:
    assert is_loopback(server) is local
    monkeypatch.setenv("PRJDEVOPS_LOOPBACK_ONLY", "1")
    if local:
        check_loopback_only(server, "ctx")
    else:
        with pytest.raises(ConfigError, match="not a loopback address"):
            check_loopback_only(server, "ctx")
    monkeypatch.setenv("PRJDEVOPS_LOOPBACK_ONLY", "0")
    check_loopback_only(server, "ctx")


def test_client_retries_reads_and_safe_writes_through_the_official_client(sandbox: Any, kubeconfig: Path) -> None:
    kube = KubeClient(Cluster(context="sandbox", kubeconfig=kubeconfig), retry=RetryPolicy(base=0.01, total=5))
    sandbox.faults.add(Fault(kind="error", status=503, path="/namespaces/web$", method="GET", count=2))
    sandbox.faults.add(Fault(kind="error", status=500, path="/namespaces$", method="POST", count=1))
    assert kube.ensure_namespace("web") is True  # read retried (2 x 503), then create retried (1 x 500)
    assert sandbox.store.get("", "v1", "namespaces", "", "web") is not None
    sandbox.faults.add(Fault(kind="error", status=503, path="/namespaces/web$", method="GET"))
    with pytest.raises(ClusterError, match=r"API answered 503 .*gave up after \d+ attempts"):
        kube.ensure_namespace("web")
    sandbox.faults.clear()
    patch = kube.core().patch_namespace
    sandbox.faults.add(Fault(kind="error", status=503, path="/namespaces/web$", method="PATCH", count=1))
    with pytest.raises(ClusterError, match="503"):  # a patch is not repeated blindly
        kube.call("label namespace web", patch, "web", {"metadata": {"labels": {"a": "b"}}})
    kube.close()
