"""The fault matrix: the real flows (staging deploy, guarded production deploy and rollback, libraries deploy)
through the real CLI against the sandbox with injected faults. Every case checks the exit code and the one-line
error, that the release is left recoverable, that backups verify, and that the deploy lock is free (or, when the
API vanished before it could be deleted, expiring).

Where the product watches: it does not. Its own readiness wait polls (``ops/release.wait_healthy``, each read
retried by the Kubernetes adapter); the watches are Helm's ``watcher`` wait, client-go reflectors that watch again
from the last resourceVersion (or list again) when a stream drops: the watch-drop case cuts every stream and the
deploy still succeeds. What Helm's watcher does not survive is a failed *list* (status Unknown): the 5xx cases
cover the flow's answer to that.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesandbox import Fault
from prjdevops.environments import load_environment
from prjdevops.ops import release
from prjdevops.ops.lock import LEASE_NAMESPACE, lease_name
from tests.faults.conftest import (
    assert_fired,
    backups_intact,
    cli,
    interrupt,
    lock_free_or_expiring,
    one_line_error,
    probe,
    recoverable,
    requests,
    start_cli,
    wait_for_status,
)

pytestmark = pytest.mark.integration

DEPLOY = ["prod.deploy", "--env", "fprod", "--yes"]


def first_deploy(fenv: Path) -> None:
    out = cli(DEPLOY, fenv)
    assert out.returncode == 0, out.stderr


def history(target: release.Target) -> list[str]:
    return [h.status for h in target.helm.history("plate-web", namespace="plate-web")]


# --- latency -------------------------------------------------------------------------------------------------


def test_latency_spikes_slow_the_deploy_but_it_succeeds(fenv: Path, prod: release.Target, sandbox: Any) -> None:
    first_deploy(fenv)
    sandbox.faults.add(Fault(kind="latency", seconds=0.02))  # every request
    spikes = sandbox.faults.add(Fault(kind="latency", seconds=1.5, path="/deployments", count=2))
    started = time.monotonic()
    out = cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv)
    assert out.returncode == 0, out.stderr
    assert_fired(sandbox, spikes, exactly=2)
    assert time.monotonic() - started >= 3.0  # the spikes did happen, and the run waited them out
    assert "deployed, revision 2" in out.stdout
    assert backups_intact(prod, at_least=1) == 1
    lock_free_or_expiring(prod)


# --- 5xx answers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", ["1", "0"], ids=["helm-via-retrying-proxy", "helm-direct"])
def test_a_share_of_5xx_is_retried_and_the_deploy_succeeds(fenv: Path, prod: release.Target, sandbox: Any,
                                                           proxy: str) -> None:
    first_deploy(fenv)
    # 503 on the first answers of each kind of request the flow makes: reads (Kubernetes client and Helm),
    # the Lease writes, and Helm's own writes (its release record and the Deployment patch)
    for path, method in [("/deployments", "GET"), ("/pods", "GET"), ("/leases", "POST"), ("/leases", "DELETE"),
                         ("/secrets", "GET"), ("/secrets", "POST"), ("/deployments", "PATCH")]:
        sandbox.faults.add(Fault(kind="error", status=503, path=path, method=method, count=1))
    # and a small random share of every read and watch: Helm's own client retries none of them, so each Helm action
    # hit by one fails as a whole and the flow looks at the release and runs it again (the soak measures 5%)
    sandbox.faults.add(Fault(kind="error", status=500, ratio=0.01, method="GET"))
    release_writes = probe(sandbox, "POST", "/secrets")
    out = cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv, PRJDEVOPS_HELM_PROXY=proxy)
    assert out.returncode == 0, out.stdout + out.stderr
    if proxy == "0":  # Helm talks to the API server itself: its failed write was looked at and the action run again
        assert "transient API error" in out.stdout
    else:  # the loopback proxy sent Helm's refused requests again below Helm: no action had to be run twice
        assert "transient API error" not in out.stdout
    # at the API server: the refused write of Helm's release record was sent again (1 refused + 1 stored)
    assert requests(sandbox, release_writes) >= 2
    sandbox.faults.clear()
    assert history(prod)[-1] == "deployed"
    assert "1.4.3" in prod.helm.get_manifest("plate-web", namespace="plate-web")
    assert backups_intact(prod, at_least=1) == 1
    lock_free_or_expiring(prod)


# Helm stores a release's outcome in its record last; when that write fails, Helm logs it and reports success
# (pkg/action install.go: "the result cannot be recorded"). The release then stays pending-install, and every later
# Helm write to it is refused. The tool reads the stored record after each write instead of trusting the answer.
RECORD_V1 = r"/secrets/sh\.helm\.release\.v1\.plate-web\.v1$"


def test_an_install_whose_record_was_not_stored_is_installed_again(fenv: Path, prod: release.Target,
                                                                   sandbox: Any) -> None:
    refused = sandbox.faults.add(Fault(kind="error", status=403, path=RECORD_V1, method="PUT", count=1,
                                       message="secrets \"sh.helm.release.v1.plate-web.v1\" is forbidden: "
                                               "cannot update resource"))
    out = cli(DEPLOY, fenv)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_fired(sandbox, refused, exactly=1)
    assert re.search(r"plate-web: helm install left revision 1 pending-install \(.*its record was not stored.*"
                     r"Helm logged: failed to record the release.*forbidden.*\); no earlier revision: uninstalling "
                     r"it, then installing again", out.stdout), out.stdout
    assert history(prod) == ["deployed"]
    assert "deployed, revision 1" in out.stdout, out.stdout
    lock_free_or_expiring(prod)


def test_an_unstored_install_outside_the_lease_stops_with_how_to_recover(fenv: Path, prod: release.Target,
                                                                         sandbox: Any) -> None:
    """Without the environment's deploy lease (guards.lock off) the tool cannot know the pending revision is its
    own: it says what happened and how to recover, and never calls the release deployed."""
    doc = yaml.safe_load((fenv / "fstg.yaml").read_text())
    doc.setdefault("guards", {})["lock"] = False
    (fenv / "fstg.yaml").write_text(yaml.safe_dump(doc))
    sandbox.faults.add(Fault(kind="error", status=403, path=RECORD_V1, method="PUT", count=1))
    out = cli(["stg.deploy", "--env", "fstg"], fenv)
    one_line_error(out, 1, "its record was not stored", "revision 1 was left pending-install")
    assert "--recover" in out.stderr, out.stderr
    assert "revision 1 (deployed)" not in out.stdout, out.stdout
    with release.connect(load_environment("fstg", fenv)) as stg:
        assert history(stg) == ["pending-install"]


def test_persistent_5xx_gives_up_with_one_clear_line(fenv: Path, prod: release.Target, sandbox: Any) -> None:
    first_deploy(fenv)
    down = sandbox.faults.add(Fault(kind="error", status=503, path="/deployments", method="GET"))
    started = time.monotonic()
    out = cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv, PRJDEVOPS_API_RETRY_SECONDS="2")
    line = one_line_error(out, 1, "503", "gave up after")
    assert_fired(sandbox, down, at_least=3)  # the read was tried again before giving up
    assert time.monotonic() - started < 60, "the retries are bounded"
    assert line.startswith("error: ")
    sandbox.faults.clear()
    assert backups_intact(prod, at_least=1) == 1
    lock_free_or_expiring(prod)
    recoverable(prod, fenv)


def test_staging_deploy_under_5xx_share(fenv: Path, sandbox: Any) -> None:
    sandbox.faults.add(Fault(kind="error", status=503, ratio=0.01, method="GET"))
    # Helm v4 creates the Service by server-side apply: a PATCH (a POST fault here never fires)
    refused = sandbox.faults.add(Fault(kind="error", status=503, path="/services/plate-web$", method="PATCH",
                                       count=1))
    applies = probe(sandbox, "PATCH", "/services/plate-web$")
    out = cli(["stg.deploy", "--env", "fstg"], fenv)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^revision +\d+ \(deployed\)$", out.stdout, re.M), out.stdout
    assert_fired(sandbox, refused, exactly=1)
    # the refused apply was sent again (by the loopback proxy Helm talks through: no Helm action ran twice)
    assert requests(sandbox, applies) >= 2
    assert "transient API error" not in out.stdout, out.stdout


# --- watch streams that drop -----------------------------------------------------------------------------------


@pytest.mark.parametrize("drops", [3, None])  # the first 3 watches cut after 0.2 s, or every watch at once
def test_dropped_watch_streams(fenv: Path, prod: release.Target, sandbox: Any, drops: int | None) -> None:
    first_deploy(fenv)
    cut = sandbox.faults.add(Fault(kind="watch_drop", seconds=0.0 if drops is None else 0.2, count=drops))
    sandbox.faults.add(Fault(kind="latency", seconds=0.3, path="/replicasets", count=2))  # keep a watch waiting
    out = cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    if drops is None:
        assert_fired(sandbox, cut, at_least=2)
    else:
        assert_fired(sandbox, cut, exactly=drops)
    # the streams were cut, and Helm's client-go reflectors watched again (from the last resourceVersion, or by
    # listing again): client-go says so for each stream that ended without its end
    assert "Unexpected watch close" in out.stderr, out.stderr[-3000:]
    sandbox.faults.clear()
    assert history(prod)[-1] == "deployed"
    assert "1.4.3" in prod.helm.get_manifest("plate-web", namespace="plate-web")
    backups_intact(prod, at_least=1)
    lock_free_or_expiring(prod)


# --- write conflicts -----------------------------------------------------------------------------------------


def test_lease_conflicts_are_retried_by_re_reading(fenv: Path, prod: release.Target, sandbox: Any) -> None:
    first_deploy(fenv)
    refused = sandbox.faults.add(Fault(kind="conflict", path="/leases", method="POST", count=2))
    creates, reads = probe(sandbox, "POST", "/leases"), probe(sandbox, "GET", "/leases/")
    out = cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv)
    assert out.returncode == 0, out.stderr
    assert_fired(sandbox, refused, exactly=2)
    # at the API server: each refused create was followed by a read of the Lease and another create
    assert requests(sandbox, creates) >= 3, requests(sandbox, creates)
    assert requests(sandbox, reads) >= 3, requests(sandbox, reads)
    assert "deployed, revision 2" in out.stdout
    lock_free_or_expiring(prod)


def test_lease_that_keeps_conflicting_is_refused_before_any_change(fenv: Path, prod: release.Target,
                                                                   sandbox: Any) -> None:
    first_deploy(fenv)
    refused = sandbox.faults.add(Fault(kind="conflict", path="/leases"))
    out = cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv)
    one_line_error(out, 1, "409 Conflict", "lease")
    assert_fired(sandbox, refused, at_least=2)  # re-read and tried again before refusing
    sandbox.faults.clear()
    assert history(prod) == ["deployed"]  # nothing changed
    assert backups_intact(prod) == 0
    lock_free_or_expiring(prod)


# --- pods that never become Ready -------------------------------------------------------------------------------


def test_never_ready_staging_fails_naming_the_pods(fenv: Path, sandbox: Any) -> None:
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web", message="connection refused on :8080"))
    out = cli(["stg.deploy", "--env", "fstg", "--timeout", "3"], fenv)
    one_line_error(out, 1, "did not become ready within 3s", "running but not ready")


def test_never_ready_production_rolls_back(fenv: Path, prod: release.Target, sandbox: Any) -> None:
    first_deploy(fenv)
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector="app.kubernetes.io/version=9.9.9"))
    out = cli([*DEPLOY, "--set", "image.tag=9.9.9", "--timeout", "3"], fenv)
    one_line_error(out, 1, "rolled back to revision 1", "verified healthy")
    assert history(prod) == ["superseded", "failed", "deployed"]
    backups_intact(prod, at_least=1)
    lock_free_or_expiring(prod)


# --- interrupted runs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_signal_mid_upgrade_cancels_helm_and_releases_the_lock(fenv: Path, prod: release.Target, sandbox: Any,
                                                               sig: signal.Signals, code: int, word: str) -> None:
    first_deploy(fenv)
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector="app.kubernetes.io/version=2.0.0"))
    proc = start_cli([*DEPLOY, "--set", "image.tag=2.0.0", "--timeout", "60"], fenv)
    wait_for_status(prod, "pending-upgrade", proc=proc)
    one_line_error(interrupt(proc, sig), code, word)
    sandbox.faults.clear()
    # the library's Ctrl-C path ran: Helm's wait was cancelled, so the revision is failed, not stuck pending
    assert history(prod) == ["deployed", "failed"]
    backups_intact(prod, at_least=1)
    lock_free_or_expiring(prod)
    recoverable(prod, fenv)


# --- the API server disappears --------------------------------------------------------------------------------


def test_api_server_disappears_mid_deploy(fenv: Path, prod: release.Target, sandbox: Any) -> None:
    first_deploy(fenv)
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector="app.kubernetes.io/version=2.0.0"))
    proc = start_cli([*DEPLOY, "--set", "image.tag=2.0.0", "--timeout", "60"], fenv,
                     PRJDEVOPS_API_RETRY_SECONDS="2")
    wait_for_status(prod, "pending-upgrade", proc=proc)
    sandbox.stop()
    out, err = proc.communicate(timeout=120)
    one_line_error((proc.returncode, out, err), 1, "unreachable")
    sandbox.start()  # same port, same objects: the API server is back
    sandbox.faults.clear()
    backups_intact(prod, at_least=1)
    # the dead run could not delete its Lease; it ran on this machine, so the next run takes it over at once
    lock_free_or_expiring(prod, must_be_free=False)
    recoverable(prod, fenv)
    lock_free_or_expiring(prod)


def _status_with_the_api_server_gone(fenv: Path, sandbox: Any) -> str:
    sandbox.stop()
    try:
        started = time.monotonic()
        out = cli(["stg.status", "--env", "fstg"], fenv, PRJDEVOPS_API_RETRY_SECONDS="1")
        line = one_line_error(out, 1, "release 'plate-web'", "kubernetes cluster unreachable")
        assert time.monotonic() - started < 30, "a bounded retry, then the line"
        return line
    finally:
        sandbox.start()


def test_api_server_gone_before_the_run(fenv: Path, sandbox: Any) -> None:
    _status_with_the_api_server_gone(fenv, sandbox)


def test_api_server_gone_names_the_address_and_the_hint(fenv: Path, sandbox: Any) -> None:
    line = _status_with_the_api_server_gone(fenv, sandbox)
    for fragment in (f"127.0.0.1:{sandbox.port}", "connection refused", "check the environment's context"):
        assert fragment in line, (fragment, line)


# --- rollback and the libraries under faults -----------------------------------------------------------------------


def test_manual_rollback_under_5xx(fenv: Path, prod: release.Target, sandbox: Any) -> None:
    first_deploy(fenv)
    assert cli([*DEPLOY, "--set", "image.tag=1.4.3"], fenv).returncode == 0
    record = sandbox.faults.add(Fault(kind="error", status=503, path="/secrets", method="POST", count=1))
    reads = sandbox.faults.add(Fault(kind="error", status=503, path="/deployments", method="GET", count=2))
    release_writes, deployment_reads = probe(sandbox, "POST", "/secrets"), probe(sandbox, "GET", "/deployments")
    out = cli(["prod.rollback", "--env", "fprod", "--yes"], fenv)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_fired(sandbox, record, exactly=1)
    assert_fired(sandbox, reads, exactly=2)
    assert requests(sandbox, release_writes) >= 2  # Helm's refused release record was sent again (by the proxy)
    assert requests(sandbox, deployment_reads) >= 3  # the two refused reads were read again
    assert "rollback verified" in out.stdout
    assert "1.4.2" in prod.helm.get_manifest("plate-web", namespace="plate-web")
    backups_intact(prod, at_least=2)
    lock_free_or_expiring(prod)


def test_stale_lease_of_a_dead_local_run_is_taken_over(fenv: Path, prod: release.Target) -> None:
    import socket
    import subprocess
    from datetime import UTC, datetime

    from kubernetes import client

    dead = subprocess.Popen(["true"])
    dead.wait()
    holder = f"ops@{socket.gethostname()}:{dead.pid}"
    now = datetime.now(UTC)
    prod.kube.coordination().create_namespaced_lease(LEASE_NAMESPACE, client.V1Lease(
        metadata=client.V1ObjectMeta(name=lease_name("fprod"), namespace=LEASE_NAMESPACE),
        spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=900, acquire_time=now,
                                renew_time=now)))
    out = cli(DEPLOY, fenv)
    assert out.returncode == 0, out.stderr
    lock_free_or_expiring(prod)
