"""`invoke deploy` end to end: the whole platform (stand-in libraries from a loopback chart repository, then
plate-web) into the sandbox through the real CLI, real Helm v4 and the official client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesandbox import Fault, Sandbox
from prjdevops.chartrepo import ChartRepository
from prjdevops.environments import load_environment, project_root
from prjdevops.ops.lock import LEASE_NAMESPACE, lease_name
from prjdevops.ops.release import Target, connect
from tests.conftest import Cluster
from tests.integration.conftest import invoke

# The stand-in library charts carry StatefulSets with volumeClaimTemplates and LoadBalancer Services, as their
# upstreams do: the real control plane has no volume provisioner and no address pool (kwok), so their releases
# never become ready there (README: Real control plane). These tests run on the sandbox, which plays both.
pytestmark = pytest.mark.sandbox_only(reason="library stand-ins need a volume provisioner and a LoadBalancer "
                                      "pool, which the real control plane lacks")


pytestmark = [pytestmark, pytest.mark.integration]

# kwok fakes pods' phases but runs no process: on the real control plane the Service proxy reaches nothing (the
# sandbox serves no proxy and the smoke check skips there), so tests that need pods answering HTTP run on the sandbox
NO_POD_PROCESSES = "needs pods answering HTTP through the Service proxy (kwok's pods run no process)"

TIER1 = ["cert-manager", "metallb", "cluster-issuer", "metallb-config"]
SMALL = {"harbor": {"enabled": False}, "argo-cd": {"enabled": False}}  # fewer releases: faster tests
APP = {"name": "plate-web", "chart": "helm/applications/plate-web", "namespace": "plate-web",
       "values": ["values-stg.yaml"], "timeout": 30}



def project(tmp_path: Path, kubeconfig: Path, mirror: str, name: str = "staging", *,
            libraries: dict[str, Any] | None = None, app: dict[str, Any] | None = None, **top: Any) -> Path:
    """A project folder like the repository's with one environment ``name`` on the sandbox."""
    proj = tmp_path / "proj"
    envs = proj / "environments"
    if not envs.exists():
        envs.mkdir(parents=True)
        (proj / "helm").symlink_to(project_root() / "helm")
        shutil.copytree(project_root() / "environments" / "libraries", envs / "libraries")
    doc: dict[str, Any] = {
        "name": name, "cluster": {"kubeconfig": str(kubeconfig), "context": "sandbox"},
        "guards": {"lock": True, "health_timeout": 30, "rollback_timeout": 30},
        "namespaces": ["plate-web"], "releases": [{**APP, **(app or {})}],
        "libraries": {"mirror": mirror, "releases": SMALL if libraries is None else libraries}, **top}
    (envs / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return envs


def deploy(envs: Path, tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`invoke deploy ARGS` with the test's chart cache and run records (the subprocess inherits them)."""
    saved = {k: os.environ.get(k) for k in ("PRJDEVOPS_CHART_CACHE", "PRJDEVOPS_RUNS_DIR")}
    os.environ["PRJDEVOPS_CHART_CACHE"] = str(tmp_path / "cache")
    os.environ["PRJDEVOPS_RUNS_DIR"] = str(tmp_path / "runs")
    try:
        return invoke(["deploy", *args], envs, timeout=timeout)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def installed(target: Target) -> dict[str, int]:
    """Release name -> revision count, from Helm's records in the cluster."""
    return {r.name: len(target.helm.history(r.name, namespace=r.namespace))
            for r in target.helm.list(all_namespaces=True)}


# Written all the time by the real control plane's own components (heartbeats, leader leases, events): not ours.
BUSY_RESOURCES = {"events", "leases", "nodes", "endpoints", "endpointslices"}


def cluster_state(cluster: Cluster) -> list[tuple[Any, ...]]:
    """Every object the API server stores, with its resourceVersion: any write shows up here."""
    if cluster.sandbox is not None:
        return sorted((str(key), (o.get("metadata") or {}).get("namespace") or "", o["metadata"]["name"],
                       o["metadata"].get("resourceVersion")) for key, o in cluster.sandbox.store.iter_all())
    cp = cluster.controlplane
    versions = ["/api/v1"]
    _, groups = cp.request("GET", "/apis")
    versions += [f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups["groups"]]
    state = []
    for gv in versions:
        _, listing = cp.request("GET", gv)
        for res in listing["resources"]:
            if "/" in res["name"] or "list" not in res["verbs"] or res["name"] in BUSY_RESOURCES:
                continue
            status, objs = cp.request("GET", f"{gv}/{res['name']}")
            for _ in range(50):  # 429 while the cache of a just-created CRD's resource (re)initializes
                if status != 429:
                    break
                time.sleep(0.2)
                status, objs = cp.request("GET", f"{gv}/{res['name']}")
            assert status == 200, (gv, res["name"], objs)
            state += [(f"{gv}/{res['name']}", o["metadata"].get("namespace") or "", o["metadata"]["name"],
                       o["metadata"].get("resourceVersion")) for o in objs["items"]]
    return sorted(state)


def recap_of(stdout: str) -> dict[str, list[str]]:
    """RELEASE -> [RESULT, ...] from the recap table at the end of the output."""
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("RELEASE "))
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith("recap:"):
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_staging_end_to_end_in_plan_order_then_nothing_to_do(tmp_path: Path, kubeconfig: Path,
                                                              repo: ChartRepository) -> None:
    envs = project(tmp_path, kubeconfig, repo.url, libraries={})  # every library, then the application
    proc = deploy(envs, tmp_path)  # staging is the default environment
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert out.splitlines()[0] == "plan for staging: 8 release(s): 8 to install, 0 to upgrade, 0 to delete, " \
                                  "0 unchanged"
    # execution follows the plan: tier 1 by dependency group, tier 2, then the application
    starts = [out.index(f"installing {n} ") for n in [*TIER1, "jenkins", "argo-cd", "harbor", "plate-web"]]
    assert starts[0] < starts[2] and starts[1] < starts[3] and max(starts[:4]) < min(starts[4:7]) \
        and max(starts[:7]) < starts[7]
    recap = recap_of(out)
    assert list(recap) == [*TIER1, "argo-cd", "harbor", "jenkins", "plate-web"]
    assert {r[0] for r in recap.values()} == {"changed"}
    assert "recap: ok=0 changed=8 failed=0 skipped=0" in out
    with connect(load_environment("staging", envs)) as target:
        assert installed(target) == dict.fromkeys([*TIER1, "argo-cd", "harbor", "jenkins", "plate-web"], 1)
        assert target.kube.get_or_none("read lease", target.kube.coordination().read_namespaced_lease,
                                       lease_name("staging"), LEASE_NAMESPACE) is None  # released
    [record] = list((tmp_path / "runs" / "staging").glob("*.json"))
    doc = json.loads(record.read_text())
    assert doc["status"] == "succeeded" and {s["state"] for s in doc["steps"]} == {"changed"}

    again = deploy(envs, tmp_path, "--dry-run")
    assert again.returncode == 0, again.stderr + again.stdout  # 0: nothing would change
    assert "8 unchanged" in again.stdout.splitlines()[0]
    rerun = deploy(envs, tmp_path, "--json")
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["recap"]["counts"] == {"ok": 8, "changed": 0, "failed": 0, "skipped": 0}
    assert result["plan"]["changes"] is False and result["run"]["status"] == "succeeded"


@pytest.mark.sandbox_only(reason=NO_POD_PROCESSES)
def test_production_goes_through_every_guard_backup_and_verify(tmp_path: Path, kubeconfig: Path, cluster: Cluster,
                                                               repo: ChartRepository) -> None:
    guards = {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True, "forbid_latest_tag": True,
              "lock": True, "health_timeout": 30, "rollback_timeout": 30}
    prod = dict(guards=guards, backup={"enabled": True, "dir": str(tmp_path / "backups"), "keep": 5},
                cluster={"kubeconfig": str(kubeconfig), "context": "sandbox", "api_server": cluster.url})
    # only what the sandbox can prove healthy end to end (no ingress: no certificate is ever issued here)
    envs = project(tmp_path, kubeconfig, repo.url, "production", app={"values": ["values-prod.yaml"],
                                                                       "set": ["ingress.enabled=false"]},
                   libraries={"jenkins": {"enabled": False}, **SMALL}, **prod)
    with connect(load_environment("production", envs)) as target:
        refused = deploy(envs, tmp_path, "--env", "production")  # no terminal, no --yes
        assert refused.returncode == 1
        assert "environment 'production' needs confirmation and there is no terminal to ask" in refused.stderr
        assert "plan for production: 5 release(s): 5 to install" in refused.stdout  # the plan was shown first
        assert installed(target) == {}

        done = deploy(envs, tmp_path, "--env", "production", "--yes")
        assert done.returncode == 0, done.stderr + done.stdout
        assert installed(target) == dict.fromkeys([*TIER1, "plate-web"], 1)
        assert "verifying production" in done.stdout  # on by default for production
        assert " 0 failed" in done.stdout and "plate-web/plate-web" in done.stdout

        # an upgrade: libraries and the application are backed up before they change
        project(tmp_path, kubeconfig, repo.url, "production",
                app={"values": ["values-prod.yaml"], "set": ["ingress.enabled=false", "image.tag=1.4.3"]},
                libraries={"jenkins": {"enabled": False}, "metallb": {"set": ["controller.image.tag=v0.14.8"]},
                           **SMALL},
                **prod)
        up = deploy(envs, tmp_path, "--env", "production", "--yes", "--no-verify")
        assert up.returncode == 0, up.stderr + up.stdout
        assert "verifying" not in up.stdout
        assert recap_of(up.stdout)["plate-web"][0] == "changed" and recap_of(up.stdout)["cert-manager"][0] == "ok"
        assert installed(target)["plate-web"] == 2
        assert (tmp_path / "backups" / "production" / "plate-web").is_dir()
        assert "backup of metallb revision 1 written to" in up.stdout  # the libraries, before they change
        assert "backup of revision 1 written to" in up.stdout  # the application's own step

        # a context pointing at another cluster is refused before anything is planned or changed
        prod["cluster"] = {**prod["cluster"], "api_server": "https://elsewhere.example:6443"}
        project(tmp_path, kubeconfig, repo.url, "production", app={"values": ["values-prod.yaml"]}, **prod)
        before = installed(target)
        wrong = deploy(envs, tmp_path, "--env", "production", "--yes")
        assert wrong.returncode == 1 and "refusing to touch another cluster" in wrong.stderr
        assert installed(target) == before


def test_libraries_only_then_skip_libraries(tmp_path: Path, kubeconfig: Path, repo: ChartRepository) -> None:
    envs = project(tmp_path, kubeconfig, repo.url, libraries={"jenkins": {"enabled": False}, **SMALL})
    assert deploy(envs, tmp_path, "--libraries-only", "--skip-libraries").returncode == 1
    with connect(load_environment("staging", envs)) as target:
        libs = deploy(envs, tmp_path, "--libraries-only")
        assert libs.returncode == 0, libs.stderr + libs.stdout
        assert "plate-web" not in libs.stdout
        assert installed(target) == dict.fromkeys(TIER1, 1)
        app = deploy(envs, tmp_path, "--skip-libraries")
        assert app.returncode == 0, app.stderr + app.stdout
        assert list(recap_of(app.stdout)) == ["plate-web"]
        assert installed(target) == dict.fromkeys([*TIER1, "plate-web"], 1)


def test_dry_run_changes_nothing_and_is_validated_by_the_api_server(tmp_path: Path, kubeconfig: Path,
                                                                    cluster: Cluster, repo: ChartRepository) -> None:
    envs = project(tmp_path, kubeconfig, repo.url, libraries={"jenkins": {"enabled": False}, **SMALL})
    with connect(load_environment("staging", envs)) as target:
        before = cluster_state(cluster)
        fresh = deploy(envs, tmp_path, "--dry-run")
        assert fresh.returncode == 2, fresh.stderr + fresh.stdout  # 2: changes
        assert cluster_state(cluster) == before and installed(target) == {}
        assert fresh.stdout.rstrip().endswith("dry run: nothing applied")

        assert deploy(envs, tmp_path, "--libraries-only").returncode == 0
        # now an upgrade of a library and the application's install, both validated by the API server
        project(tmp_path, kubeconfig, repo.url, libraries={"jenkins": {"enabled": False},
                                                           "metallb": {"set": ["controller.image.tag=v0.14.8"]},
                                                           **SMALL})
        before, history = cluster_state(cluster), installed(target)
        planned = deploy(envs, tmp_path, "--dry-run", "--json")
        assert planned.returncode == 2, planned.stderr
        assert cluster_state(cluster) == before and installed(target) == history
        doc = json.loads(planned.stdout)
        rows = {r["name"]: r for r in doc["releases"]}
        assert rows["plate-web"]["action"] == "install" and rows["plate-web"]["validation"] == "server"
        assert rows["metallb"]["action"] == "upgrade" and rows["metallb"]["validation"] == "server"
        assert any("controller:v0.14.8" in d["diff"] for d in rows["metallb"]["diffs"])
        assert rows["cert-manager"]["action"] == "unchanged" and rows["cert-manager"]["validation"] == "server"
        assert [r["name"] for r in doc["releases"]] == [*TIER1, "plate-web"]
        assert all(r["diffs"] for r in doc["releases"] if r["action"] != "unchanged")



def test_dry_run_fails_naming_a_release_the_api_server_refuses(tmp_path: Path, kubeconfig: Path, cluster: Cluster,
                                                               repo: ChartRepository) -> None:
    # cert-manager switched off: nothing installs the ClusterIssuer kind the cluster-issuer release creates
    envs = project(tmp_path, kubeconfig, repo.url, libraries={"cert-manager": {"enabled": False},
                                                              "jenkins": {"enabled": False}, **SMALL})
    before = cluster_state(cluster)
    proc = deploy(envs, tmp_path, "--dry-run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: the API server rejected cluster-issuer" in proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.split()[1:2] == ["cluster-issuer"])
    assert 'failed: ' in row and 'no matches for kind "ClusterIssuer"' in row
    assert "validated by the API server" in next(line for line in proc.stdout.splitlines()
                                                 if line.split()[1:2] == ["plate-web"])
    assert cluster_state(cluster) == before


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_resume_after_a_failure_skips_what_finished(tmp_path: Path, kubeconfig: Path, sandbox: Sandbox,
                                                    repo: ChartRepository) -> None:
    envs = project(tmp_path, kubeconfig, repo.url, libraries={"jenkins": {"timeout": 3}, **SMALL})
    fault = sandbox.faults.add(Fault(kind="never_ready", namespace="jenkins", name_prefix="jenkins"))
    failed = deploy(envs, tmp_path)
    assert failed.returncode == 1
    assert "error: 1 release(s) failed: jenkins; fix the cause and continue with invoke deploy --env staging " \
           "--resume" in failed.stderr
    recap = recap_of(failed.stdout)
    assert {n: r[0] for n, r in recap.items()} == {**dict.fromkeys(TIER1, "changed"), "jenkins": "failed",
                                                   "plate-web": "skipped"}

    sandbox.faults.remove(fault)
    # and metallb's inputs change meanwhile: the resume says so and deploys it again
    project(tmp_path, kubeconfig, repo.url, libraries={"jenkins": {"timeout": 3},
                                                       "metallb": {"set": ["controller.image.tag=v0.14.8"]}, **SMALL})
    with connect(load_environment("staging", envs)) as target:
        resumed = deploy(envs, tmp_path, "--resume")
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        assert "resuming run " in resumed.stdout and "3 release(s) done, skipped (cert-manager, cluster-issuer, " \
               "metallb-config)" in resumed.stdout
        assert "note: the inputs of metallb changed since run " in resumed.stdout
        recap = recap_of(resumed.stdout)
        done = ["cert-manager", "cluster-issuer", "metallb-config"]
        assert {n: r[0] for n, r in recap.items()} == {**dict.fromkeys(done, "skipped"), "metallb": "changed",
                                                       "jenkins": "changed", "plate-web": "changed"}
        assert all("already done in run" in " ".join(recap[n]) for n in done)
        for name in done:  # not deployed again: still their first revision
            assert installed(target)[name] == 1
        assert installed(target)["metallb"] == 2
        assert installed(target)["jenkins"] == 2 and installed(target)["plate-web"] == 1

    nothing = deploy(envs, tmp_path, "--resume")
    assert nothing.returncode == 1 and "nothing to resume" in nothing.stderr
