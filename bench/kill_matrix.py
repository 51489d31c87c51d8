"""kill -9 matrix: SIGKILL a production deploy at N points and recover each with one documented command.

Run: ``.venv/bin/python bench/kill_matrix.py [--points 30] [--cluster sandbox|real] [--signal kill|int]``. The
sandbox runs in its own process (``--cluster real``: the real control plane of ``controlplane/``, etcd +
kube-apiserver + controllers + kwok, already built); the tool is the real CLI (``invoke prod.deploy --env kprod
--yes``) on a production-like environment (every guard, backups, the deploy Lease). A first deploy measures how long
a deploy of a changed image tag takes from the moment the CLI has loaded its tasks; then, for each point i of N, a
deploy is started and killed with SIGKILL at i/N of that length (the phases it lands in: guards and Lease, plan,
backup, Helm upgrade, health wait — and, for every third point, a deploy whose pods never get ready, so the kill
lands in the health wait or the automatic rollback: on the sandbox its ``never_ready`` fault; on the real control
plane, which has no fault injection, a real cause instead: a ``nodeSelector`` no node matches, so kube-scheduler
leaves the new pods Pending). After each kill the documented recovery runs: ``invoke prod.deploy --env kprod --yes``
again, with ``--recover`` when the release was left ``pending-*`` (docs/troubleshooting.md). The matrix prints, per
point: where the kill landed (release state and Lease holder right after it), the recovery command and its exit
code, the release's final state and health, and that every backup on disk verifies against its checksums. Exit 1 if
any point did not recover. ``--signal int``: SIGINT (Ctrl-C) at the same points instead: the tool cancels Helm,
records the revision and frees the Lease itself; the same recovery follows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from kubesandbox import lifecycle  # noqa: E402
from prjdevops import backup as backups  # noqa: E402
from prjdevops.environments import load_environment  # noqa: E402
from prjdevops.ops import production, release  # noqa: E402
from prjdevops.ops.lock import LEASE_NAMESPACE, Holding, lease_name  # noqa: E402

INVOKE = Path(sys.executable).parent / "invoke"
CHART = REPO / "helm" / "applications" / "plate-web"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fault(url: str, body: dict[str, object] | None) -> None:
    """Add a fault, or clear them all (``None``)."""
    if body is None:
        req = urllib.request.Request(f"{url}/sandbox/faults", method="DELETE")
    else:
        req = urllib.request.Request(f"{url}/sandbox/faults", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


@dataclass
class Backend:
    kubeconfig: Path
    url: str
    faults: bool  # the sandbox's fault injection (/sandbox/faults) is there


@contextlib.contextmanager
def backend(kind: str, work: Path) -> Iterator[Backend]:
    """The cluster the matrix runs against, context ``sandbox`` in its kubeconfig either way."""
    if kind == "sandbox":
        info = lifecycle.up(work / "sandbox", port=free_port())
        try:
            yield Backend(Path(info.kubeconfig), info.url, True)
        finally:
            lifecycle.down(work / "sandbox")
        return
    from controlplane.launcher import ControlPlane

    with ControlPlane() as cp:
        yield Backend(cp.write_kubeconfig(work / "real.kubeconfig", context="sandbox"), cp.url, False)


UNSCHEDULABLE = "nodeSelector.prjdevops-kill-matrix=no-such-node"


def tasks_loaded(proc: subprocess.Popen[str], timeout: float = 60) -> float:
    """When the CLI has loaded tasks.py (it then catches SIGTERM); before that it is Python importing Invoke."""
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
    return time.monotonic()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=30)
    ap.add_argument("--cluster", choices=("sandbox", "real"), default="sandbox")
    ap.add_argument("--signal", choices=("kill", "int"), default="kill",
                    help="SIGKILL (kill -9, the default) or SIGINT (Ctrl-C: the tool cancels Helm and frees the Lease)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kill-matrix-"))
    with backend(args.cluster, work) as be:
        return run(args, work, be)


def run(args: argparse.Namespace, work: Path, be: Backend) -> int:
    url = be.url
    env_dir = work / "environments"
    env_dir.mkdir()
    doc = {"name": "kprod", "cluster": {"kubeconfig": str(be.kubeconfig), "context": "sandbox", "api_server": url},
           "guards": {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True,
                      "forbid_latest_tag": True, "lock": True, "lease_seconds": 30, "health_timeout": 20,
                      "rollback_timeout": 30},
           "backup": {"enabled": True, "dir": str(work / "backups"), "keep": 1000},
           "namespaces": ["plate-web"],
           "releases": [{"name": "plate-web", "chart": str(CHART), "namespace": "plate-web",
                         "values": ["values-prod.yaml"], "timeout": 20}]}
    (env_dir / "kprod.yaml").write_text(yaml.safe_dump(doc))
    cli_env = dict(os.environ, PRJDEVOPS_ENVIRONMENTS=str(env_dir), PRJDEVOPS_LOOPBACK_ONLY="1")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(INVOKE), *argv], cwd=REPO, env=cli_env, capture_output=True, text=True,
                              timeout=300, check=False)

    deploy = ["prod.deploy", "--env", "kprod", "--yes"]
    print(f"cluster: {args.cluster} ({url})" + ("" if be.faults else
          f"; never-ready points: {UNSCHEDULABLE} (no fault injection on a real cluster)"), flush=True)
    first = cli(*deploy)
    assert first.returncode == 0, first.stderr
    timing = subprocess.Popen([str(INVOKE), *deploy, "--set", "image.tag=1.5.0"], cwd=REPO, env=cli_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    t0 = tasks_loaded(timing)
    timing.wait(timeout=300)
    length = time.monotonic() - t0
    sig = signal.SIGKILL if args.signal == "kill" else signal.SIGINT
    print(f"a deploy takes {length:.1f}s after the CLI loaded its tasks; {args.points} {sig.name} points over it")
    target = release.connect(load_environment("kprod", env_dir))
    rows = []
    failures = 0
    for i in range(args.points):
        tag = f"2.0.{i}"
        never_ready = i % 3 == 2
        extra: list[str] = []
        if never_ready and be.faults:  # the kill lands in the health wait or the automatic rollback
            fault(url, {"kind": "never_ready", "namespace": "plate-web",
                        "label_selector": f"app.kubernetes.io/version={tag}"})
        elif never_ready:
            extra = ["--set", UNSCHEDULABLE]
        proc = subprocess.Popen([str(INVOKE), *deploy, "--set", f"image.tag={tag}", *extra], cwd=REPO,
                                env=cli_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        tasks_loaded(proc)
        at = length * (i + 0.5) / args.points * (2.0 if never_ready else 1.0)
        time.sleep(at)
        killed = proc.poll() is None
        proc.send_signal(sig)
        proc.wait(timeout=300)  # a Ctrl-C'd deploy cancels Helm and waits for it to record the revision
        stop_exit = "" if sig == signal.SIGKILL else f", exit {proc.returncode}"
        if never_ready and be.faults:
            fault(url, None)
        live = target.helm.status("plate-web", namespace="plate-web")
        held = Holding.of(target.kube.read_lease(lease_name("kprod"), LEASE_NAMESPACE))
        state = live.status if live else "none"
        recovery = [*deploy, "--set", f"image.tag={tag}"]
        if state.startswith("pending"):
            recovery.append("--recover")
        t1 = time.monotonic()
        out = cli(*recovery)
        seconds = time.monotonic() - t1
        final = target.helm.status("plate-web", namespace="plate-web")
        prep = release.prepare(target.env, "plate-web")
        healthy = production.health_now(target, prep).healthy
        recs = backups.listing(target.env, target.env.release("plate-web"))
        for rec in recs:
            backups.verify(rec)
        lease_after = target.kube.read_lease(lease_name("kprod"), LEASE_NAMESPACE)
        ok = (out.returncode == 0 and final is not None and final.status == "deployed" and healthy
              and tag in final.manifest and lease_after is None)
        failures += not ok
        rows.append([i + 1, f"{at:.1f}s" + (" (never ready)" if never_ready else ""),
                     ("yes" if killed else "after it ended") + stop_exit, state,
                     "held (dead holder)" if held else "free",
                     " ".join(recovery[3:]) or "rerun", out.returncode, f"{seconds:.1f}s",
                     f"{final.status if final else 'none'} r{final.revision if final else 0}",
                     "healthy" if healthy else "NOT healthy", len(recs), "free" if lease_after is None else "HELD",
                     "ok" if ok else "FAILED: " + (out.stderr.strip().splitlines() or ["?"])[-1][:80]])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    head = ["#", "kill at", "killed", "left", "lease left", "recovery", "exit", "took", "final", "health",
            "backups (all verify)", "lease after", "result"]
    print()
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(c) for c in r))
    recovered = args.points - failures
    print(f"\n{recovered}/{args.points} deploys stopped by {sig.name} recovered with one command; every backup on "
          "disk verifies "
          f"({len(backups.listing(target.env, target.env.release('plate-web')))} backups, 0 corrupt)")
    target.close()
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
