"""Fault-matrix fixtures: the real CLI (a subprocess) against an in-process sandbox with injected faults, and the
checks every case makes afterwards: one-line error and exit code, release recoverable, backups intact, lock free.

Faults must fire. The sandbox counts how often each fault it was given fired (``Sandbox.fault_counts()``, also
``GET /sandbox/faults``); after every test of this folder that used a sandbox, ``pytest_runtest_call`` below fails
the test when a fault it injected never fired (a test that passes without its fault proves nothing). Exempt: a
random share (``ratio < 1``), which may by chance not fire in a short run; a test relying on one asserts it
itself. ``probe()`` counts requests without changing them (a zero-latency fault), so a test can check at the API
server that the product did what the fault demands (sent a write again, read again).

Proof that the checks bite: ``KUBESANDBOX_FAULTS_OFF=error,conflict,watch_drop`` (or ``all``) makes the sandbox
accept faults but never fire them; run under it, the fault tests fail (see tests/README.md).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Fault
from prjdevops import backup as backups
from prjdevops.environments import load_environment
from prjdevops.ops import release
from prjdevops.ops.lock import LEASE_NAMESPACE, lease_name
from tests.integration.conftest import CHART, REPO, write_env

KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.-]+:\d+\] ")
APP = {"name": "plate-web", "chart": str(CHART), "namespace": "plate-web", "values": ["values-prod.yaml"],
       "timeout": 20}


# --- faults that must fire ------------------------------------------------------------------------------------


def never_fired(sandbox: Any) -> list[str]:
    """The faults given to ``sandbox`` (random shares aside) that never fired, described."""
    counts = sandbox.fault_counts()
    return [f"fault {fid} {describe(f)}" for fid, f in sandbox.faults.added().items()
            if f.ratio >= 1.0 and counts.get(fid, 0) == 0]


def describe(f: Fault) -> str:
    parts = [f.kind, f.method or "", f.path or "", f.namespace or "", f.name_prefix or "", f.label_selector or ""]
    return " ".join(p for p in parts if p)


def assert_fired(sandbox: Any, fid: int, *, at_least: int = 1, exactly: int | None = None) -> int:
    """Fault ``fid`` fired ``at_least`` times (or ``exactly``); returns the count."""
    fault = sandbox.faults.added()[fid]
    n = int(sandbox.fault_counts()[fid])
    if exactly is not None:
        assert n == exactly, f"fault {fid} ({describe(fault)}) fired {n} time(s), expected {exactly}"
    else:
        assert n >= at_least, f"fault {fid} ({describe(fault)}) fired {n} time(s), expected at least {at_least}"
    return n


def probe(sandbox: Any, method: str, path: str) -> int:
    """Count the requests matching ``method``/``path`` from now on (a zero-latency fault: nothing changes);
    read the count with ``requests(sandbox, id)``. A latency fault: ``KUBESANDBOX_FAULTS_OFF=latency`` stops it too."""
    return int(sandbox.faults.add(Fault(kind="latency", seconds=0.0, method=method, path=path)))


def requests(sandbox: Any, probe_id: int) -> int:
    return int(sandbox.fault_counts()[probe_id])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults_unchecked: the test injects faults that must not fire (it tests "
                                       "the harness itself); skips the never-fired check")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After a passing test that used a sandbox: fail it when a fault it injected never fired."""
    result = yield
    if hasattr(item, "get_closest_marker") and item.get_closest_marker("faults_unchecked"):
        return result
    sandbox = getattr(item, "funcargs", {}).get("sandbox")
    if sandbox is not None and hasattr(sandbox, "fault_counts"):
        missed = never_fired(sandbox)
        if missed:
            raise AssertionError("injected but never fired (the test did not exercise it): " + "; ".join(missed))
    return result


def prod_env(env_dir: Path, kubeconfig: Path, sandbox: Any, name: str = "fprod", **guards: Any) -> Path:
    """A production-like environment on the sandbox: every guard on, backups and the deploy Lease."""
    g = {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True, "forbid_latest_tag": True,
         "lock": True, "health_timeout": 20, "rollback_timeout": 20, **guards}
    return write_env(env_dir, name, kubeconfig,
                     cluster={"kubeconfig": str(kubeconfig), "context": "sandbox", "api_server": sandbox.url},
                     guards=g, backup={"enabled": True, "dir": str(env_dir.parent / "backups"), "keep": 50},
                     releases=[APP])


@pytest.fixture
def fenv(tmp_path: Path, kubeconfig: Path, sandbox: Any) -> Path:
    """Environments folder with `fstg` (staging-like, no guards) and `fprod` (production-like)."""
    d = tmp_path / "environments"
    write_env(d, "fstg", kubeconfig)
    prod_env(d, kubeconfig, sandbox)
    return d


@pytest.fixture
def prod(fenv: Path) -> Iterator[release.Target]:
    with release.connect(load_environment("fprod", fenv)) as t:
        yield t


