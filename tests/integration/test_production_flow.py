"""Production guards and failure paths against the sandbox with real Helm v4."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prjdevops import backup as backups
from prjdevops.environments import load_environment
from prjdevops.errors import ConfigError, GuardRefused, HealthCheckFailed
from prjdevops.ops import production, release
from prjdevops.ops.lock import LEASE_NAMESPACE, lease_name
from tests.integration.conftest import CHART, REPO, invoke, write_env

pytestmark = pytest.mark.integration

APP_RELEASE = {"name": "plate-web", "chart": str(CHART), "namespace": "plate-web",
               "values": ["values-prod.yaml"], "timeout": 30}
YES = production.Interaction(yes=True)


def prod_env(env_dir: Path, kubeconfig: Path, cluster: Any, name: str = "prodlike", **guards: Any) -> Any:
    """A production-like environment on the test's cluster: every guard on, matched to that cluster."""
    g = {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True, "forbid_latest_tag": True,
         "lock": True, "health_timeout": 20, "rollback_timeout": 20, **guards}
    write_env(env_dir, name, kubeconfig, cluster={"kubeconfig": str(kubeconfig), "context": "sandbox",
                                                  "api_server": cluster.url},
              guards=g, backup={"enabled": True, "dir": str(env_dir.parent / "backups"), "keep": 3},
              releases=[APP_RELEASE])
    return load_environment(name, env_dir)


@pytest.fixture
def prod(env_dir: Path, kubeconfig: Path, cluster: Any) -> Any:
    env = prod_env(env_dir, kubeconfig, cluster)
    with release.connect(env) as target:
        yield target


def prepare(target: Any, *sets: str) -> release.Prepared:
    return release.prepare(target.env, "plate-web", sets=list(sets))


def test_first_deploy_then_upgrade_takes_backup(prod: Any) -> None:
    lines: list[str] = []
    out = production.guarded_deploy(prod, prepare(prod), io=YES, report=lines.append)
    assert out.action == "deployed" and out.revision == 1 and out.backup is None  # nothing to back up yet
    out2 = production.guarded_deploy(prod, prepare(prod, "image.tag=1.4.3"), io=YES, report=lines.append)
    assert out2.revision == 2 and out2.backup is not None
    [rec] = backups.listing(prod.env, prod.env.release("plate-web"))
    assert rec.revision == 1
    backups.verify(rec)
    assert "image:" in (rec.path / "manifest.yaml").read_text()
    assert oct((rec.path / "values.yaml").stat().st_mode & 0o777) == "0o600"
    again = production.guarded_deploy(prod, prepare(prod, "image.tag=1.4.3"), io=YES, report=lines.append)
    assert again.action == "unchanged"


def test_wrong_cluster_is_refused(env_dir: Path, kubeconfig: Path, cluster: Any) -> None:
    env = prod_env(env_dir, kubeconfig, cluster)
    other = env.__class__(**{**env.__dict__, "cluster": env.cluster.__class__(
        context="sandbox", kubeconfig=kubeconfig, api_server="https://k8s.prod.example.internal:6443")})
    with release.connect(other) as target, pytest.raises(GuardRefused, match="not at the recorded cluster"):
        production.guarded_deploy(target, prepare(target), io=YES)
    assert target.helm.history("plate-web", namespace="plate-web") == []


def test_context_name_must_match_pattern(env_dir: Path, kubeconfig: Path, cluster: Any) -> None:
    env = prod_env(env_dir, kubeconfig, cluster, name="wrongctx", context_pattern="prod")
    with release.connect(env) as target, pytest.raises(GuardRefused, match="does not match the required pattern"):
        production.guarded_deploy(target, prepare(target), io=YES)


def test_ca_fingerprint_mismatch_is_refused(env_dir: Path, kubeconfig: Path, cluster: Any) -> None:
    env = prod_env(env_dir, kubeconfig, cluster)
    pinned = env.__class__(**{**env.__dict__, "cluster": env.cluster.__class__(
        context="sandbox", kubeconfig=kubeconfig, api_server=cluster.url, ca_fingerprint="ab" * 32)})
    with release.connect(pinned) as target, pytest.raises(GuardRefused, match="cluster CA"):
        production.guarded_deploy(target, prepare(target), io=YES)


@pytest.mark.parametrize("tag", ["latest", ""])
def test_floating_tag_is_refused(prod: Any, tag: str) -> None:
    with pytest.raises(GuardRefused, match="pinned image tag is required"):
        production.guarded_deploy(prod, prepare(prod, f"image.tag={tag}"), io=YES)
    assert prod.helm.history("plate-web", namespace="plate-web") == []


