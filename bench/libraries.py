"""Libraries benchmark: 10 independent stand-in releases, sequential vs ``--concurrency 4``.

The sandbox answers every API request 50 ms late (its latency fault), like a remote cluster; charts come from
the loopback stand-in repository through real Helm. Each run starts from an empty sandbox and a warm chart
cache (pulls are not what is measured). Target: concurrency 4 at least 2.5x faster.

Run: ``.venv/bin/python bench/libraries.py [--latency 0.05] [--releases 10] [--concurrency 4]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from kubesandbox import Fault, Sandbox
from prjdevops.chartrepo import ChartRepository, build_repository, standin_sources
from prjdevops.environments import load_environment
from prjdevops.ops import libraries as ops
from prjdevops.ops.release import connect


def run_once(work: Path, repo_url: str, *, releases: int, concurrency: int, latency: float) -> float:
    with Sandbox(port=0, pod_ready_delay=0.05) as sb:
        kubeconfig = sb.write_kubeconfig(work / f"kubeconfig-{concurrency}")
        envs = work / f"envs-{concurrency}"
        envs.mkdir(exist_ok=True)
        doc = {"cluster": {"kubeconfig": str(kubeconfig), "context": "sandbox"},
               "releases": [{"name": f"tool-{i}", "chart": "jenkins", "repo": repo_url, "version": "5.7.21",
                             "namespace": f"tool-{i}", "group": "dev-tools", "timeout": 120}
                            for i in range(releases)]}
        (envs / "bench.yaml").write_text(yaml.safe_dump(doc))
        env = load_environment("bench", envs)
        with connect(env) as target:
            selection = ops.order(env)
            ops.plan(target, selection, cache_dir=work / "cache")  # warm the chart cache, outside the timing
            sb.faults.add(Fault(kind="latency", seconds=latency))
            started = time.perf_counter()
            recap = ops.deploy(target, selection, concurrency=concurrency, cache_dir=work / "cache")
            took = time.perf_counter() - started
        if recap.failed or recap.counts()["changed"] != releases:
            raise SystemExit("benchmark run failed:\n" + "\n".join(recap.lines()))
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every API request")
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-libraries-") as tmp:
        work = Path(tmp)
        build_repository(standin_sources(), work / "repo")
        with ChartRepository(work / "repo") as repo:
            sequential = run_once(work, repo.url, releases=args.releases, concurrency=1, latency=args.latency)
            parallel = run_once(work, repo.url, releases=args.releases, concurrency=args.concurrency,
                                latency=args.latency)
    ratio = sequential / parallel
    print(f"{args.releases} independent stand-in releases, sandbox API latency {args.latency * 1000:.0f} ms")
    print(f"  sequential (--concurrency 1): {sequential:6.2f} s")
    print(f"  --concurrency {args.concurrency}:             {parallel:6.2f} s")
    print(f"  speed-up: {ratio:.2f}x (target >= 2.5x) {'OK' if ratio >= 2.5 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
