"""Platform benchmark (``invoke deploy``): plan time of a 30-release platform, and the tool's overhead over bare
Helm SDK calls.

1. Plan: an environment of 30 releases (stand-in library charts from the loopback repository, each in its own
   namespace, plus the in-repo plate-web) against an empty sandbox, with the API server validating every release
   (server-side dry run): the wall time of ``platform.build_plan``. Target < 3 s.
2. Overhead: the same install of 10 releases by the tool (``platform.build_plan`` + ``platform.deploy``: guards,
   plan, Lease, health gate, run record, recap) vs a bare loop of ``HelmClient.upgrade_install(wait="watcher")``
   through the adapter; one run each, each on a fresh sandbox in its own process (``--in-process``: in the
   benchmark's process). Target ratio <= 1.15.

Charts are pulled once before anything is timed (pulls are not what is measured).

Run: ``.venv/bin/python bench/whole_platform.py [--releases 30] [--installs 10] [--profile]``
"""

# ruff: noqa: E402  (sys.path is fixed before the imports, see below)
from __future__ import annotations

import sys

# This file is named like the standard library's `platform` (which uuid imports): run as a script, its own folder
# comes first on sys.path and would shadow it. Drop that folder before anything else is imported.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rsplit("/", 1)[0])]

import argparse
import contextlib
import cProfile
import os
import pstats
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kubesandbox import Sandbox, lifecycle
from prjdevops.chartrepo import ChartRepository, build_repository, standin_sources
from prjdevops.environments import load_environment, project_root
from prjdevops.ops import libraries as libs
from prjdevops.ops import platform
from prjdevops.ops.production import Interaction
from prjdevops.ops.release import connect

CHARTS = [("jenkins", "5.7.21"), ("argo-cd", "7.7.11"), ("metallb", "0.14.9"), ("harbor", "24.1.2")]


def write_env(folder: Path, name: str, kubeconfig: Path, repo_url: str, libraries: int, *, app: bool,
              charts: list[tuple[str, str]]) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    releases: list[dict[str, Any]] = []
    for i in range(libraries):
        chart, version = charts[i % len(charts)]
        releases.append({"name": f"{chart}-{i}", "chart": chart, "repo": repo_url, "version": version,
                         "namespace": f"ns-{i}", "group": "dev-tools", "timeout": 120})
    if app:
        releases.append({"name": "plate-web", "chart": str(project_root() / "helm/applications/plate-web"),
                         "namespace": "plate-web", "values": ["values-stg.yaml"], "timeout": 120})
    doc = {"cluster": {"kubeconfig": str(kubeconfig), "context": "sandbox"}, "guards": {"lock": True},
           "releases": releases}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    return load_environment(name, folder)


def bench_plan(work: Path, repo_url: str, releases: int, profile: bool, *, in_process: bool = True
               ) -> tuple[float, int]:
    with cluster(work, "plan", in_process=in_process) as kubeconfig:
        env = write_env(work / "plan-envs", "plan", kubeconfig, repo_url, releases - 1,
                        app=True, charts=CHARTS[:2])  # no CRD charts twice: CRDs have one owner per cluster
        with connect(env) as target:
            platform.build_plan(target, cache_dir=work / "cache")  # warm: pull every chart once, untimed
        with connect(env) as target:
            prof = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if prof:
                prof.enable()
            planned = platform.build_plan(target, cache_dir=work / "cache", server_dry_run=True)
            took = time.perf_counter() - started
            if prof:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    validated = sum(e.validation == "server" for e in planned.plan.entries)
    return took, validated


@contextlib.contextmanager
def cluster(work: Path, name: str, *, in_process: bool) -> Iterator[Path]:
    """A fresh sandbox and its kubeconfig: in its own process (as ``invoke sandbox.up`` runs it, like any API server
    the tool talks to), or in this process (then it competes with the tool for this interpreter's GIL)."""
    if in_process:
        with Sandbox(port=0, pod_ready_delay=0.05) as sb:
            yield sb.write_kubeconfig(work / f"kc-{name}")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = Path(tempfile.mkdtemp(prefix=f"sandbox-{name}-", dir=work))  # fresh state every time
    info = lifecycle.up(home, port=port)
    try:
        yield info.kubeconfig
    finally:
        lifecycle.down(home)


def bench_overhead(work: Path, repo_url: str, installs: int, *, in_process: bool = False) -> tuple[float, float]:
    # the tool: plan + guarded, recorded, health-gated deploy of every release
    with cluster(work, "tool", in_process=in_process) as kubeconfig:
        env = write_env(work / "tool-envs", "tool", kubeconfig, repo_url, installs, app=False, charts=CHARTS[:1])
        with connect(env) as target:
            started = time.perf_counter()
            planned = platform.build_plan(target, cache_dir=work / "cache")
            result = platform.deploy(target, planned, io=Interaction(yes=True), cache_dir=work / "cache",
                                     runs=work / "runs")
            tool = time.perf_counter() - started
        if result.failed or result.recap.counts()["changed"] != installs:
            raise SystemExit("tool run failed:\n" + "\n".join(result.recap.lines()))
    # the bare loop: the same charts and values, one upgrade_install after another, Helm waiting
    with cluster(work, "bare", in_process=in_process) as kubeconfig:
        env = write_env(work / "bare-envs", "bare", kubeconfig, repo_url, installs, app=False, charts=CHARTS[:1])
        preps = [libs.prepare(env, r.name, work / "cache") for r in env.releases]  # values layered, untimed
        with connect(env) as target:
            started = time.perf_counter()
            for prep in preps:
                rel = prep.release
                target.helm.upgrade_install(rel.chart, rel.name, prep.values.values, namespace=rel.namespace,
                                            wait="watcher", timeout=rel.timeout)
            bare = time.perf_counter() - started
    return tool, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--releases", type=int, default=30)
    parser.add_argument("--installs", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile the plan")
    parser.add_argument("--plan-only", action="store_true", help="measure the plan only (no install comparison)")
    parser.add_argument("--plan-sandbox-process", action="store_true",
                        help="plan against a sandbox in its own process (as invoke sandbox.up runs it)")
    parser.add_argument("--in-process", action="store_true",
                        help="overhead run against a sandbox in this process instead of its own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-platform-") as tmp:
        work = Path(tmp)
        os.environ[platform.RUNS_ENV] = str(work / "runs")
        build_repository(standin_sources(), work / "repo")
        with ChartRepository(work / "repo") as repo:
            plan_s, validated = bench_plan(work, repo.url, args.releases, args.profile,
                                           in_process=not args.plan_sandbox_process)
            if not args.plan_only:
                tool, bare = bench_overhead(work, repo.url, args.installs, in_process=args.in_process)
    print(f"plan of {args.releases} releases ({args.releases - 1} stand-in library releases + plate-web), empty "
          f"sandbox, {validated} validated by server-side dry run: {plan_s:.2f} s (target < 3 s) "
          f"{'OK' if plan_s < 3 else 'ABOVE TARGET'}")
    if args.plan_only:
        return
    ratio = tool / bare
    where = "sandbox in this process" if args.in_process else "sandbox in its own process"
    print(f"install of {args.installs} releases ({where}): tool (plan + deploy) {tool:.2f} s, bare Helm SDK loop "
          f"{bare:.2f} s, ratio {ratio:.2f} (target <= 1.15) {'OK' if ratio <= 1.15 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
