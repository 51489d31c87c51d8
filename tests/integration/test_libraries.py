"""The libraries end to end: real Helm v4 pulls stand-in charts from a loopback chart repository and installs
them into the sandbox in dependency order."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesandbox import Fault, Sandbox
from prjdevops.chartrepo import ChartRepository
from prjdevops.environments import load_environment, project_root
from prjdevops.ops import libraries as ops
from prjdevops.ops.release import Target, connect
from tests.integration.conftest import invoke

# The stand-in library charts carry StatefulSets with volumeClaimTemplates and LoadBalancer Services, as their
# upstreams do: the real control plane has no volume provisioner and no address pool (kwok), so their releases
# never become ready there (README: Real control plane). These tests run on the sandbox, which plays both.
pytestmark = pytest.mark.sandbox_only(reason="library stand-ins need a volume provisioner and a LoadBalancer "
                                      "pool, which the real control plane lacks")


pytestmark = [pytestmark, pytest.mark.integration]

TIER1 = ["cert-manager", "metallb", "cluster-issuer", "metallb-config"]
TIER2 = ["argo-cd", "harbor", "jenkins"]



def make_env(tmp_path: Path, kubeconfig: Path, mirror: str, overrides: dict[str, Any] | None = None) -> Path:
    """A project folder like the repository's: shared library definitions, a `local` environment on the sandbox
    (so the values-local.yaml files apply), charts from ``mirror``."""
    proj = tmp_path / "proj"
    envs = proj / "environments"
    envs.mkdir(parents=True, exist_ok=True)
    if not (proj / "helm").exists():
        (proj / "helm").symlink_to(project_root() / "helm")
        shutil.copytree(project_root() / "environments" / "libraries", envs / "libraries")
    doc = {"cluster": {"kubeconfig": str(kubeconfig), "context": "sandbox"},
           "libraries": {"mirror": mirror, "releases": overrides or {}}}
    (envs / "local.yaml").write_text(yaml.safe_dump(doc))
    return envs


@pytest.fixture
def lib_target(tmp_path: Path, kubeconfig: Path, repo: ChartRepository) -> Iterator[Target]:
    with connect(load_environment("local", make_env(tmp_path, kubeconfig, repo.url))) as t:
        yield t


def states(recap: ops.Recap) -> dict[str, str]:
    return {o.name: o.state for o in recap.outcomes}


def test_full_deploy_in_dependency_order_rerun_noop_status_and_delete(lib_target: Target, tmp_path: Path) -> None:
    lines: list[str] = []
    selection = ops.order(lib_target.env)
    assert [list(g) for g in selection.groups] == [["cert-manager", "metallb"], ["cluster-issuer", "metallb-config"],
                                                   TIER2]
    recap = ops.deploy(lib_target, selection, concurrency=3, cache_dir=tmp_path / "cache", report=lines.append)
    assert states(recap) == dict.fromkeys(TIER1 + TIER2, "changed"), recap.lines()

    # dependency order, from the flow's own progress lines: nothing starts before what it needs is healthy
    def at(line: str) -> int:
        return next(i for i, text in enumerate(lines) if text.startswith(line))

    for tool in TIER2:
        assert at(f"installing {tool}") > max(at("cluster-issuer: changed"), at("metallb-config: changed"))
    assert at("installing cluster-issuer") > at("cert-manager: changed")
    assert at("installing metallb-config") > at("metallb: changed")
    # and from Helm's own records: each dependant was first deployed after its needs' last deploy
    deployed = {n: _when(lib_target.helm.history(n, namespace=lib_target.env.release(n).namespace)[-1].updated)
                for n in TIER1 + TIER2}
    # (Helm records whole seconds: equal stamps are possible, later-before-earlier is not)
    assert deployed["cluster-issuer"] >= deployed["cert-manager"]
    assert deployed["metallb-config"] >= deployed["metallb"]
    assert min(deployed[t] for t in TIER2) >= max(deployed[n] for n in TIER1)

    # CRDs first, then resources of their kinds (cert-manager's templates, MetalLB's crds/ folder, Argo CD's)
    custom = lib_target.kube.custom()
    issuers = custom.list_cluster_custom_object("cert-manager.io", "v1", "clusterissuers")
    assert [i["metadata"]["name"] for i in issuers["items"]] == ["letsencrypt-staging"]  # as values-local.yaml says
    pools = custom.list_namespaced_custom_object("metallb.io", "v1beta1", "metallb-system", "ipaddresspools")
    assert [p["spec"]["addresses"] for p in pools["items"]] == [["198.51.100.0/28"]]
    for crd in ("applications.argoproj.io", "appprojects.argoproj.io"):
        assert lib_target.kube.call("read crd", _crd_api(lib_target).read_custom_resource_definition, crd)

    # re-running changes nothing: every release ok, no new revision
    again = ops.deploy(lib_target, selection, concurrency=4, cache_dir=tmp_path / "cache")
    assert states(again) == dict.fromkeys(TIER1 + TIER2, "ok"), again.lines()
    assert all(o.revision == 1 for o in again.outcomes)
    assert not ops.plan(lib_target, selection, cache_dir=tmp_path / "cache").changes

    rows = {r.name: r for r in ops.status(lib_target)}
    assert rows["harbor"].status == "deployed" and rows["harbor"].ready == "7/7" and rows["harbor"].healthy
    assert rows["metallb"].ready == "2/2"  # controller Deployment + speaker DaemonSet
    assert rows["cert-manager"].chart == "cert-manager@v1.16.2"

    removed: list[str] = []
    gone = ops.delete(lib_target, selection, report=removed.append)
    assert states(gone) == dict.fromkeys(TIER1 + TIER2, "changed")
    order = [line.split(":")[0] for line in removed]
    assert max(order.index(t) for t in TIER2) < order.index("cluster-issuer") < order.index("cert-manager")
    assert lib_target.helm.list(all_namespaces=True) == []


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _crd_api(target: Target) -> Any:
    from kubernetes import client

    return client.ApiextensionsV1Api(target.kube.api_client)


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_failing_tier1_release_blocks_dependants_not_independent_ones(tmp_path: Path, kubeconfig: Path,
                                                                       repo: ChartRepository,
                                                                       sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="never_ready", namespace="metallb-system", name_prefix="metallb-controller"))
    # harbor only needs the issuer here: an independent branch that must go on
    envs = make_env(tmp_path, kubeconfig, repo.url, {"metallb": {"timeout": 3}, "harbor": {"needs": ["cluster-issuer"]},
                                                     "argo-cd": {"enabled": False}})
    with connect(load_environment("local", envs)) as target:
        recap = ops.deploy(target, ops.order(target.env), concurrency=2, continue_on_error=True,
                           cache_dir=tmp_path / "cache")
        result = {o.name: o for o in recap.outcomes}
        assert states(recap) == {"cert-manager": "changed", "metallb": "failed", "cluster-issuer": "changed",
                                 "metallb-config": "skipped", "harbor": "changed", "jenkins": "skipped"}
        assert "'metallb'" in result["metallb"].detail and "not ready" in result["metallb"].detail
        assert "metallb-controller" in result["metallb"].detail
        assert "invoke libraries.status --env local" in result["metallb"].detail
        assert "(helm: resource Deployment/metallb-system/metallb-controller not ready" in result["metallb"].detail
        assert result["metallb-config"].detail == "needs metallb, which failed"
        assert result["jenkins"].detail == "needs metallb-config, which was skipped"
        assert all(o.seconds >= 0 for o in recap.outcomes)
        assert target.helm.status("jenkins", namespace="jenkins") is None

        # without --continue-on-error nothing new starts after the failure; every release still gets a line
        stopped = ops.deploy(target, ops.order(target.env), concurrency=1, cache_dir=tmp_path / "cache")
        assert stopped.failed and stopped.failed[0].name == "metallb"
        assert {o.name for o in stopped.outcomes} == {"cert-manager", "metallb", "cluster-issuer", "metallb-config",
                                                      "harbor", "jenkins"}
        skipped = {o.name: o.detail for o in stopped.outcomes if o.state == "skipped"}
        assert "metallb-config" in skipped and any("earlier release failed" in d for d in skipped.values())


def test_only_with_needs_outside_the_selection_skips_when_they_are_not_deployed(lib_target: Target,
                                                                               tmp_path: Path) -> None:
    recap = ops.deploy(lib_target, ops.order(lib_target.env, only=["jenkins"]), cache_dir=tmp_path / "cache")
    (outcome,) = recap.outcomes
    assert outcome.state == "skipped"
    assert outcome.detail.startswith("needs cluster-issuer, metallb-config, not deployed and not selected")
    tier1 = ops.deploy(lib_target, ops.order(lib_target.env, tier=1), concurrency=4, cache_dir=tmp_path / "cache")
    assert set(states(tier1).values()) == {"changed"}
    again = ops.deploy(lib_target, ops.order(lib_target.env, only=["jenkins"]), cache_dir=tmp_path / "cache")
    assert states(again) == {"jenkins": "changed"}


def test_crd_user_without_need_on_its_provider_is_refused_before_anything_runs(tmp_path: Path, kubeconfig: Path,
                                                                                repo: ChartRepository) -> None:
    envs = make_env(tmp_path, kubeconfig, repo.url, {"cluster-issuer": {"needs": []}})
    with connect(load_environment("local", envs)) as target:
        with pytest.raises(ops.dagmod.DagError) as err:
            ops.deploy(target, ops.order(target.env), cache_dir=tmp_path / "cache")
        assert "release 'cluster-issuer' creates ClusterIssuer (cert-manager.io) whose CRD release 'cert-manager'" \
               " installs, but does not need it" in str(err.value)
        assert target.helm.list(all_namespaces=True) == []
        with pytest.raises(ops.dagmod.DagError):  # the plan says so too
            ops.plan(target, ops.order(target.env), cache_dir=tmp_path / "cache")


# --- through the real CLI ------------------------------------------------------------------------------------


def run(args: list[str], envs: Path, tmp_path: Path) -> Any:
    import os

    before = os.environ.get("PRJDEVOPS_CHART_CACHE")
    os.environ["PRJDEVOPS_CHART_CACHE"] = str(tmp_path / "cli-cache")  # the subprocess inherits it
    try:
        return invoke(args, envs, timeout=120)
    finally:
        if before is None:
            del os.environ["PRJDEVOPS_CHART_CACHE"]
        else:
            os.environ["PRJDEVOPS_CHART_CACHE"] = before


def test_cli_plan_deploy_status_delete(tmp_path: Path, kubeconfig: Path, repo: ChartRepository) -> None:
    envs = make_env(tmp_path, kubeconfig, repo.url, {"harbor": {"enabled": False}, "argo-cd": {"enabled": False}})
    plan = run(["libraries.plan", "--env", "local"], envs, tmp_path)
    assert plan.returncode == 2, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == "group 1:" and lines[1].split()[:2] == ["cert-manager", "cert-manager"]
    assert "install cert-manager@v1.16.2" in lines[1]
    assert any(line.startswith("group 3:") for line in lines)
    assert any("jenkins" in line and "[after cluster-issuer, metallb-config]" in line for line in lines)
    # summary first: a first install is counted per kind (jenkins' StatefulSet), its diff only with --diff full
    assert re.search(r"^\s+StatefulSet\s+1\s", plan.stdout, re.M), plan.stdout
    assert "+kind: StatefulSet" not in plan.stdout
    full = run(["libraries.plan", "--env", "local", "--only", "jenkins", "--diff", "full"], envs, tmp_path)
    assert full.returncode == 2 and "+kind: StatefulSet" in full.stdout, full.stdout[-2000:] + full.stderr

    deploy = run(["libraries.deploy", "--env", "local", "--concurrency", "2", "--json"], envs, tmp_path)
    assert deploy.returncode == 0, deploy.stderr + deploy.stdout
    recap = json.loads(deploy.stdout[deploy.stdout.index("{\n"):])
    assert recap["counts"] == {"ok": 0, "changed": 5, "failed": 0, "skipped": 0}

    assert run(["libraries.plan", "--env", "local"], envs, tmp_path).returncode == 0
    status = run(["libraries.status", "--env", "local"], envs, tmp_path)
    assert status.returncode == 0, status.stderr
    table = status.stdout.splitlines()
    assert table[0].split() == ["RELEASE", "NAMESPACE", "TIER", "CHART", "REVISION", "STATUS", "READY"]
    row = next(line.split() for line in table if line.startswith("jenkins "))
    assert row == ["jenkins", "jenkins", "2", "jenkins@5.7.21", "1", "deployed", "1/1"]
    assert any(line.split()[:1] == ["harbor"] and "disabled" in line for line in table)
    as_json = json.loads(run(["libraries.status", "--env", "local", "--json"], envs, tmp_path).stdout)
    assert {r["name"]: r["healthy"] for r in as_json}["cert-manager"] is True

    refused = run(["libraries.delete", "--env", "local"], envs, tmp_path)  # no TTY, no --yes
    assert refused.returncode == 1
    # local asks for no confirmation, but a delete asks everywhere: the refusal says so
    assert "needs confirmation in every environment and there is no terminal" in refused.stderr
    deleted = run(["libraries.delete", "--env", "local", "--yes"], envs, tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert "recap: ok=0 changed=5 failed=0 skipped=0" in deleted.stdout


def test_cli_unreachable_repository_names_url_and_release(tmp_path: Path, kubeconfig: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    envs = make_env(tmp_path, kubeconfig, dead)
    proc = run(["libraries.deploy", "--env", "local", "--tier", "1"], envs, tmp_path)
    assert proc.returncode == 1
    assert f"release 'cert-manager': cannot pull chart 'cert-manager' version v1.16.2 from {dead}" in proc.stdout
    assert "connection refused" in proc.stdout
    assert "error: 2 release(s) failed: cert-manager, metallb" in proc.stderr
    # nothing ran: the in-repo charts were not installed either
    assert "not started: a chart could not be prepared" in proc.stdout


def test_cli_cycle_is_spelled_out_before_anything_runs(tmp_path: Path, kubeconfig: Path,
                                                       repo: ChartRepository) -> None:
    envs = make_env(tmp_path, kubeconfig, repo.url, {"cert-manager": {"needs": ["cluster-issuer"]}})
    asked = len(repo.requests)
    proc = run(["libraries.deploy", "--env", "local"], envs, tmp_path)
    assert proc.returncode == 1
    assert "dependency cycle: cert-manager -> cluster-issuer -> cert-manager" in proc.stderr
    assert proc.stdout == ""
    assert len(repo.requests) == asked  # not even a chart was pulled


def test_standins_environment_serves_its_own_repository_on_demand(tmp_path: Path, kubeconfig: Path) -> None:
    import socket

    from prjdevops.chartrepo import answers

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    envs = make_env(tmp_path, kubeconfig, url)
    doc = yaml.safe_load((envs / "local.yaml").read_text())
    doc["libraries"]["standins"] = True
    (envs / "local.yaml").write_text(yaml.safe_dump(doc))

    dry = run(["libraries.deploy", "--env", "local", "--tier", "1", "--dry-run"], envs, tmp_path)
    assert dry.returncode == 2, dry.stderr  # a dry run with changes exits 2, like every plan
    assert dry.stdout.splitlines()[0] == f"serving the stand-in chart repository at {url} for this run"
    assert "install metallb@0.14.9" in dry.stdout and dry.stdout.rstrip().endswith("dry run: nothing applied")
    assert not answers(url)  # stopped with the command

    lines: list[str] = []
    with connect(load_environment("local", envs)) as target, ops.chart_sources(target.env, lines.append,
                                                                                 workdir=tmp_path / "served"):
        assert answers(url)
        recap = ops.deploy(target, ops.order(target.env, only=["metallb"]), cache_dir=tmp_path / "cache")
        assert states(recap) == {"metallb": "changed"}
        assert target.helm.list(all_namespaces=True)[0].name == "metallb"
    assert lines == [f"serving the stand-in chart repository at {url} for this run"]
    assert not answers(url)
    assert not (tmp_path / "served").exists()  # built for the run, removed with it


def test_cli_deploy_applies_the_environment_guards(tmp_path: Path, kubeconfig: Path, repo: ChartRepository) -> None:
    envs = make_env(tmp_path, kubeconfig, repo.url)
    doc = yaml.safe_load((envs / "local.yaml").read_text())
    doc["guards"] = {"confirm": True, "lock": True}
    (envs / "local.yaml").write_text(yaml.safe_dump(doc))
    refused = run(["libraries.deploy", "--env", "local", "--only", "metallb"], envs, tmp_path)
    assert refused.returncode == 1
    assert "environment 'local' needs confirmation and there is no terminal to ask" in refused.stderr
    assert "installing" not in refused.stdout
    done = run(["libraries.deploy", "--env", "local", "--only", "metallb", "--yes"], envs, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "recap: ok=0 changed=1 failed=0 skipped=0" in done.stdout

    doc["guards"] = {"context_pattern": "^prod"}  # the sandbox context is not a production one
    (envs / "local.yaml").write_text(yaml.safe_dump(doc))
    wrong = run(["libraries.deploy", "--env", "local", "--only", "metallb", "--yes"], envs, tmp_path)
    assert wrong.returncode == 1 and "does not match the required pattern '^prod'" in wrong.stderr


def test_plan_and_deploy_never_show_a_library_secret(tmp_path: Path, kubeconfig: Path, repo: ChartRepository,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARBOR_ADMIN_PW", "s3cr3t-Harbor-pw")
    envs = make_env(tmp_path, kubeconfig, repo.url, {
        "harbor": {"needs": [], "secrets": [{"path": "adminPassword", "env": "HARBOR_ADMIN_PW"}]}})
    with connect(load_environment("local", envs)) as target:
        selection = ops.order(target.env, only=["harbor"])
        planned = ops.plan(target, selection, cache_dir=tmp_path / "cache")
        text = "\n".join([*planned.lines(), *(d.diff for d in planned.releases["harbor"].diffs)])
        assert "Secret/harbor-core-envvars" in text and "s3cr3t-Harbor-pw" not in text
        lines: list[str] = []
        recap = ops.deploy(target, selection, cache_dir=tmp_path / "cache", report=lines.append)
        assert states(recap) == {"harbor": "changed"}
        assert "s3cr3t-Harbor-pw" not in "\n".join([*lines, *recap.lines()])
        # it did reach the cluster, as a Secret
        secret = target.kube.core().read_namespaced_secret("harbor-core-envvars", "harbor")
        assert base64.b64decode(secret.data["HARBOR_ADMIN_PASSWORD"]).decode() == "s3cr3t-Harbor-pw"
