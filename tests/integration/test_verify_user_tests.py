"""The team's own tests in verify/, run with the generated checks against the sandbox after a real Helm deploy.

The suite is the repository's verify/ folder, copied byte for byte with one more test file of a team beside it
(``PRJDEVOPS_VERIFY_SUITE`` points the runner at the copy): a test that passes, one that fails and one that skips
must each land in the same table, JUnit report and groups as the generated checks, and the production gate must
name the failing one when the environment's ``verify.gate`` includes its group.
"""

from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.adapters.kube import KubeClient
from prjdevops.environments import load_environment
from prjdevops.model import Cluster
from prjdevops.ops import release
from prjdevops.values import REDACTED
from prjdevops.verify import runner
from prjdevops.verify.k8s import K8s, Missing, ProxyNotServed, release_view
from tests.integration.conftest import REPO, invoke, write_env
from tests.integration.test_production_flow import prod_env

pytestmark = pytest.mark.integration

# kwok fakes pods' phases but runs no process: on the real control plane the Service proxy reaches nothing (the
# sandbox serves no proxy and the smoke check skips there), so tests that need pods answering HTTP run on the sandbox
NO_POD_PROCESSES = "needs pods answering HTTP through the Service proxy (kwok's pods run no process)"

NS = "plate-web"

