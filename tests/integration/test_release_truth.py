"""Deciding from Helm's truth, with the realistic stand-ins (hooks, test hooks, lookup-guarded and random Secrets,
`---{{- if` boundaries, bitnami's PASSWORDS ERROR) and with releases left failed, pending or interrupted.

Real Helm v4 and the official client against the sandbox; users' commands through the real `invoke` CLI.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.chartrepo import ChartRepository
from prjdevops.environments import load_environment
from prjdevops.errors import HealthCheckFailed
from prjdevops.ops import plan as planmod
from prjdevops.ops import production, release
from tests.integration.conftest import REPO, invoke, write_env
from tests.integration.test_libraries import make_env, run
from tests.integration.test_production_flow import APP_RELEASE, YES, prepare, prod_env

# The stand-in library charts carry StatefulSets with volumeClaimTemplates and LoadBalancer Services, as their
# upstreams do: the real control plane has no volume provisioner and no address pool (kwok), so their releases
# never become ready there (README: Real control plane). These tests run on the sandbox, which plays both.
pytestmark = pytest.mark.sandbox_only(reason="library stand-ins need a volume provisioner and a LoadBalancer "
                                      "pool, which the real control plane lacks")


pytestmark = [pytestmark, pytest.mark.integration]


def _secret(target: Any, name: str, ns: str, key: str) -> str:
    data = target.kube.core().read_namespaced_secret(name, ns).data
    return base64.b64decode(data[key]).decode()


# --- after a deploy, a second plan is unchanged (exit 0) -----------------------------------------------------------


def test_plan_after_deploy_is_unchanged_with_hooks_tests_lookup_and_random_defaults(
        tmp_path: Path, kubeconfig: Path, repo: ChartRepository) -> None:
    """cert-manager: a post-install hook Job with RBAC hooks and the `---# Permission` boundary; jenkins: a test
    Pod and ConfigMap, an admin password defaulted with randAlphaNum unless lookup finds the live one, a PVC
    template; argo-cd: a pre-install hook Job left in the cluster. Each settles: the second plan is unchanged."""
    envs = make_env(tmp_path, kubeconfig, repo.url, {"jenkins": {"needs": []}, "argo-cd": {"needs": []}})
    only = "cert-manager,jenkins,argo-cd"
    first = run(["libraries.plan", "--env", "local", "--only", only], envs, tmp_path)
    assert first.returncode == 2, first.stderr
    # hooks and test hooks are listed apart, never as objects of the diff
    assert "hook    Job/templates/startupapicheck.yaml on post-install,post-upgrade" in first.stdout
    assert "test    Pod/templates/tests/test.yaml on test-success" in first.stdout
    assert "add     Job/cert-manager-startupapicheck" not in first.stdout
    deployed = run(["libraries.deploy", "--env", "local", "--only", only], envs, tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "recap: ok=0 changed=3 failed=0 skipped=0" in deployed.stdout

    with release.connect(load_environment("local", envs)) as target:
        password = _secret(target, "jenkins", "jenkins", "jenkins-admin-password")
        assert len(password) == 22
        # the hook Job ran (and was deleted on success), argo-cd's stays: neither is part of Helm's manifest
        jobs = target.kube.batch().list_namespaced_job("argocd").items
        assert [j.metadata.name for j in jobs] == ["argocd-redis-secret-init"]
        manifest = target.helm.status("argo-cd", namespace="argocd").manifest
        assert "argocd-redis-secret-init" not in manifest

    again = run(["libraries.plan", "--env", "local", "--only", only], envs, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("unchanged (") == 3, again.stdout
    redeploy = run(["libraries.deploy", "--env", "local", "--only", only], envs, tmp_path)
    assert redeploy.returncode == 0 and "recap: ok=3 changed=0" in redeploy.stdout, redeploy.stdout
    with release.connect(load_environment("local", envs)) as target:
        for name, ns in (("cert-manager", "cert-manager"), ("jenkins", "jenkins"), ("argo-cd", "argocd")):
            assert [h.revision for h in target.helm.history(name, namespace=ns)] == [1], name
        assert _secret(target, "jenkins", "jenkins", "jenkins-admin-password") == password


def test_harbor_plans_and_upgrades_without_passwords_error(tmp_path: Path, kubeconfig: Path,
                                                            repo: ChartRepository) -> None:
    """Bitnami-style passwords: an offline render of an upgrade fails with PASSWORDS ERROR; the plan renders
    through Helm's server-side dry run, where lookup finds the live Secrets."""
    envs = make_env(tmp_path, kubeconfig, repo.url, {"harbor": {"needs": []}})
    assert run(["libraries.deploy", "--env", "local", "--only", "harbor"], envs, tmp_path).returncode == 0
    plan = run(["libraries.plan", "--env", "local", "--only", "harbor"], envs, tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "PASSWORDS ERROR" not in plan.stdout + plan.stderr and "unchanged (harbor@24.1.2)" in plan.stdout
    with release.connect(load_environment("local", envs)) as target:
        admin = _secret(target, "harbor-core-envvars", "harbor", "HARBOR_ADMIN_PASSWORD")
        db = _secret(target, "harbor-postgresql", "harbor", "postgres-password")
        pvc = target.kube.core().read_namespaced_persistent_volume_claim("data-harbor-postgresql-0", "harbor")
        assert pvc.spec.resources.requests["storage"] == "8Gi"
        svc = target.kube.core().read_namespaced_service("harbor", "harbor")
        assert svc.spec.type == "LoadBalancer"

    doc = yaml.safe_load((envs / "local.yaml").read_text())
    doc["libraries"]["releases"]["harbor"]["set"] = ["core.replicaCount=2"]
    (envs / "local.yaml").write_text(yaml.safe_dump(doc))
    changed = run(["libraries.plan", "--env", "local", "--only", "harbor"], envs, tmp_path)
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "PASSWORDS ERROR" not in changed.stdout + changed.stderr
    assert "Deployment/harbor-core" in changed.stdout and "Secret/harbor-core-envvars" not in changed.stdout
    upgraded = run(["libraries.deploy", "--env", "local", "--only", "harbor"], envs, tmp_path)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    with release.connect(load_environment("local", envs)) as target:
        assert target.helm.status("harbor", namespace="harbor").revision == 2
        assert _secret(target, "harbor-core-envvars", "harbor", "HARBOR_ADMIN_PASSWORD") == admin
        assert _secret(target, "harbor-postgresql", "harbor", "postgres-password") == db


# --- failed, pending and interrupted releases are never "unchanged" -------------------------------------------------


def _never_ready(sandbox: Any, tag: str) -> None:
    from kubesandbox import Fault

    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector=f"app.kubernetes.io/version={tag}"))


