"""Soak: consecutive upgrade/rollback cycles of plate-web against the sandbox with a share of API answers failing.

Run: ``.venv/bin/python bench/soak.py [--cycles 200] [--ratio 0.05] [--cluster sandbox|real] [--tracemalloc]``.
The sandbox runs as its own process (so the memory figure is the tool's alone) with ``Fault(kind="error",
status=503, ratio=RATIO)`` on every API request; ``--cluster real`` runs against the real control plane
(``controlplane/``), which has no fault injection: no 503s are injected there (the line says so). Each
cycle is the production flow twice: a guarded deploy of a changed value (lock, backup first, health gate, verified
automatic rollback on failure; ``recover_stuck`` so a revision left pending by a failed run is rolled back first),
then ``prod.rollback`` to the previous revision (backup first, verified). Prints successes and failures (with the
first words of each distinct error), that every backup taken is still there and verifies against its checksums,
the seconds per cycle (mean, median, slowest) and the tool process's RSS at start, after the first cycle (Helm's
native library and clients loaded), after cycle 10 (warm-up) and at the end. Targets (issue 21): every upgrade and
rollback succeeds, at most 5 s a cycle, RSS growth under 5% from cycle 10 to the end. ``--tracemalloc``: also the
Python allocations that grew most from cycle 10 to the end (slower; for finding a leak, not for the figures).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import signal
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# bench/ holds a platform.py that would shadow the standard library's `platform` module
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from kubesandbox import lifecycle  # noqa: E402
from prjdevops import backup as backups  # noqa: E402
from prjdevops.environments import load_environment  # noqa: E402
from prjdevops.errors import DeployError  # noqa: E402
from prjdevops.ops import production, release  # noqa: E402


def rss_mib(field: str = "VmRSS") -> float:
    """The tool's resident memory (``RssAnon``: its heaps, Python's and Helm's Go runtime's; ``RssFile``: mapped
    files, mostly the pages of Helm's native library that have run so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_fault(url: str, fault: dict[str, object]) -> None:
    req = urllib.request.Request(f"{url}/sandbox/faults", data=json.dumps(fault).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


@contextlib.contextmanager
def cluster(kind: str, work: Path) -> Iterator[tuple[Path, str, bool]]:
    """(kubeconfig with context ``sandbox``, API URL, whether faults can be injected)."""
    if kind == "sandbox":
        info = lifecycle.up(work / "sandbox", port=free_port())
        try:
            yield Path(info.kubeconfig), info.url, True
        finally:
            lifecycle.down(work / "sandbox")
        return
    from controlplane.launcher import ControlPlane

    with ControlPlane() as cp:
        yield cp.write_kubeconfig(work / "real.kubeconfig", context="sandbox"), cp.url, False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--ratio", type=float, default=0.05, help="share of API requests answered 503 (sandbox)")
    ap.add_argument("--cluster", choices=("sandbox", "real"), default="sandbox")
    ap.add_argument("--tracemalloc", action="store_true", help="print the Python allocations that grew most")
    ap.add_argument("--verbose", action="store_true", help="print the flow's lines of every failed operation")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))  # stop the cluster too
    rss_start = rss_mib()
    if args.tracemalloc:
        tracemalloc.start(8)
    work = Path(tempfile.mkdtemp(prefix="prjdevops-soak-"))
    with cluster(args.cluster, work) as (kubeconfig, url, faults):
        return run(args, work, kubeconfig, url, faults, rss_start)