TEAM_TESTS = '''
import pytest
from kubernetes import client  # user code may use the official client directly, over the `kube` fixture

pytestmark = pytest.mark.group("team")


def test_release_and_workload(env, kube, release, k8s):
    """plate-web runs at revision 1 with one ready replica."""
    rel = release("plate-web")
    assert (rel.status, rel.revision, rel.chart_version) == ("deployed", 1, "0.1.0")
    assert rel.values["replicaCount"] == 1 and rel.values["config"]["APP_ENV"] == "staging"
    assert [o["metadata"]["name"] for o in rel.objects("Deployment")] == ["plate-web"]
    dep = k8s.deployment("plate-web", "plate-web")
    assert dep.is_available, dep.why
    assert (dep.replicas, dep.ready_replicas, dep.available_replicas) == (1, 1, 1)
    assert len(k8s.service("plate-web").endpoints) == 1  # no namespace: the environment's first
    assert k8s.configmap("plate-web", "plate-web").data["LOG_LEVEL"] == "debug"
    pods = client.CoreV1Api(kube).list_namespaced_pod("plate-web").items
    assert len(pods) == 1 and env.name == "vtest"


def test_feature_flag(k8s):
    """The search feature is switched on."""
    data = k8s.configmap("plate-web", "plate-web").data
    flag = data.get("FEATURE_SEARCH") or "unset"
    assert flag == "on", f"feature flag FEATURE_SEARCH is {flag} in configmap plate-web/plate-web"


def test_migration_job(k8s):
    job = k8s.job("plate-web-migrate", "plate-web")
    if not job.exists:
        pytest.skip("plate-web has no migration job in this release")
    assert job.succeeded, job.why
'''


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """verify/ as shipped plus a team's test file; the runner (and `invoke` subprocesses) run this folder and
    write their reports under the test's folder, never in the repository."""
    monkeypatch.setenv(runner.REPORTS_ENV, str(tmp_path / "reports"))
    folder = tmp_path / "suite"
    shutil.copytree(REPO / "verify", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (folder / "test_team_checks.py").write_text(TEAM_TESTS)
    monkeypatch.setenv(runner.SUITE_ENV, str(folder))
    return folder


@pytest.fixture
def venv_env(tmp_path: Path, kubeconfig: Path) -> Path:
    env_dir = tmp_path / "environments"
    write_env(env_dir, "vtest", kubeconfig, backup={"enabled": True, "dir": str(tmp_path / "backups"), "keep": 3})
    return env_dir


def deploy(env_dir: Path, name: str = "vtest", *sets: str) -> None:
    with release.connect(load_environment(name, env_dir)) as target:
        release.deploy(target, release.prepare(target.env, "plate-web", sets=list(sets)), wait=True, timeout=30)


def rows(run: runner.VerifyRun, group: str) -> dict[str, tuple[str, str]]:
    return {r.check: (r.result, r.reason) for r in run.rows if r.group == group}


PROXY_SKIP = ("the API server does not serve the service proxy (/api/v1/namespaces/plate-web/services/plate-web:http/"
              "proxy/readyz answered 404 and /api/v1 lists no services/proxy)")


@pytest.mark.sandbox_only(reason=NO_POD_PROCESSES)
def test_user_tests_share_the_table_and_the_junit_report(suite: Path, venv_env: Path, tmp_path: Path) -> None:
    deploy(venv_env)
    run = runner.run("vtest", reports=tmp_path / "reports", environments_dir=venv_env, timeout=180)
    assert rows(run, "team") == {
        "test_team_checks.py::test_release_and_workload": ("passed", "plate-web runs at revision 1 with one ready "
                                                                     "replica."),
        "test_team_checks.py::test_feature_flag": ("failed", "feature flag FEATURE_SEARCH is unset in configmap "
                                                             "plate-web/plate-web"),
        "test_team_checks.py::test_migration_job": ("skipped", "plate-web has no migration job in this release"),
    }
    # the shipped example: the Service has endpoints; the sandbox serves no Service proxy, so the HTTP test skips
    assert rows(run, "app-smoke") == {
        "test_plate_web_smoke.py::test_service_has_endpoints": ("passed", "The plate-web Service has ready "
                                                                          "endpoints."),
        "test_plate_web_smoke.py::test_pods_answer_the_readiness_path": ("skipped", PROXY_SKIP),
    }
    # generated checks are still there, in their order, and the user groups come after them
    groups = list(dict.fromkeys(r.group for r in run.rows))
    assert groups[:3] == ["releases", "workloads", "services"] and set(groups[-2:]) == {"app-smoke", "team"}
    assert [(r.group, r.check) for r in run.failed] == [
        ("ingresses", f"{NS}/plate-web"), ("team", "test_team_checks.py::test_feature_flag")]
    cases = {c.get("name"): c for c in ET.parse(run.junit).getroot().iter("testcase")}
    flag = cases["test_feature_flag"]
    assert flag.find("failure") is not None
    assert {p.get("name"): p.get("value") for p in flag.iter("property")}["group"] == "team"


@pytest.mark.sandbox_only(reason=NO_POD_PROCESSES)
def test_invoke_verify_only_a_user_group_exits_3_naming_the_failed_test(suite: Path, venv_env: Path,
                                                                         tmp_path: Path) -> None:
    deploy(venv_env)
    res = invoke(["verify", "--env", "vtest", "--only", "team", "--reports", str(tmp_path / "r")], venv_env)
    assert res.returncode == 3, res.stdout + res.stderr
    lines = [line.split(None, 3) for line in res.stdout.splitlines() if line.strip()]
    assert lines[0] == ["GROUP", "CHECK", "RESULT", "REASON"]
    table = {line[1]: (line[0], line[2], line[3] if len(line) > 3 else "") for line in lines[1:4]}
    assert table == {
        "test_team_checks.py::test_release_and_workload": ("team", "passed",
                                                           "plate-web runs at revision 1 with one ready replica."),
        "test_team_checks.py::test_feature_flag": ("team", "failed", "feature flag FEATURE_SEARCH is unset in "
                                                                     "configmap plate-web/plate-web"),
        "test_team_checks.py::test_migration_job": ("team", "skipped", "plate-web has no migration job in this "
                                                                       "release"),
    }
    assert "1 passed, 1 failed, 1 skipped; JUnit XML: " in res.stdout  # only the team's group ran

    res = invoke(["verify", "--env", "vtest", "--only", "team,app-smoke,services", "--reports", str(tmp_path / "r")],
                 venv_env)
    assert res.returncode == 3 and "3 passed, 1 failed, 2 skipped" in res.stdout, res.stdout + res.stderr


def test_unknown_user_group_and_bad_marker_are_refused(suite: Path, venv_env: Path) -> None:
    res = invoke(["verify", "--env", "vtest", "--only", "tema"], venv_env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert ("unknown verify group(s) tema (groups: releases, workloads, services, ingresses, certificates, metallb, "
            "argocd, host, nodes, pods, app-smoke, team)") in res.stderr
    (suite / "test_bad.py").write_text("import pytest\n\n@pytest.mark.group('App Smoke')\ndef test_x():\n    pass\n")
    res = invoke(["verify", "--env", "vtest", "--only", "team"], venv_env)
    assert res.returncode == 1 and "test_bad.py::test_x: @pytest.mark.group takes one group name" in res.stderr, \
        res.stderr


@pytest.mark.sandbox_only(reason="switches off the sandbox's endpoints controller")
def test_example_fails_when_the_service_has_no_endpoints(suite: Path, venv_env: Path, tmp_path: Path,
                                                         sandbox: Any) -> None:
    sandbox.controllers.disable("endpoints")
    deploy(venv_env)
    run = runner.run("vtest", only=["app-smoke"], reports=tmp_path / "r", environments_dir=venv_env, timeout=120)
    assert rows(run, "app-smoke")["test_plate_web_smoke.py::test_service_has_endpoints"] == (
        "failed", f"service/{NS}/plate-web has no ready endpoints: no Endpoints object")


@pytest.mark.sandbox_only(reason=NO_POD_PROCESSES)
def test_gate_runs_the_environments_groups_and_names_the_failed_user_test(suite: Path, env_dir: Path,
                                                                          kubeconfig: Path, cluster: Any) -> None:
    prod_env(env_dir, kubeconfig, cluster)
    path = env_dir / "prodlike.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["verify"] = {"gate": ["releases", "team"]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--verify"], env_dir, timeout=240)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "verifying prodlike (releases, team)" in res.stdout
    assert ("team/test_team_checks.py::test_feature_flag: feature flag FEATURE_SEARCH is unset in configmap "
            "plate-web/plate-web") in res.stderr
    # the release check passed and the skipped test is no failure: the error names exactly the failed test
    assert "releases/" not in res.stderr and "test_migration_job" not in res.stderr

    doc["verify"] = {"gate": ["releases", "app-smoke"]}  # the example's groups pass (or skip): the deploy goes on
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--verify", "--set", "image.tag=1.4.3"], env_dir,
                 timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verifying prodlike (releases, app-smoke)" in res.stdout and "0 failed" in res.stdout


