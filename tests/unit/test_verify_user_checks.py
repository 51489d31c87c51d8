"""Pure decisions behind the team's own verify tests: Job verdicts, endpoints, probes, proxy paths, group selection,
the gate's groups and the table's one-line reasons."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from prjdevops.errors import ConfigError, DeployError
from prjdevops.model import Node, PodSelector, VerifySettings
from prjdevops.verify import checks, runner
from prjdevops.verify.plan import (
    CLUSTER_GROUPS,
    GROUPS,
    all_groups,
    generated_groups,
    parse_only,
    select_nodes,
    unknown_groups,
)
from prjdevops.verify.plugin import exception_reason


def job(status: dict[str, Any], completions: int | None = None) -> dict[str, Any]:
    spec = {} if completions is None else {"completions": completions}
    return {"kind": "Job", "metadata": {"name": "migrate", "namespace": "app"}, "spec": spec, "status": status}


def cond(ctype: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": ctype, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(("obj", "ok", "reason"), [
    (job({"succeeded": 1, "conditions": [cond("Complete")]}), True, "job/app/migrate: 1/1 completions succeeded"),
    (job({"succeeded": 3}, completions=3), True, "job/app/migrate: 3/3 completions succeeded"),
    (job({"succeeded": 2, "active": 1}, completions=3), False,
     "job/app/migrate has not completed: 2/3 succeeded, 1 active, 0 failed"),
    (job({}), False, "job/app/migrate has not completed: 0/1 succeeded, 0 active, 0 failed"),
    (job({"succeeded": 1, "failed": 6, "conditions": [cond("Failed", reason="BackoffLimitExceeded",
                                                           message="Job has reached the specified backoff limit")]}),
     False, "job/app/migrate failed: BackoffLimitExceeded Job has reached the specified backoff limit"),
    (job({"conditions": [cond("Complete", "False")]}), False,
     "job/app/migrate has not completed: 0/1 succeeded, 0 active, 0 failed"),
])
def test_job_succeeded(obj: dict[str, Any], ok: bool, reason: str) -> None:
    assert checks.job_succeeded(obj) == (ok, reason)


ENDPOINTS = {"subsets": [
    {"addresses": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}], "notReadyAddresses": [{"ip": "10.0.0.9"}],
     "ports": [{"port": 8080, "name": "http"}]},
    {"addresses": [{"ip": "10.0.1.1"}]},  # no ports: the bare address
]}


@pytest.mark.parametrize(("endpoints", "ready", "want"), [
    (ENDPOINTS, True, ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.1.1"]),
    (ENDPOINTS, False, ["10.0.0.9:8080"]),
    (None, True, []),
    ({"subsets": []}, True, []),
])
def test_endpoint_addresses(endpoints: dict[str, Any] | None, ready: bool, want: list[str]) -> None:
    assert checks.endpoint_addresses(endpoints, ready=ready) == want


def workload(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Deployment", "spec": {"template": {"spec": {"containers": list(containers)}}}}


@pytest.mark.parametrize(("obj", "kind", "container", "want"), [
    (workload({"name": "web", "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}}}),
     "readiness", None, ("/readyz", "http")),
    (workload({"name": "web", "livenessProbe": {"httpGet": {"port": 8080}}}), "liveness", None, ("/", 8080)),
    (workload({"name": "sidecar"}, {"name": "web", "readinessProbe": {"httpGet": {"path": "/h", "port": 9}}}),
     "readiness", None, ("/h", 9)),
    (workload({"name": "a", "readinessProbe": {"httpGet": {"path": "/a", "port": 1}}},
              {"name": "b", "readinessProbe": {"httpGet": {"path": "/b", "port": 2}}}), "readiness", "b", ("/b", 2)),
    (workload({"name": "web", "readinessProbe": {"tcpSocket": {"port": 80}}}), "readiness", None, None),
    ({"kind": "Deployment"}, "readiness", None, None),
])
def test_http_probe(obj: dict[str, Any], kind: str, container: str | None, want: Any) -> None:
    assert checks.http_probe(obj, kind, container) == want


@pytest.mark.parametrize(("args", "want"), [
    (("service", "web", "api", "http", "/healthz"), "/api/v1/namespaces/web/services/api:http/proxy/healthz"),
    (("service", "web", "api", 8080, "healthz/ready?verbose=1"),
     "/api/v1/namespaces/web/services/api:8080/proxy/healthz/ready?verbose=1"),
    (("service", "web", "api", None, "/"), "/api/v1/namespaces/web/services/api/proxy/"),
    (("pod", "web", "api-7d9f", "http", "/a b"), "/api/v1/namespaces/web/pods/api-7d9f:http/proxy/a%20b"),
])
def test_proxy_path(args: tuple[str, str, str, int | str | None, str], want: str) -> None:
    assert checks.proxy_path(*args) == want


SERVED = ["services", "services/proxy", "services/status", "pods", "pods/proxy"]


@pytest.mark.parametrize(("status", "resources", "kind", "want"), [
    (404, ["services", "services/status"], "service", True),   # the sandbox today
    (501, ["services"], "service", True),
    (404, SERVED, "service", False),      # kube-apiserver: the 404 is the application's (or the Service is missing)
    (200, ["services"], "service", False),
    (404, None, "service", False),        # discovery unreadable: never skip on a guess
    (404, ["services/proxy"], "pod", True),
])
def test_proxy_unserved(status: int, resources: list[str] | None, kind: str, want: bool) -> None:
    assert checks.proxy_unserved(status, resources, kind) is want


@pytest.mark.parametrize(("only", "want"), [
    ([], set()),
    (["app-smoke"], {"app-smoke"}),
    (["services, app-smoke", "team"], {"services", "app-smoke", "team"}),
])
def test_parse_only(only: list[str], want: set[str]) -> None:
    assert parse_only(only) == want


def test_parse_only_refuses_malformed_names() -> None:
    with pytest.raises(ConfigError, match=r"invalid verify group name\(s\) App, smoke_test: use lowercase"):
        parse_only(["App,services", "smoke_test"])


@pytest.mark.parametrize(("chosen", "want"), [
    (set(), set(GROUPS)),
    ({"app-smoke"}, set()),
    ({"app-smoke", "services", "nodes"}, {"services", "nodes"}),
])
def test_generated_groups(chosen: set[str], want: set[str]) -> None:
    assert generated_groups(chosen) == want


def test_unknown_and_all_groups() -> None:
    assert unknown_groups({"services", "app-smoke", "tema"}, ["app-smoke", "team"]) == ["tema"]
    assert unknown_groups(set(), ["team"]) == []
    assert all_groups(["team", "app-smoke", "services"]) == [*GROUPS, "app-smoke", "team"]


@pytest.mark.parametrize(("env", "groups", "want"), [
    (SimpleNamespace(verify=VerifySettings()), None, CLUSTER_GROUPS),
    (SimpleNamespace(verify=VerifySettings(gate=("releases", "app-smoke"))), None, ("releases", "app-smoke")),
    (SimpleNamespace(verify=VerifySettings(gate=("releases",))), ["services"], ("services",)),  # explicit wins
    (SimpleNamespace(name="no verify section"), None, CLUSTER_GROUPS),
])
def test_gate_groups(env: Any, groups: list[str] | None, want: tuple[str, ...]) -> None:
    assert runner.gate_groups(env, groups) == want


def test_reports_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(runner.REPORTS_ENV, raising=False)
    assert runner.reports_dir() == runner.project_root() / "reports"
    monkeypatch.setenv(runner.REPORTS_ENV, str(tmp_path))
    assert runner.reports_dir() == tmp_path
    assert runner.reports_dir(tmp_path / "given") == tmp_path / "given"  # an explicit folder wins


def test_suite_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(runner.SUITE_ENV, raising=False)
    assert runner.suite_dir(Path("/r")) == Path("/r/verify")
    monkeypatch.setenv(runner.SUITE_ENV, str(tmp_path))
    assert runner.suite_dir(Path("/r")) == tmp_path
    argv = runner.pytest_argv("staging", junit=tmp_path / "j.xml", root=Path("/r"), suite=tmp_path)
    assert argv[:4] == [sys.executable, "-m", "pytest", str(tmp_path)]


@pytest.mark.parametrize(("exc", "want"), [
    (AssertionError("feature flag X is off\nassert 'off' == 'on'"), "feature flag X is off"),
    (AssertionError(), "AssertionError"),
    (pytest.fail.Exception("node1: unreachable"), "node1: unreachable"),
    (DeployError("read Job a/b: API answered 403 Forbidden", hint="check RBAC"),
     "read Job a/b: API answered 403 Forbidden (check RBAC)"),
    (KeyError("FEATURE_X"), "KeyError: 'FEATURE_X'"),
    (ValueError(""), "ValueError"),
    (RuntimeError(SimpleNamespace(exit_status=1, command=b"cat -- /proc/modules",
                                  stderr="cat: /proc/modules: No such file or directory\n")),
     "command 'cat -- /proc/modules' exited 1: cat: /proc/modules: No such file or directory"),
    (RuntimeError("plain"), "RuntimeError: plain"),
])
def test_exception_reason_is_one_line(exc: BaseException, want: str) -> None:
    assert exception_reason(exc) == want


COLLECT_ERROR = """
==================================== ERRORS ====================================
___________________ ERROR collecting test_plate_web_smoke.py ___________________
/tmp/suite/test_plate_web_smoke.py:1: in <module>
    pytestmark = pytest.mark.group("app-smoke")
                 ^^^^^^
