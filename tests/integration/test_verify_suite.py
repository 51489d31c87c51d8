"""The verify suite (verify/) run for real against the sandbox after a real Helm deploy of plate-web.

A healthy deploy passes; a never-ready workload, a Service without endpoints and a missing TLS secret each fail with
the right message; `invoke verify` prints the table, writes JUnit XML and exits 3 on failure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Fault
from prjdevops.environments import load_environment
from prjdevops.ops import release
from prjdevops.verify import runner
from prjdevops.verify.report import Row
from tests.integration.conftest import invoke, write_env

pytestmark = pytest.mark.integration

# kwok fakes pods' phases but runs no process: on the real control plane the Service proxy reaches nothing (the
# sandbox serves no proxy and the smoke check skips there), so tests that need pods answering HTTP run on the sandbox
NO_POD_PROCESSES = "needs pods answering HTTP through the Service proxy (kwok's pods run no process)"

NS = "plate-web"
TLS = "plate-web-stg-tls"  # values-stg.yaml's ingress TLS secret (cert-manager would issue it)


@pytest.fixture
def venv_env(tmp_path: Path, kubeconfig: Path) -> Path:
    env_dir = tmp_path / "environments"
    write_env(env_dir, "vtest", kubeconfig,
              backup={"enabled": True, "dir": str(tmp_path / "backups"), "keep": 3})
    return env_dir


def deploy(env_dir: Path, *, wait: bool = True) -> None:
    with release.connect(load_environment("vtest", env_dir)) as target:
        release.deploy(target, release.prepare(target.env, "plate-web"), wait=wait, timeout=30)


def tls_secret(api_client: Any) -> None:
    from kubernetes import client

    client.CoreV1Api(api_client).create_namespaced_secret(NS, client.V1Secret(
        metadata=client.V1ObjectMeta(name=TLS), type="kubernetes.io/tls",
        string_data={"tls.crt": "cert", "tls.key": "key"}))


def rows_by_group(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r.group, []).append(r)
    return out


def verify(env_dir: Path, tmp_path: Path, *only: str) -> runner.VerifyRun:
    return runner.run("vtest", only=only, reports=tmp_path / "reports", environments_dir=env_dir, timeout=120)


@pytest.mark.sandbox_only(reason=NO_POD_PROCESSES)
def test_healthy_deploy_passes_every_check(venv_env: Path, tmp_path: Path, api_client: Any) -> None:
    deploy(venv_env)
    tls_secret(api_client)
    run = verify(venv_env, tmp_path)
    groups = rows_by_group(run.rows)
    assert run.ok, run.failed
    assert [(r.check, r.result) for r in groups["releases"]] == [("plate-web", "passed")]
    assert "deployed at chart version" in groups["releases"][0].reason
    assert [(r.check, r.result) for r in groups["workloads"]] == [("plate-web/deployment/plate-web", "passed")]
    assert groups["services"][0].result == "passed" and "1 ready endpoint(s)" in groups["services"][0].reason
    assert groups["ingresses"][0].reason == (f"ingress/{NS}/plate-web: plate-web.stg.example.internal with TLS "
                                             f"secret(s) {TLS}")
    # the sandbox serves none of the add-ons' APIs: each group is skipped with the reason
    assert [(r.result, r.reason) for r in groups["certificates"]] == [
        ("skipped", "cert-manager is not installed (the cluster serves no certificates.cert-manager.io API)")]
    assert [(r.group, r.check, r.result) for r in groups["metallb"] + groups["argocd"]] == [
        ("metallb", "metallb", "skipped"), ("argocd", "argo-cd", "skipped")]
    assert {r.check: r.result for r in groups["host"]} == {"kubeconfig-private": "passed",
                                                          "backups-writable": "passed", "free-disk": "passed"}
    assert groups["nodes"][0].reason == "environment vtest lists no SSH nodes in its inventory"
    assert run.junit == tmp_path / "reports" / "verify-vtest.xml" and run.junit.is_file()


def test_missing_tls_secret_fails_the_ingress_check_and_invoke_exits_3(venv_env: Path, tmp_path: Path) -> None:
    deploy(venv_env)
    res = invoke(["verify", "--env", "vtest", "--only", "ingresses,services", "--reports",
                  str(tmp_path / "reports")], venv_env)
    assert res.returncode == 3, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["GROUP", "CHECK", "RESULT", "REASON"]
    assert any(line.split()[:3] == ["ingresses", f"{NS}/plate-web", "failed"] and
               f"ingress/{NS}/plate-web: TLS secret {TLS} not found in namespace {NS}" in line for line in lines)
    assert any(line.split()[:3] == ["services", f"{NS}/plate-web", "passed"] for line in lines)
    assert "1 passed, 1 failed, 0 skipped; JUnit XML: " in res.stdout
    assert (tmp_path / "reports" / "verify-vtest.xml").is_file()


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_never_ready_workload_fails_with_the_reason(venv_env: Path, tmp_path: Path, sandbox: Any,
                                                    api_client: Any) -> None:
    sandbox.faults.add(Fault(kind="never_ready", namespace=NS, name_prefix="plate-web"))
    deploy(venv_env, wait=False)
    tls_secret(api_client)
    time.sleep(0.5)  # let the controllers create the (never ready) pod
    run = verify(venv_env, tmp_path, "workloads", "services")
    groups = rows_by_group(run.rows)
    [w] = groups["workloads"]
    assert (w.result, w.reason) == ("failed", f"deployment/{NS}/plate-web: 0/1 available")
    [s] = groups["services"]
    assert (s.result, s.reason) == ("failed", f"service/{NS}/plate-web has no ready endpoints: 1 endpoint(s), "
                                              "none ready")


@pytest.mark.sandbox_only(reason="fault injection (crash-looping pod)")
def test_crash_looping_pod_is_named(venv_env: Path, tmp_path: Path, sandbox: Any) -> None:
    sandbox.faults.add(Fault(kind="crash_loop", namespace=NS, label_selector="app.kubernetes.io/name=plate-web"))
    deploy(venv_env, wait=False)
    time.sleep(0.5)
    [w] = verify(venv_env, tmp_path, "workloads").rows
    assert w.result == "failed" and "crash-looping pods: plate-web-" in w.reason, w.reason


@pytest.mark.sandbox_only(reason="switches off the sandbox's endpoints controller")
def test_service_without_endpoints_fails(venv_env: Path, tmp_path: Path, sandbox: Any) -> None:
    sandbox.controllers.disable("endpoints")
    deploy(venv_env)
    [s] = verify(venv_env, tmp_path, "services").rows
    assert (s.result, s.reason) == ("failed", f"service/{NS}/plate-web has no ready endpoints: no Endpoints object")


def test_release_not_installed_fails_and_nothing_else_is_invented(venv_env: Path, tmp_path: Path) -> None:
    run = verify(venv_env, tmp_path, "releases,workloads")
    assert [(r.group, r.check, r.result, r.reason) for r in run.rows] == [
        ("releases", "plate-web", "failed", "release plate-web is not installed"),
        ("workloads", "none", "skipped", "no Deployment, StatefulSet or DaemonSet in the environment's deployed "
                                         "releases")]


def test_unknown_group_and_unknown_environment_are_refused(venv_env: Path, tmp_path: Path) -> None:
    res = invoke(["verify", "--env", "vtest", "--only", "dns", "--reports", str(tmp_path / "r")], venv_env)
    assert res.returncode == 1 and "unknown verify group(s) dns" in res.stderr
    res = invoke(["verify", "--env", "nope", "--reports", str(tmp_path / "r")], venv_env)
    assert res.returncode == 1 and "unknown environment 'nope'" in res.stderr


def test_gate_fails_when_the_suite_cannot_run(tmp_path: Path) -> None:
    from types import SimpleNamespace

    empty = tmp_path / "environments"
    empty.mkdir()
    lines: list[str] = []
    check = runner.gate(environments_dir=empty, reports=tmp_path / "r", report=lines.append)
    [failure] = check(SimpleNamespace(env=SimpleNamespace(name="ghost")), None)
    assert failure.startswith("verify suite for 'ghost' could not run: unknown environment 'ghost'"), failure
    assert lines == ["verifying ghost (releases, workloads, services, ingresses, certificates, metallb, argocd)"]