def test_gate_group_names_are_checked_when_the_environment_loads(env_dir: Path, kubeconfig: Path) -> None:
    from prjdevops.errors import ConfigError

    write_env(env_dir, "badgate", kubeconfig, verify={"gate": ["releases", "App Smoke"]})
    with pytest.raises(ConfigError, match=r"verify\.gate: must be a list of verify group names"):
        load_environment("badgate", env_dir)
    write_env(env_dir, "goodgate", kubeconfig, verify={"gate": ["releases", "app-smoke"]})
    env = load_environment("goodgate", env_dir)
    assert env.verify.gate == ("releases", "app-smoke")
    assert runner.gate_groups(env) == ("releases", "app-smoke")
    assert runner.gate_groups(load_environment("itest", env_dir))[:2] == ("releases", "workloads")


# --- the helpers themselves, in process against the sandbox ------------------------------------------------


@pytest.fixture
def k8s(kubeconfig: Path) -> Any:
    with KubeClient(Cluster(context="sandbox", kubeconfig=kubeconfig)) as kube:
        yield K8s(kube, namespace=NS)


@pytest.mark.sandbox_only(reason="switches off the sandbox's endpoints controller")
def test_k8s_helpers_read_live_objects(venv_env: Path, k8s: K8s, api_client: Any, sandbox: Any) -> None:
    from kubernetes import client

    deploy(venv_env)
    dep = k8s.deployment("plate-web")
    assert dep.is_available and dep.why == f"deployment/{NS}/plate-web: 1/1 available"
    assert dep.readiness_probe == ("/readyz", "http") and len(dep.pods) == 1 and dep.pods[0].is_ready
    [endpoint] = k8s.service("plate-web").endpoints
    assert endpoint.endswith(":8080") and k8s.service("plate-web").not_ready_endpoints == []
    assert k8s.configmap("plate-web").data["APP_ENV"] == "staging"
    assert not k8s.deployment("nope").exists and k8s.deployment("nope").why == f"deployment/{NS}/nope does not exist"
    with pytest.raises(Missing, match=f"^configmap/{NS}/nope does not exist$"):
        k8s.configmap("nope").data  # noqa: B018
    with pytest.raises(ProxyNotServed, match="does not serve the service proxy"):
        k8s.http_get("plate-web", "/readyz", port="http")

    batch = client.BatchV1Api(api_client)
    batch.create_namespaced_job(NS, client.V1Job(
        metadata=client.V1ObjectMeta(name="migrate"),
        spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="m", image="busybox:1.36")])))))
    job = k8s.job("migrate")
    deadline = time.monotonic() + 15
    while not job.succeeded and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.succeeded and job.why == f"job/{NS}/migrate: 1/1 completions succeeded", job.why

    sandbox.controllers.disable("endpoints")
    core = client.CoreV1Api(api_client)
    core.delete_namespaced_endpoints("plate-web", NS)
    assert k8s.service("plate-web").endpoints == []
    assert k8s.service("plate-web").why == f"service/{NS}/plate-web has no ready endpoints: no Endpoints object"


def test_release_view_redacts_secrets(venv_env: Path, kubeconfig: Path) -> None:
    secret = "s3cr3t-token-value"
    deploy(venv_env, "vtest", f"secrets.API_TOKEN={secret}")
    env = load_environment("vtest", venv_env)
    with release.connect(env) as target:
        rel = release_view(target.helm, "plate-web", NS)
        missing = release_view(target.helm, "nope", NS)
    assert rel.deployed and rel.revision == 1 and rel.chart == "plate-web"
    assert rel.values["secrets"] == {"API_TOKEN": REDACTED}
    assert rel.object("Secret", "plate-web")["data"] == {"API_TOKEN": REDACTED}
    assert secret not in repr(rel.manifest) and secret not in repr(rel.values)
    assert (missing.exists, missing.status, missing.manifest) == (False, None, [])