@pytest.mark.sandbox_only(reason="makes a release fail with the sandbox's never_ready fault")
def test_failed_release_rerun_with_the_same_values_deploys_again(env_dir: Path, sandbox: Any) -> None:
    """A deploy that timed out leaves revision 2 failed; the same command again must not say "nothing to do"
    (the objects equal the failed revision's): it deploys again and ends deployed and healthy."""
    first = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=1.4.2"], env_dir)
    assert first.returncode == 0, first.stderr
    _never_ready(sandbox, "9.9.9")
    failed = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=9.9.9", "--timeout", "3"], env_dir)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    diff = invoke(["stg.diff", "--env", "itest", "--set", "image.tag=9.9.9"], env_dir)
    assert diff.returncode == 2, diff.stdout + diff.stderr
    assert "last revision 2 is failed: deploy again" in diff.stdout
    dry = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=9.9.9", "--dry-run"], env_dir)
    assert dry.returncode == 2 and "nothing applied" in dry.stdout
    sandbox.faults.clear()
    again = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=9.9.9"], env_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "revision   3 (deployed)" in again.stdout
    # and now it has settled: no new revision, exit 0
    settled = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=9.9.9"], env_dir)
    assert settled.returncode == 0 and "no changes" in settled.stdout, settled.stdout
    assert invoke(["stg.diff", "--env", "itest", "--set", "image.tag=9.9.9"], env_dir).returncode == 0
    with release.connect(load_environment("itest", env_dir)) as target:
        assert [h.status for h in target.helm.history("plate-web", namespace="plate-web")] == \
            ["superseded", "failed", "deployed"]
        assert production.health_now(target, release.prepare(target.env, "plate-web")).healthy


