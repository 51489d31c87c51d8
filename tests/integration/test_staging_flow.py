"""The staging flow end to end: real Helm v4 + the official client against the sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from prjdevops.errors import HealthCheckFailed, ValuesError
from prjdevops.ops import release as ops
from tests.integration.conftest import invoke, write_env

pytestmark = pytest.mark.integration


def test_deploy_waits_and_summarises(target: Any) -> None:
    lines: list[str] = []
    prep = ops.prepare(target.env, "plate-web")
    result = ops.deploy(target, prep, report=lines.append, timeout=30)
    assert result.revision == 1
    assert result.status == "deployed"
    assert result.images == ["registry.example.internal/platform/plate-web:latest"]
    assert result.hosts == ["plate-web.stg.example.internal"]
    assert result.health is not None and result.health.healthy
    assert any("pods ready" in line for line in lines), lines
    history = target.helm.history("plate-web", namespace="plate-web")
    assert [h.revision for h in history] == [1]


def test_redeploy_with_set_creates_revision_and_diff_is_empty_after(target: Any) -> None:
    ops.deploy(target, ops.prepare(target.env, "plate-web"), timeout=30)
    prep = ops.prepare(target.env, "plate-web", sets=["image.tag=1.4.3"])
    diffs = ops.diff(target, prep)
    changed = {d.key[0] for d in diffs if d.action == "change"}
    # the chart labels every object with the image tag as app.kubernetes.io/version, so all of them change
    assert {"ConfigMap", "Deployment", "Service"} <= changed
    assert all(d.action == "change" for d in diffs)
    assert "+        image: registry.example.internal/platform/plate-web:1.4.3" in \
        next(d.diff for d in diffs if d.key[0] == "Deployment")
    result = ops.deploy(target, prep, timeout=30)
    assert result.revision == 2
    assert result.images == ["registry.example.internal/platform/plate-web:1.4.3"]
    assert ops.diff(target, prep) == []


def test_status_lists_pods_services_ingresses(target: Any) -> None:
    st = ops.status(target, "plate-web")
    assert st.info is None and st.pods == []
    ops.deploy(target, ops.prepare(target.env, "plate-web"), timeout=30)
    st = ops.status(target, "plate-web")
    assert st.info is not None and st.info.revision == 1 and st.info.chart == "plate-web"
    assert len(st.pods) == 1 and st.pods[0]["ready"] is True
    assert [s["name"] for s in st.services] == ["plate-web"]
    assert st.ingresses[0]["hosts"] == ["plate-web.stg.example.internal"]
    assert json.loads(json.dumps(st.to_json()))["helm"]["revision"] == 1


def test_delete_is_idempotent(target: Any) -> None:
    ops.deploy(target, ops.prepare(target.env, "plate-web"), timeout=30)
    lines: list[str] = []
    assert ops.delete(target, "plate-web", report=lines.append) is True
    assert ops.delete(target, "plate-web", report=lines.append) is False
    assert "nothing to delete" in lines[-1]
    assert target.helm.history("plate-web", namespace="plate-web") == []


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_never_ready_pods_fail_with_pod_names(target: Any, sandbox: Any) -> None:
    from kubesandbox import Fault

    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web", name_prefix="plate-web"))
    prep = ops.prepare(target.env, "plate-web")
    with pytest.raises(HealthCheckFailed) as err:
        ops.deploy(target, prep, timeout=3)
    message = str(err.value)
    assert "did not become ready within 3s" in message
    assert "plate-web-" in message  # the stuck pod is named
    assert "not ready" in message


def test_wrong_type_in_values_file_names_file_and_key(target: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('replicaCount: "three"\n')
    with pytest.raises(ValuesError) as err:
        ops.prepare(target.env, "plate-web", values_files=[bad])
    assert f"replicaCount (set in {bad})" in str(err.value)
    assert "want integer" in str(err.value)


def test_secret_values_never_printed(target: Any, env_dir: Path, kubeconfig: Path, monkeypatch: Any) -> None:
    secret = "s3cr3t-Pa55word-xyz"
    monkeypatch.setenv("PLATE_WEB_DB_PASSWORD", secret)
    write_env(env_dir, "withsecret", kubeconfig, releases=[{
        "name": "plate-web", "chart": str(Path(__file__).resolve().parents[2] / "helm/applications/plate-web"),
        "namespace": "plate-web", "values": ["values-stg.yaml"], "timeout": 30,
        "secrets": [{"path": "secrets.DATABASE_PASSWORD", "env": "PLATE_WEB_DB_PASSWORD"}]}])
    deploy = invoke(["stg.deploy", "--env", "withsecret"], env_dir)
    assert deploy.returncode == 0, deploy.stderr
    monkeypatch.setenv("PLATE_WEB_DB_PASSWORD", secret + "-rotated")
    diff = invoke(["stg.diff", "--env", "withsecret"], env_dir)
    assert diff.returncode == 2, diff.stderr
    assert "Secret/plate-web" in diff.stdout and "(changed)" in diff.stdout
    status = invoke(["stg.status", "--env", "withsecret", "--json"], env_dir)
    import base64

    for out in (deploy, diff, status):
        text = out.stdout + out.stderr
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text


def test_cli_deploy_status_diff_delete(env_dir: Path) -> None:
    first = invoke(["stg.deploy", "--env", "itest"], env_dir)
    assert first.returncode == 0, first.stderr
    assert "revision   1 (deployed)" in first.stdout
    assert "pods ready" in first.stdout
    same = invoke(["stg.diff", "--env", "itest"], env_dir)
    assert same.returncode == 0 and "no changes" in same.stdout
    changed = invoke(["stg.diff", "--env", "itest", "--set", "replicaCount=2"], env_dir)
    assert changed.returncode == 2
    # summary first: objects per kind, the changed fields, then the object's diff
    assert "  Deployment  -    1       -" in changed.stdout
    assert "  ~ Deployment/plate-web (ns plate-web)" in changed.stdout
    assert "      spec.replicas: 1 → 2" in changed.stdout
    bad = invoke(["stg.diff", "--env", "itest", "--diff", "all"], env_dir)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --diff takes 'full' (or 'capped', the default), " \
        "not 'all'"
    dry = invoke(["stg.deploy", "--env", "itest", "--set", "replicaCount=2", "--dry-run"], env_dir)
    assert dry.returncode == 2 and "nothing applied" in dry.stdout  # changes: 2, like stg.diff
    status = invoke(["stg.status", "--env", "itest"], env_dir)
    assert status.returncode == 0
    assert "RELEASE" in status.stdout and "POD" in status.stdout and "plate-web" in status.stdout
    helm = json.loads(invoke(["stg.status", "--env", "itest", "--json"], env_dir).stdout)["helm"]
    assert helm["revision"] == 1
    # the revision says who deployed it, in which run, and what it changed (helm history shows the same)
    assert re.fullmatch(r"prjdevops deploy by \S+@\S+, run \d{8}T\d{6}Z-[0-9a-f]{6}: \d+ added", helm["description"]), \
        helm["description"]
    gone = invoke(["stg.delete", "--env", "itest"], env_dir)
    assert gone.returncode == 0 and "uninstalled" in gone.stdout
    again = invoke(["stg.delete", "--env", "itest"], env_dir)
    assert again.returncode == 0 and "nothing to delete" in again.stdout
    empty = invoke(["stg.status", "--env", "itest"], env_dir)
    assert empty.returncode == 0 and "not deployed" in empty.stdout


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_cli_timeout_exits_nonzero_naming_stuck_pods(env_dir: Path, sandbox: Any) -> None:
    from kubesandbox import Fault

    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web", name_prefix="plate-web"))
    out = invoke(["stg.deploy", "--env", "itest", "--timeout", "3"], env_dir)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error: release 'plate-web' did not become ready within 3s")
    assert "plate-web-" in out.stderr


def test_unreachable_cluster_is_one_clear_line(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {}}]}))
    env_dir = tmp_path / "environments"
    write_env(env_dir, "dead", kc)
    out = invoke(["stg.status", "--env", "dead"], env_dir)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    # the retries show as they happen (on stderr: a status's stdout is its answer), then one error line
    *retries, error = out.stderr.strip().splitlines()
    assert error.startswith("error: ") and "connection refused" in error.lower(), out.stderr
    assert all("Kubernetes API at http://127.0.0.1:9: no answer (connection refused) to GET" in line
               and "; trying again in " in line for line in retries), retries
    assert retries, "the wait was silent"


def test_chained_tasks_both_run(env_dir: Path) -> None:
    """`invoke stg.x prod.x` runs both (tasks.dedupe is off), each against the environment it is given."""
    deployed = invoke(["stg.deploy", "--env", "itest", "prod.status", "--env", "itest"], env_dir)
    assert deployed.returncode == 0, deployed.stderr
    assert "revision   1 (deployed)" in deployed.stdout  # stg.deploy ran
    assert "REVISION  UPDATED" in deployed.stdout  # prod.status ran (it adds the history table)


def test_a_release_applied_from_another_program_is_upgraded_after_handing_its_fields_over(
        env_dir: Path, target: Any) -> None:
    """Helm names its server-side-apply field manager after the program (argv[0]): a first deploy run as
    `python -m invoke` ("python"), then `invoke` ("python3") upgrades. On kube-apiserver that conflicts on every
    changed field; the tool hands the earlier Helm run's fields over to its own manager and applies again, once."""
    import os
    import subprocess
    import sys

    from tests.integration.conftest import REPO

    python = str(Path(sys.executable).parent / "python")  # the venv's `python` (invoke's shebang says python3)
    first = subprocess.run([python, "-m", "invoke", "stg.deploy", "--env", "itest", "--set", "image.tag=1.4.2"],
                           cwd=REPO, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PRJDEVOPS_ENVIRONMENTS=str(env_dir)), check=False)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    out = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=1.4.3"], env_dir)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert "held fields applied by an earlier Helm run as python " in out.stdout, out.stdout
    # Helm recorded the conflicting attempt as failed (its truth, kept); the second apply is the deployed one
    assert [h.status for h in target.helm.history("plate-web", namespace="plate-web")] == \
        ["superseded", "failed", "deployed"]
    assert "revision   3 (deployed)" in out.stdout
    again = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=1.4.4"], env_dir)  # now its own fields
    assert again.returncode == 0 and "earlier Helm run" not in again.stdout, again.stdout[-2000:] + again.stderr
