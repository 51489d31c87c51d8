"""One guard policy for every command that changes a cluster: the deploy Lease (renewed, lost, waited for), real
processes racing on one environment, interrupts at many points of a production deploy, quiet closed pipes and
``--help`` on every task."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Fault
from prjdevops.environments import load_environment
from prjdevops.errors import GuardRefused, LeaseLost
from prjdevops.ops import release
from prjdevops.ops.lock import LEASE_NAMESPACE, DeployLease, Holding, lease_name, wait_free
from tests.faults.conftest import APP, cli, one_line_error, start_cli, wait_for_status
from tests.integration.conftest import CHART, REPO, write_env

LIBRARY = {"name": "lib-web", "chart": str(CHART), "namespace": "lib-web", "group": "cluster-services",
           "values": ["values-stg.yaml"], "timeout": 20}
DEPLOY = ["prod.deploy", "--env", "gprod", "--yes"]


@pytest.fixture
def genv(tmp_path: Path, kubeconfig: Path, cluster: Any) -> Path:
    """`gprod`: production-like (every guard, backups, a 6 s Lease renewed every 2 s) with one library."""
    d = tmp_path / "environments"
    write_env(d, "gprod", kubeconfig,
              cluster={"kubeconfig": str(kubeconfig), "context": "sandbox", "api_server": cluster.url},
              guards={"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True,
                      "forbid_latest_tag": True, "lock": True, "lease_seconds": 6, "health_timeout": 20,
                      "rollback_timeout": 20},
              backup={"enabled": True, "dir": str(d.parent / "backups"), "keep": 50},
              namespaces=["plate-web", "lib-web"], releases=[APP, LIBRARY])
    return d


@pytest.fixture
def gprod(genv: Path) -> Iterator[release.Target]:
    with release.connect(load_environment("gprod", genv)) as t:
        yield t


# --- the Lease itself -------------------------------------------------------------------------------------------


def test_lease_is_renewed_while_held_and_refuses_a_second_holder(gprod: release.Target) -> None:
    first = DeployLease(gprod.kube, "gprod", duration=3, holder="ops@elsewhere:1")
    first.acquire()
    try:
        time.sleep(3.5)  # longer than the duration: only the renewals keep it
        assert first.renewals >= 2
        held = Holding.of(gprod.kube.read_lease(lease_name("gprod"), LEASE_NAMESPACE))
        assert held is not None and held.holder == "ops@elsewhere:1" and not held.expired(datetime.now(UTC))
        second = DeployLease(gprod.kube, "gprod", duration=3, holder="ops@other:2")
        with pytest.raises(GuardRefused, match=r"another deploy to 'gprod' is running: .* held by ops@elsewhere:1"):
            second.acquire()
        first.check()  # still ours
    finally:
        first.release()
    assert gprod.kube.read_lease(lease_name("gprod"), LEASE_NAMESPACE) is None


def test_a_lease_taken_over_stops_the_flow_before_its_next_write(gprod: release.Target) -> None:
    mine = DeployLease(gprod.kube, "gprod", duration=3, holder="ops@here:1")
    mine.acquire()
    try:
        lease = gprod.kube.read_lease(lease_name("gprod"), LEASE_NAMESPACE)
        assert lease is not None
        spec = dict(lease["spec"], holderIdentity="ops@thief:9")
        gprod.kube.write_lease(lease_name("gprod"), LEASE_NAMESPACE, spec,
                               resource_version=lease["metadata"]["resourceVersion"])
        deadline = time.monotonic() + 10
        while mine.lost_to is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(LeaseLost, match=r"lost the deploy lease of 'gprod' to ops@thief:9"):
            mine.check()
    finally:
        mine.release()
    # ours was lost: releasing leaves the other holder's Lease alone
    held = Holding.of(gprod.kube.read_lease(lease_name("gprod"), LEASE_NAMESPACE))
    assert held is not None and held.holder == "ops@thief:9"


def test_wait_lock_waits_for_the_holder_with_progress(gprod: release.Target) -> None:
    first = DeployLease(gprod.kube, "gprod", duration=6, holder="ops@first:1")
    first.acquire()
    threading.Timer(1.5, first.release).start()
    said: list[str] = []
    second = DeployLease(gprod.kube, "gprod", duration=6, holder="ops@second:2", report=said.append)
    second.acquire(wait=20, poll=0.2)
    try:
        assert said and "waiting for the deploy lease of 'gprod': held by ops@first:1" in said[0]
        held = Holding.of(gprod.kube.read_lease(lease_name("gprod"), LEASE_NAMESPACE))
        assert held is not None and held.holder == "ops@second:2"
    finally:
        second.release()


def test_wait_lock_gives_up_after_its_time(gprod: release.Target) -> None:
    first = DeployLease(gprod.kube, "gprod", duration=6, holder="ops@first:1")
    first.acquire()
    try:
        with pytest.raises(GuardRefused, match=r"waited 1s for the deploy lease of 'gprod': still held by ops@first"):
            DeployLease(gprod.kube, "gprod", duration=6, holder="ops@second:2").acquire(wait=1, poll=0.2)
    finally:
        first.release()


# --- real processes racing on one environment -------------------------------------------------------------------


def _running_deploy(genv: Path, gprod: release.Target, sandbox: Any) -> subprocess.Popen[str]:
    """A production deploy that holds the Lease while its pods never get ready."""
    assert cli(DEPLOY, genv).returncode == 0
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector="app.kubernetes.io/version=2.0.0"))
    proc = start_cli([*DEPLOY, "--set", "image.tag=2.0.0", "--timeout", "60"], genv)
    wait_for_status(gprod, "pending-upgrade", proc=proc)
    return proc


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
@pytest.mark.parametrize("second", [
    pytest.param([*DEPLOY, "--set", "image.tag=1.4.3"], id="deploy-x-deploy"),
    pytest.param(["prod.rollback", "--env", "gprod", "--yes"], id="deploy-x-rollback"),
    pytest.param(["stg.deploy", "--env", "gprod", "--yes", "--set", "image.tag=1.4.4"], id="prod-x-stg-deploy"),
    pytest.param(["stg.delete", "--env", "gprod", "--yes"], id="prod-x-stg-delete"),
    pytest.param(["libraries.deploy", "--env", "gprod", "--yes"], id="deploy-x-libraries"),
    pytest.param(["deploy", "--env", "gprod", "--yes", "--no-verify"], id="deploy-x-platform"),
    pytest.param([*DEPLOY, "--recover"], id="deploy-x-recover"),
])
def test_a_second_change_is_refused_naming_the_running_one(genv: Path, gprod: release.Target, sandbox: Any,
                                                           second: list[str]) -> None:
    first = _running_deploy(genv, gprod, sandbox)
    try:
        before = [h.revision for h in gprod.helm.history("plate-web", namespace="plate-web")]
        out = cli(second, genv)
        one_line_error(out, 1, "another deploy to 'gprod' is running", f":{first.pid} since", "--wait-lock")
        assert [h.revision for h in gprod.helm.history("plate-web", namespace="plate-web")] == before
        assert gprod.helm.status("lib-web", namespace="lib-web") is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
        sandbox.faults.clear()
    assert wait_free(gprod.kube, "gprod", timeout=5)


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_wait_lock_runs_the_second_deploy_after_the_first(genv: Path, gprod: release.Target, sandbox: Any) -> None:
    first = _running_deploy(genv, gprod, sandbox)
    second = start_cli([*DEPLOY, "--set", "image.tag=1.4.3", "--wait-lock", "90"], genv)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(second.stdout.readline, "")) if second.stdout
                              else None, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("waiting for the deploy lease" in line for line in lines) and time.monotonic() < deadline:
            assert second.poll() is None, "the second deploy waits instead of refusing"
            time.sleep(0.1)
        assert any("waiting for the deploy lease of 'gprod': held by " in line and f":{first.pid} since" in line
                   for line in lines), lines
    finally:
        first.send_signal(signal.SIGINT)
        out1, err1 = first.communicate(timeout=60)
        one_line_error((first.returncode, out1, err1), 130, "interrupted")
        sandbox.faults.clear()
    second.wait(timeout=120)
    reader.join(timeout=10)
    assert second.returncode == 0, "".join(lines) + (second.stderr.read() if second.stderr else "")
    info = gprod.helm.status("plate-web", namespace="plate-web")
    assert info is not None and info.status == "deployed" and "1.4.3" in info.manifest


@pytest.mark.sandbox_only(reason="fault injection (never_ready pods)")
def test_a_long_deploy_keeps_its_lease_past_the_duration(genv: Path, gprod: release.Target, sandbox: Any) -> None:
    first = _running_deploy(genv, gprod, sandbox)
    try:
        time.sleep(8)  # past the 6 s lease: renewed every 2 s, so still held and refusing others
        one_line_error(cli(["prod.rollback", "--env", "gprod", "--yes"], genv), 1, "another deploy to 'gprod'")
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
        sandbox.faults.clear()


# --- interrupts anywhere -------------------------------------------------------------------------------------------

POINTS = 20


def tasks_loaded(proc: subprocess.Popen[str], timeout: float = 60) -> float:
    """Wait until the CLI has loaded tasks.py (it then catches SIGTERM: its one-line signal policy is in place; what
    comes before is the Python interpreter importing Invoke, outside the tool); the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError(f"the CLI (pid {proc.pid}) never loaded its tasks")