def test_no_tty_without_yes_refuses_and_never_hangs(env_dir: Path, kubeconfig: Path, cluster: Any) -> None:
    prod_env(env_dir, kubeconfig, cluster)
    out = invoke(["prod.deploy", "--env", "prodlike"], env_dir, timeout=60)
    assert out.returncode == 1
    assert "no terminal to ask" in out.stderr and "--yes" in out.stderr
    assert "Traceback" not in out.stderr


def test_typed_confirmation_other_than_yes_changes_nothing(prod: Any) -> None:
    io = production.Interaction(yes=False, is_tty=True, ask=lambda _: "y")
    with pytest.raises(GuardRefused, match="not confirmed"):
        production.guarded_deploy(prod, prepare(prod), io=io)
    assert prod.helm.history("plate-web", namespace="plate-web") == []
    io_ok = production.Interaction(yes=False, is_tty=True, ask=lambda _: "yes")
    assert production.guarded_deploy(prod, prepare(prod), io=io_ok).revision == 1


def _lease(prod: Any, holder: str, renewed: datetime) -> None:
    from kubernetes import client

    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name=lease_name(prod.env.name), namespace=LEASE_NAMESPACE),
        spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=60, acquire_time=renewed,
                                renew_time=renewed))
    prod.kube.coordination().create_namespaced_lease(LEASE_NAMESPACE, body)


def test_held_lock_refuses_naming_holder(prod: Any) -> None:
    _lease(prod, "alice@ci-runner:42", datetime.now(UTC))
    with pytest.raises(GuardRefused, match=r"held by alice@ci-runner:42"):
        production.guarded_deploy(prod, prepare(prod), io=YES)
    assert prod.helm.history("plate-web", namespace="plate-web") == []


def test_stale_lock_is_taken_over_and_released(prod: Any) -> None:
    _lease(prod, "crashed@host:1", datetime.now(UTC) - timedelta(minutes=10))
    assert production.guarded_deploy(prod, prepare(prod), io=YES).revision == 1
    api = prod.kube.coordination()
    remaining = [item.metadata.name for item in api.list_namespaced_lease(LEASE_NAMESPACE).items]
    assert lease_name(prod.env.name) not in remaining


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_never_ready_upgrade_rolls_back_and_verifies(prod: Any, sandbox: Any) -> None:
    from kubesandbox import Fault

    production.guarded_deploy(prod, prepare(prod), io=YES)
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector="app.kubernetes.io/version=9.9.9"))
    lines: list[str] = []
    with pytest.raises(HealthCheckFailed) as err:
        production.guarded_deploy(prod, prepare(prod, "image.tag=9.9.9"), io=YES, report=lines.append,
                                  timeout=4)
    assert "rolled back to revision 1" in str(err.value)
    assert any("rollback verified" in line for line in lines), lines
    history = prod.helm.history("plate-web", namespace="plate-web")
    assert [h.revision for h in history] == [1, 2, 3]
    assert history[-1].status == "deployed" and history[1].status == "failed"
    current = prod.helm.status("plate-web", namespace="plate-web")
    assert "plate-web:1.4.2" in current.manifest and "9.9.9" not in current.manifest
    [rec] = backups.listing(prod.env, prod.env.release("plate-web"))
    evidence = list(rec.path.parent.glob(f"{rec.name}-failure-*/events.txt"))
    assert evidence, "failure evidence saved next to the backup"
    backups.verify(rec)


def test_manual_rollback_default_previous_and_unknown_revision(prod: Any) -> None:
    production.guarded_deploy(prod, prepare(prod), io=YES)
    production.guarded_deploy(prod, prepare(prod, "image.tag=1.4.3"), io=YES)
    with pytest.raises(ConfigError, match="valid revisions are 1"):
        production.manual_rollback(prod, prepare(prod), revision=7, io=YES)
    info = production.manual_rollback(prod, prepare(prod), revision=None, io=YES)
    assert info.revision == 3 and "plate-web:1.4.2" in info.manifest


def test_restore_gives_zero_diff_and_corrupt_backup_is_refused(prod: Any) -> None:
    production.guarded_deploy(prod, prepare(prod), io=YES)
    rec = production.take_backup(prod, prepare(prod))
    production.guarded_deploy(prod, prepare(prod, "image.tag=1.4.3", "replicaCount=4"), io=YES)
    left = production.restore(prod, prepare(prod), rec.name, io=YES)
    assert left == []
    assert "plate-web:1.4.2" in prod.helm.get_manifest("plate-web", namespace="plate-web")
    (rec.path / "values.yaml").write_text("replicaCount: 99\n")
    with pytest.raises(backups.BackupError, match=r"checksum mismatch in values.yaml"):
        production.restore(prod, prepare(prod), rec.name, io=YES)