E   NameError: name 'pytest' is not defined
1 deselected, 1 error in 1.04s
"""


@pytest.mark.parametrize(("output", "want"), [
    ("ERROR: unknown verify group(s) tema (groups: releases)\n", "unknown verify group(s) tema (groups: releases)"),
    (COLLECT_ERROR, "test_plate_web_smoke.py does not load: NameError: name 'pytest' is not defined"),
    ("something\nINTERNALERROR> boom\n", "INTERNALERROR> boom"),
    ("", "pytest exit code 3"),
])
def test_why_the_suite_could_not_run(output: str, want: str) -> None:
    assert runner.why_not_run(output, 3) == want


NODES = (Node(host="cp1", roles=("control-plane",)), Node(host="w1", port=2222, roles=("worker",)),
         Node(host="w2", roles=("worker", "gpu")), Node(pods=PodSelector(namespace="kube-system", selector="a=b")))


@pytest.mark.parametrize(("names", "role", "want"), [
    ((), None, ["cp1", "w1:2222", "w2"]),                 # every SSH node; pods: entries never
    ((), "worker", ["w1:2222", "w2"]),
    (("w1:2222", "cp1"), None, ["cp1", "w1:2222"]),       # by node name
    (("w1",), None, ["w1:2222"]),                         # or by host
    (("w1", "w2"), "gpu", ["w2"]),                        # both: named and having the role
    ((), "etcd", []),
])
def test_select_nodes(names: tuple[str, ...], role: str | None, want: list[str]) -> None:
    assert [n.name for n in select_nodes(NODES, names, role)] == want
