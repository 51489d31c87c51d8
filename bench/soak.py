"""Soak: consecutive upgrade/rollback cycles of plate-web against the sandbox with a share of API answers failing.

Run: ``.venv/bin/python bench/soak.py [--cycles 200] [--ratio 0.05]``. The sandbox runs as its own process (so the
memory figure is the tool's alone) with ``Fault(kind="error", status=503, ratio=RATIO)`` on every API request. Each
cycle is the production flow twice: a guarded deploy of a changed value (lock, backup first, health gate, verified
automatic rollback on failure; ``recover_stuck`` so a revision left pending by a failed run is rolled back first),
then ``prod.rollback`` to the previous revision (backup first, verified). Prints successes and failures (with the
first words of each distinct error), that every backup taken is still there and verifies against its checksums,
and the tool process's RSS at start, after the first cycle (Helm's native library and clients loaded) and at the
end. Target: RSS growth under 10% from the first cycle to the end.
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import socket
import sys
import tempfile
import time
import urllib.request
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


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--ratio", type=float, default=0.05, help="share of API requests answered 503")
    ap.add_argument("--verbose", action="store_true", help="print the flow's lines of every failed operation")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))  # stop the sandbox too
    rss_start = rss_mib()
    work = Path(tempfile.mkdtemp(prefix="prjdevops-soak-"))
    info = lifecycle.up(work / "sandbox", port=free_port())
    try:
        envs = work / "environments"
        envs.mkdir()
        chart = REPO / "helm" / "applications" / "plate-web"
        (envs / "soak.yaml").write_text(yaml.safe_dump({
            "name": "soak", "cluster": {"kubeconfig": str(info.kubeconfig), "context": "sandbox",
                                        "api_server": info.url},
            "guards": {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True,
                       "forbid_latest_tag": True, "lock": True, "health_timeout": 8, "rollback_timeout": 8},
            "backup": {"enabled": True, "dir": str(work / "backups"), "keep": 100_000},
            "namespaces": ["plate-web"],
            "releases": [{"name": "plate-web", "chart": str(chart), "namespace": "plate-web",
                          "values": ["values-prod.yaml"], "timeout": 8}]}))
        env = load_environment("soak", envs)
        rel = env.release("plate-web")
        yes = production.Interaction(yes=True)
        outcomes: collections.Counter[str] = collections.Counter()
        errors: collections.Counter[str] = collections.Counter()
        backups_taken = 0
        with release.connect(env) as target:
            production.guarded_deploy(target, release.prepare(env, "plate-web"), io=yes)  # revision 1, no faults
            add_fault(info.url, {"kind": "error", "status": 503, "ratio": args.ratio})
            started = time.monotonic()
            rss_warm = 0.0
            for cycle in range(1, args.cycles + 1):
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
        print()
        print(f"cycles            {args.cycles} upgrade+rollback, 503 on {args.ratio:.0%} of API requests, "
              f"{elapsed:.0f}s ({elapsed / args.cycles:.1f}s per cycle)")
        for key in ("upgrade ok", "upgrade failed", "rollback ok", "rollback failed"):
            print(f"{key:<17} {outcomes[key]}")
        for text, n in errors.most_common():
            print(f"  {n} x {text}")
        print(f"backups           {backups_taken} taken, {len(records)} on disk, {len(records) - len(bad)} verify "
              f"(checksums); lost: {max(0, backups_taken - len(records))}; corrupt: {len(bad)}")
        growth = (rss_end - rss_warm) / rss_warm * 100 if rss_warm else 0.0
        print(f"RSS (tool)        start {rss_start:.1f} MiB, after cycle 1 {rss_warm:.1f} MiB, end {rss_end:.1f} MiB "
              f"({growth:+.1f}% since cycle 1; target < +10%)")
        return 0 if not bad and backups_taken == len(records) and growth < 10 else 1
    finally:
        lifecycle.down(work / "sandbox")


if __name__ == "__main__":
    sys.exit(main())