@pytest.mark.parametrize("name", ["../../etc", "20260101T000000Z-r1/../../x", "latest"])
def test_backup_names_are_not_paths(prod: Any, name: str) -> None:
    with pytest.raises(ConfigError, match="invalid backup name"):
        backups.find(prod.env, prod.env.release("plate-web"), name)


def test_unwritable_backup_folder_fails_before_any_change(env_dir: Path, kubeconfig: Path, cluster: Any,
                                                          tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the backups folder should be")
    write_env(env_dir, "nobackup", kubeconfig, guards={"lock": True}, releases=[APP_RELEASE],
              backup={"enabled": True, "dir": str(blocker), "keep": 3})
    env = load_environment("nobackup", env_dir)
    with release.connect(env) as target:
        with pytest.raises(backups.BackupError, match="not writable"):
            production.guarded_deploy(target, prepare(target), io=YES)
        assert target.helm.history("plate-web", namespace="plate-web") == []


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_ctrl_c_mid_upgrade_leaves_release_recoverable(env_dir: Path, kubeconfig: Path, sandbox: Any) -> None:
    from kubesandbox import Fault

    env = prod_env(env_dir, kubeconfig, sandbox, health_timeout=60)
    with release.connect(env) as target:
        production.guarded_deploy(target, prepare(target), io=YES)
        sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                                 label_selector="app.kubernetes.io/version=2.0.0"))
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "invoke"), "prod.deploy", "--env", "prodlike", "--yes",
             "--set", "image.tag=2.0.0"], cwd=REPO, env=dict(os.environ, PRJDEVOPS_ENVIRONMENTS=str(env_dir)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = target.helm.status("plate-web", namespace="plate-web")
            if info is not None and info.status == "pending-upgrade":
                break
            time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail("the upgrade never reached pending-upgrade")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        [rec] = backups.listing(env, env.release("plate-web"))
        backups.verify(rec)  # the backup taken before the upgrade is intact
        sandbox.faults.clear()
        # Ctrl-C cancels Helm's wait, so the revision ends "failed" (not stuck pending) and the next deploy works.
        interrupted = target.helm.status("plate-web", namespace="plate-web")
        assert interrupted is not None and interrupted.status == "failed", interrupted
        out = production.guarded_deploy(target, prepare(target), io=YES)
        assert out.action == "deployed"
        final = target.helm.status("plate-web", namespace="plate-web")
        assert final is not None and final.status == "deployed"
        from prjdevops.ops.lock import wait_free

        assert wait_free(target.kube, env.name, timeout=1), "the interrupted run released its deploy lock"


def test_cli_prod_status_backups_rollback(env_dir: Path, kubeconfig: Path, cluster: Any) -> None:
    prod_env(env_dir, kubeconfig, cluster)
    first = invoke(["prod.deploy", "--env", "prodlike", "--yes"], env_dir)
    assert first.returncode == 0, first.stderr
    assert "plan for plate-web in prodlike" in first.stdout and "deployed, revision 1" in first.stdout
    second = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--set", "image.tag=1.4.3"], env_dir)
    assert second.returncode == 0, second.stderr
    assert "backup of revision 1 written to" in second.stdout
    status = invoke(["prod.status", "--env", "prodlike"], env_dir)
    assert status.returncode == 0, status.stderr
    assert "REVISION  UPDATED" in status.stdout and "superseded" in status.stdout
    assert "BACKUP" in status.stdout and "-r1" in status.stdout
    listing = invoke(["prod.backups", "--env", "prodlike"], env_dir)
    assert listing.returncode == 0 and "before deploy" in listing.stdout
    bad = invoke(["prod.rollback", "--env", "prodlike", "--yes", "--revision", "9"], env_dir)
    assert bad.returncode == 1 and "valid revisions are 1" in bad.stderr and "Traceback" not in bad.stderr
    back = invoke(["prod.rollback", "--env", "prodlike", "--yes"], env_dir)
    assert back.returncode == 0, back.stderr
    assert "rollback verified" in back.stdout and "now revision 3 (deployed)" in back.stdout
    name = listing.stdout.splitlines()[1].split()[0]
    restored = invoke(["prod.restore", "--env", "prodlike", "--yes", "--backup", name], env_dir)
    assert restored.returncode == 0, restored.stderr
    assert "zero diff against the backup" in restored.stdout