@pytest.mark.real_xfail(strict=False, reason="Ctrl-C at one of the twenty points (17th in the run that found it) "
                        "killed `invoke prod.deploy` by the signal (exit -2) instead of the clean exit 130; "
                        "timing-dependent, so not strict")
def test_interrupts_at_twenty_points_of_a_production_deploy(genv: Path, gprod: release.Target) -> None:
    """SIGINT at 20 points spread over a production deploy (guards, Lease, backup, upgrade, health wait): each run
    ends 0 (done before the signal) or 130 with one line and no traceback; the next run ends deployed and
    healthy, with --recover only where a revision was left pending."""
    from prjdevops.ops import production

    assert cli(DEPLOY, genv).returncode == 0
    timing = start_cli([*DEPLOY, "--set", "image.tag=1.5.0"], genv)
    t0 = tasks_loaded(timing)
    timing.communicate(timeout=120)
    assert timing.returncode == 0
    length = time.monotonic() - t0
    codes = []
    for i in range(POINTS):
        tag = f"1.6.{i}"
        proc = start_cli([*DEPLOY, "--set", f"image.tag={tag}"], genv)
        tasks_loaded(proc)
        time.sleep(length * i / POINTS)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
        assert "Traceback" not in out + err, (i, err)
        assert proc.returncode in (0, 130), (i, proc.returncode, err)
        if proc.returncode == 130:
            one_line_error((proc.returncode, out, err), 130, "interrupted")
        codes.append(proc.returncode)
        info = gprod.helm.status("plate-web", namespace="plate-web")
        rerun = [*DEPLOY, "--set", f"image.tag={tag}"]
        if info is not None and info.status.startswith("pending"):
            rerun.append("--recover")
        again = cli(rerun, genv)
        assert again.returncode == 0, (i, again.stdout[-1500:], again.stderr)
        info = gprod.helm.status("plate-web", namespace="plate-web")
        assert info is not None and info.status == "deployed" and tag in info.manifest, (i, info)
        prep = release.prepare(gprod.env, "plate-web")
        assert production.health_now(gprod, prep).healthy, i
        assert wait_free(gprod.kube, "gprod", timeout=5), i
    assert 130 in codes, codes  # the points fell inside the run, not only after it