def cli_env(env_dir: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, PRJDEVOPS_ENVIRONMENTS=str(env_dir), **extra)


def cli(args: list[str], env_dir: Path, *, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "invoke"
    return subprocess.run([str(exe), *args], cwd=REPO, env=cli_env(env_dir, **extra), capture_output=True,
                          text=True, timeout=timeout, check=False)


def start_cli(args: list[str], env_dir: Path, **extra: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "invoke"
    return subprocess.Popen([str(exe), *args], cwd=REPO, env=cli_env(env_dir, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


RETRY_NOTE = re.compile(r"^  Kubernetes API at \S+: .*; trying again in \d+\.\ds$")


def one_line_error(out: subprocess.CompletedProcess[str] | tuple[int, str, str], code: int, *fragments: str,
                   problems: bool = False) -> str:
    """The run exited ``code`` with exactly one non-empty stderr line containing ``fragments``; no traceback.
    ``problems``: an invalid environment file is one line plus one indented line per problem (all reported)."""
    if isinstance(out, tuple):
        rc, stdout, stderr = out
    else:
        rc, stdout, stderr = out.returncode, out.stdout, out.stderr
    assert rc == code, (rc, stdout[-2000:], stderr)
    # Helm's embedded Kubernetes client (client-go) logs a failed API request it will retry or ignore on stderr
    # by itself, e.g. `E1129 20:55:47.439224 1322 memcache.go:287] "Unhandled Error" ...`: not the tool's output.
    # The tool's own progress of a status command (on stderr, its stdout being the answer) is not an error line:
    # `  Kubernetes API at URL: no answer (connection refused) to GET /version for 3s; trying again in 0.4s`.
    lines = [line for line in stderr.splitlines() if line.strip() and not KLOG.match(line)
             and not RETRY_NOTE.match(line)]
    if problems:
        assert lines[0].startswith("error: ") and all(line.startswith("  ") for line in lines[1:]), stderr
        lines = [" ".join(lines)]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr + stdout
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def wait_for_status(target: release.Target, wanted: str, timeout: float = 60,
                    proc: subprocess.Popen[str] | None = None) -> None:
    """Wait until plate-web's newest revision is ``wanted``. ``proc``: the run expected to get it there; when it ends
    first, the failure shows what it printed (the run's own timeouts here are 60 s or more: a loaded machine can take
    tens of seconds to reach Helm's write)."""
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = target.helm.status("plate-web", namespace="plate-web")
        if info is not None and info.status == wanted:
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before plate-web reached {wanted}:\n{out}\n{err}")
        time.sleep(0.1)
    pytest.fail(f"plate-web never reached {wanted} in {timeout:.0f}s (newest revision: "
                f"{info.revision if info else None} {info.status if info else 'none'})")


def backups_intact(target: release.Target, at_least: int = 0) -> int:
    """Every backup of the release verifies against its checksums, and no partial folder is left."""
    rel = target.env.release("plate-web")
    records = backups.listing(target.env, rel)
    for rec in records:
        backups.verify(rec)
    folder = backups.release_dir(target.env, rel)
    partial = [p.name for p in folder.iterdir() if p.name.startswith(".partial-")] if folder.is_dir() else []
    assert not partial, partial
    assert len(records) >= at_least, records
    return len(records)


def lock_free_or_expiring(target: release.Target, *, must_be_free: bool = True) -> None:
    """The deploy Lease is gone, or (when a run could not delete it) will expire by itself."""
    lease = target.kube.get_or_none("read lease", target.kube.coordination().read_namespaced_lease,
                                    lease_name(target.env.name), LEASE_NAMESPACE)
    if lease is None:
        return
    assert not must_be_free, f"lease still held by {lease.spec.holder_identity}"
    renewed = lease.spec.renew_time or lease.spec.acquire_time
    expires = renewed.timestamp() + int(lease.spec.lease_duration_seconds)
    assert datetime.now(UTC).timestamp() < expires <= datetime.now(UTC).timestamp() + 900


def recoverable(target: release.Target, env_dir: Path) -> None:
    """The release is deployed or failed (a next deploy works), or pending and `prod.deploy --recover` fixes it;
    either way a deploy afterwards ends deployed."""
    info = target.helm.status("plate-web", namespace="plate-web")
    if info is not None and info.status.startswith("pending"):
        out = cli(["prod.deploy", "--env", target.env.name, "--yes", "--recover"], env_dir)
        assert out.returncode == 0, out.stderr
        info = target.helm.status("plate-web", namespace="plate-web")
    assert info is None or info.status in ("deployed", "failed", "superseded"), info
    again = cli(["prod.deploy", "--env", target.env.name, "--yes"], env_dir)
    assert again.returncode == 0, again.stderr
    final = target.helm.status("plate-web", namespace="plate-web")
    assert final is not None and final.status == "deployed"


def interrupt(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err