def run(args: argparse.Namespace, work: Path, kubeconfig: Path, url: str, faults: bool, rss_start: float) -> int:
    ratio = args.ratio if faults else 0.0
    # kube-controller-manager and kwok roll three replicas in tens of seconds on a loaded machine, the sandbox in one
    wait = 8 if faults else 60
    envs = work / "environments"
    envs.mkdir()
    chart = REPO / "helm" / "applications" / "plate-web"
    (envs / "soak.yaml").write_text(yaml.safe_dump({
        "name": "soak", "cluster": {"kubeconfig": str(kubeconfig), "context": "sandbox",
                                    "api_server": url},
        "guards": {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True,
                   "forbid_latest_tag": True, "lock": True, "health_timeout": wait, "rollback_timeout": wait},
        "backup": {"enabled": True, "dir": str(work / "backups"), "keep": 100_000},
        "namespaces": ["plate-web"],
        "releases": [{"name": "plate-web", "chart": str(chart), "namespace": "plate-web",
                      "values": ["values-prod.yaml"], "timeout": wait}]}))
    env = load_environment("soak", envs)
    rel = env.release("plate-web")
    yes = production.Interaction(yes=True)
    outcomes: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    backups_taken = 0
    with release.connect(env) as target:
        production.guarded_deploy(target, release.prepare(env, "plate-web"), io=yes)  # revision 1, no faults
        if ratio:
            add_fault(url, {"kind": "error", "status": 503, "ratio": ratio})
        started = time.monotonic()
        rss_warm = rss_10 = 0.0
        split_10 = (0.0, 0.0)
        snap10 = None
        seconds: list[float] = []
        for cycle in range(1, args.cycles + 1):
            cycle_started = time.monotonic()
            for op in ("upgrade", "rollback"):
                lines: list[str] = []
                try:
                    if op == "upgrade":
                        prep = release.prepare(env, "plate-web", sets=[f"config.SOAK_CYCLE=c{cycle}"])
                        production.guarded_deploy(target, prep, io=yes, report=lines.append, recover_stuck=True)
                    else:
                        production.manual_rollback(target, release.prepare(env, "plate-web"), revision=None,
                                                   io=yes, report=lines.append)
                    outcomes[f"{op} ok"] += 1
                except DeployError as e:
                    outcomes[f"{op} failed"] += 1
                    errors[f"{op}: {type(e).__name__}: {str(e)[:110]}"] += 1
                    if args.verbose:
                        print(f"--- cycle {cycle} {op} failed: {e}", *lines, sep="\n", flush=True)
                backups_taken += sum(line.startswith("backup of revision") for line in lines)
            seconds.append(time.monotonic() - cycle_started)
            if cycle == 10:
                rss_10 = rss_mib()
                split_10 = rss_mib("RssAnon"), rss_mib("RssFile")
                snap10 = tracemalloc.take_snapshot() if args.tracemalloc else None
            if cycle == 1:
                rss_warm = rss_mib()
                print(f"cycle 1 took {time.monotonic() - started:.1f}s; estimate for {args.cycles} cycles: "
                      f"{(time.monotonic() - started) * args.cycles / 60:.0f} min", flush=True)
            if cycle % 10 == 0:
                el = time.monotonic() - started
                left = el / cycle * (args.cycles - cycle)
                print(f"cycle {cycle}: {dict(outcomes)} {el:.0f}s elapsed, ~{left:.0f}s left, "
                      f"RSS {rss_mib():.1f} MiB", flush=True)
        elapsed = time.monotonic() - started
    records = backups.listing(env, rel)
    bad = []
    for r in records:
        try:
            backups.verify(r)
        except DeployError as e:
            bad.append(str(e))
    rss_end = rss_mib()
    grown = tracemalloc.take_snapshot().compare_to(snap10, "traceback")[:8] if snap10 is not None else []
    print()
    faults_text = f"503 on {ratio:.0%} of API requests" if faults else \
        "no injected faults (a real kube-apiserver has no fault injection)"
    print(f"cluster           {args.cluster} ({url})")
    print(f"cycles            {args.cycles} upgrade+rollback, {faults_text}, "
          f"{elapsed:.0f}s ({elapsed / args.cycles:.1f}s per cycle; target <= 5s)")
    print(f"seconds a cycle   mean {statistics.fmean(seconds):.2f}, median {statistics.median(seconds):.2f}, "
          f"slowest {max(seconds):.2f} (cycle {seconds.index(max(seconds)) + 1})")
    for key in ("upgrade ok", "upgrade failed", "rollback ok", "rollback failed"):
        print(f"{key:<17} {outcomes[key]}")
    for text, n in errors.most_common():
        print(f"  {n} x {text}")
    print(f"backups           {backups_taken} taken, {len(records)} on disk, {len(records) - len(bad)} verify "
          f"(checksums); lost: {max(0, backups_taken - len(records))}; corrupt: {len(bad)}")
    base = rss_10 or rss_warm
    growth = (rss_end - base) / base * 100 if base else 0.0
    since = "cycle 10" if rss_10 else "cycle 1"
    print(f"RSS (tool)        start {rss_start:.1f} MiB, after cycle 1 {rss_warm:.1f} MiB, after cycle 10 "
          f"{rss_10:.1f} MiB, end {rss_end:.1f} MiB ({growth:+.1f}% since {since}; target < +5%)")
    if rss_10:
        anon, files = rss_mib("RssAnon"), rss_mib("RssFile")
        print(f"  of which        anon (heaps) {split_10[0]:.1f} -> {anon:.1f} MiB "
              f"({(anon - split_10[0]) / split_10[0] * 100:+.1f}%), file-backed {split_10[1]:.1f} -> "
              f"{files:.1f} MiB, from cycle 10 to the end")
    for stat in grown:
        print(f"  grew since cycle 10: {stat.size_diff / 1024:+.1f} KiB in {stat.count_diff:+d} blocks at "
              + " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in reversed(stat.traceback)))
    ok = (not bad and backups_taken == len(records) and growth < 5 and outcomes["upgrade ok"] == args.cycles
          and outcomes["rollback ok"] == args.cycles and elapsed / args.cycles <= 5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