# --- the terminal: closed pipes and --help ---------------------------------------------------------------------


def test_stdout_closed_early_ends_quietly(genv: Path) -> None:
    assert cli(DEPLOY, genv).returncode == 0
    exe = Path(sys.executable).parent / "invoke"
    from tests.faults.conftest import cli_env

    proc = subprocess.Popen([str(exe), "prod.status", "--env", "gprod"], cwd=REPO, env=cli_env(genv),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert first.startswith("RELEASE")
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def _task_names() -> list[str]:
    exe = Path(sys.executable).parent / "invoke"
    out = subprocess.run([str(exe), "--list"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines()[2:] if line.startswith("  ") and line.split()
            and not line.startswith("    ")]


def test_help_works_on_every_task_positional_arguments_included() -> None:
    exe = Path(sys.executable).parent / "invoke"
    names = _task_names()
    assert {"argocd.get", "argocd.wait", "argocd.sync", "prod.restore", "prod.deploy", "deploy"} <= set(names)
    for name in names:
        for flag in ("--help",):
            out = subprocess.run([str(exe), name, flag], cwd=REPO, capture_output=True, text=True, timeout=60,
                                 check=False)
            assert out.returncode == 0, (name, flag, out.stderr)
            assert f"Usage: inv[oke] [--core-opts] {name} " in out.stdout, (name, out.stdout[:300])
            assert "Traceback" not in out.stderr