def _first_deploy_by_the_cli(env_dir: Path) -> None:
    """The first revision deployed by the same program as the run the test then kills (`invoke`): Helm names its
    field manager after the program, and a first revision applied by this test process ("python") would make the
    killed run hand fields over first (prjdevops/fieldowners.py), racing the kill."""
    first = invoke(["prod.deploy", "--env", "prodlike", "--yes"], env_dir)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr


def _upgrade_until_pending(env_dir: Path, target: Any, tag: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "invoke"), "prod.deploy", "--env", "prodlike", "--yes",
         "--set", f"image.tag={tag}"], cwd=REPO, env=dict(os.environ, PRJDEVOPS_ENVIRONMENTS=str(env_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = target.helm.status("plate-web", namespace="plate-web")
        if info is not None and info.status == "pending-upgrade":
            return proc
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the upgrade never reached pending-upgrade")


@pytest.mark.sandbox_only(reason="makes a release fail with the sandbox's never_ready fault")
def test_interrupted_release_rerun_with_the_same_values_deploys_again(env_dir: Path, kubeconfig: Path,
                                                                      sandbox: Any) -> None:
    env = prod_env(env_dir, kubeconfig, sandbox, health_timeout=60)
    with release.connect(env) as target:
        _first_deploy_by_the_cli(env_dir)
        _never_ready(sandbox, "2.0.0")
        proc = _upgrade_until_pending(env_dir, target, "2.0.0")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        sandbox.faults.clear()
        plan = planmod.plan_release(target, prepare(target, "image.tag=2.0.0"))
        assert plan.live is not None and plan.live.status == "failed"
        assert plan.changes and plan.action.reason == "last revision 2 is failed: deploy again"
        out = production.guarded_deploy(target, prepare(target, "image.tag=2.0.0"), io=YES)
        assert out.action == "deployed" and out.revision == 3
        assert target.helm.status("plate-web", namespace="plate-web").status == "deployed"
        assert production.health_now(target, prepare(target)).healthy


@pytest.mark.sandbox_only(reason="makes a release fail with the sandbox's never_ready fault")
def test_pending_release_is_recovered_and_redeployed(env_dir: Path, kubeconfig: Path, sandbox: Any) -> None:
    """A run killed outright (no Ctrl-C handling) leaves pending-upgrade: the plan says so, the deploy refuses
    without --recover, and with it rolls back, deploys and ends deployed and healthy."""
    env = prod_env(env_dir, kubeconfig, sandbox, health_timeout=60, lock=False)
    with release.connect(env) as target:
        _first_deploy_by_the_cli(env_dir)
        _never_ready(sandbox, "2.0.0")
        proc = _upgrade_until_pending(env_dir, target, "2.0.0")
        proc.kill()
        out, err = proc.communicate(timeout=30)
        sandbox.faults.clear()
        stuck = target.helm.status("plate-web", namespace="plate-web")
        assert stuck.status == "pending-upgrade", out + err
    # (revision 2, or 3 when the killed run had first met the fields of the test process's own Helm run and
    # handed them over: prjdevops/fieldowners.py)
    diff = invoke(["prod.diff", "--env", "prodlike", "--set", "image.tag=2.0.0"], env_dir)
    assert diff.returncode == 2 and f"last revision {stuck.revision} is pending-upgrade" in diff.stdout, \
        diff.stdout + diff.stderr
    refused = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--set", "image.tag=2.0.0"], env_dir)
    assert refused.returncode == 1 and "--recover" in refused.stderr
    done = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--recover", "--set", "image.tag=2.0.0"], env_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    with release.connect(env) as target:
        history = target.helm.history("plate-web", namespace="plate-web")
        # after the stuck revision: the recovery rollback, then the deploy
        assert history[-1].status == "deployed" and history[-1].revision == stuck.revision + 2
        assert production.health_now(target, prepare(target)).healthy


@pytest.mark.sandbox_only(reason="makes a release fail with the sandbox's never_ready fault")
def test_automatic_rollback_skips_a_failed_revision(env_dir: Path, kubeconfig: Path, sandbox: Any) -> None:
    """r1 deployed healthy, r2 failed (a deploy outside the guarded flow timed out): a failing guarded deploy
    rolls back to r1, the newest revision deployed healthy, never to the failed r2."""
    env = prod_env(env_dir, kubeconfig, sandbox, confirm=False)  # only a failed rollback target asks
    with release.connect(env) as target:
        production.guarded_deploy(target, prepare(target), io=YES)
        _never_ready(sandbox, "9.9.9")
        with pytest.raises(HealthCheckFailed):
            release.deploy(target, prepare(target, "image.tag=9.9.9"), timeout=3)
        assert target.helm.status("plate-web", namespace="plate-web").status == "failed"
        _never_ready(sandbox, "8.8.8")
        lines: list[str] = []
        with pytest.raises(HealthCheckFailed) as err:
            production.guarded_deploy(target, prepare(target, "image.tag=8.8.8"), io=YES, report=lines.append,
                                      timeout=4)
        assert "rolled back to revision 1, the newest deployed healthy" in str(err.value)
        history = target.helm.history("plate-web", namespace="plate-web")
        assert [h.status for h in history] == ["superseded", "failed", "failed", "deployed"]
        assert "plate-web:1.4.2" in target.helm.status("plate-web", namespace="plate-web").manifest
    # an explicit failed revision needs a confirmation even where the environment asks for none
    refused = invoke(["prod.rollback", "--env", "prodlike", "--revision", "3"], env_dir)
    assert refused.returncode == 1 and "needs confirmation" in refused.stderr, refused.stdout + refused.stderr
    assert "warning: revision 3 is failed" in refused.stdout
    # prod.rollback without --revision picks by the same rule as the automatic rollback: r1, not a failed one
    back = invoke(["prod.rollback", "--env", "prodlike"], env_dir)
    assert back.returncode == 0, back.stdout + back.stderr
    # (the revision number after it depends on whether the rollback first had to hand fields over: see fieldowners)
    assert "(= revision 1), healthy" in back.stdout and re.search(r"now revision \d+ \(deployed\)", back.stdout), \
        back.stdout


# --- values typos --------------------------------------------------------------------------------------------------


def test_a_values_typo_is_refused_before_anything_changes(env_dir: Path, kubeconfig: Path) -> None:
    typo = invoke(["stg.deploy", "--env", "itest", "--set", "replicaCont=3"], env_dir)
    assert typo.returncode == 1 and "Traceback" not in typo.stderr
    assert "replicaCont (set in --set replicaCont): did you mean replicaCount?" in typo.stderr
    with release.connect(load_environment("itest", env_dir)) as target:
        assert target.helm.history("plate-web", namespace="plate-web") == []
    bad_file = env_dir.parent / "extra.yaml"
    bad_file.write_text("image:\n  tagg: 1.2.3\n")
    refused = invoke(["stg.diff", "--env", "itest", "--values", str(bad_file)], env_dir)
    assert refused.returncode == 1 and f"image.tagg (set in {bad_file}): did you mean image.tag?" in refused.stderr
    allowed = invoke(["stg.deploy", "--env", "itest", "--set", "replicaCont=3", "--allow-unknown-values"], env_dir)
    assert allowed.returncode == 0, allowed.stderr


def test_stg_deploy_with_nothing_changed_makes_no_revision(env_dir: Path) -> None:
    assert invoke(["stg.deploy", "--env", "itest"], env_dir).returncode == 0
    again = invoke(["stg.deploy", "--env", "itest"], env_dir)
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout
    changed = invoke(["stg.deploy", "--env", "itest", "--set", "replicaCount=2", "--dry-run"], env_dir)
    assert changed.returncode == 2 and "Deployment/plate-web" in changed.stdout
    with release.connect(load_environment("itest", env_dir)) as target:
        assert [h.revision for h in target.helm.history("plate-web", namespace="plate-web")] == [1]


__all__ = ["APP_RELEASE", "write_env"]
