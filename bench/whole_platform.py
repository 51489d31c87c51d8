"""Platform benchmark (``invoke deploy``): plan time of a 30-release platform, and the tool's overhead over bare
Helm SDK calls.

1. Plan: an environment of 30 releases (stand-in library charts from the loopback repository, each in its own
   namespace, plus the in-repo plate-web) against an empty sandbox, with the API server validating every release
   (server-side dry run): the wall time of ``platform.build_plan``. Target < 3 s.
2. Overhead: the same install of 10 releases by the tool (``platform.build_plan`` + ``platform.deploy``: guards,
   plan, Lease, health gate, run record, recap) vs a bare loop of ``HelmClient.upgrade_install(wait="watcher")``
   through the adapter; one run each, each on a fresh sandbox in its own process (``--in-process``: in the
   benchmark's process). Target ratio <= 1.15.

Charts are pulled once before anything is timed (pulls are not what is measured). Beside the wall time the plan
prints the CPU seconds it took (this process: the tool, Helm's Go code, the loopback proxy Helm talks through, and
the sandbox when it runs in this process; the sandbox's own process separately) and the load average: on a
shared, loaded machine the wall time mostly measures the wait for a core, the CPU seconds the work.

``--cluster real`` plans against the real control plane (``controlplane.launcher.ControlPlane``: etcd,
kube-apiserver, controllers, kwok; built once by ``python -m controlplane.build``) instead of the sandbox; the
install comparison needs the sandbox (its stand-ins' volumes and load balancers have no provisioner on kwok), so
it is skipped there.

Run: ``.venv/bin/python bench/whole_platform.py [--releases 30] [--installs 10] [--profile] [--plan-only]
[--cluster sandbox|real]``
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
import resource
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class PlanFigures:
    seconds: float  # wall time of platform.build_plan
    validated: int  # releases the API server validated (server-side dry run)
    cpu: float  # CPU seconds of this process during the plan
    server_cpu: float | None  # CPU seconds of the API server's own process (None: it runs in this one)
    load: tuple[float, float]  # 1-minute load average before and after
    bare: float  # wall time of the same releases' Helm server-side dry runs alone (bare Helm SDK, no tool)
    bare_cpu: float  # CPU seconds of this process during them


def bench_plan(work: Path, repo_url: str, releases: int, profile: bool, *, in_process: bool = True,
               backend: str = "sandbox") -> PlanFigures:
    with cluster(work, "plan", in_process=in_process, backend=backend) as (kubeconfig, server_pid):
        env = write_env(work / "plan-envs", "plan", kubeconfig, repo_url, releases - 1,
                        app=True, charts=CHARTS[:2])  # no CRD charts twice: CRDs have one owner per cluster
        with connect(env) as target:
            platform.build_plan(target, cache_dir=work / "cache")  # warm: pull every chart once, untimed
        with connect(env) as target:
            prof = cProfile.Profile() if profile else None
            load0, cpu0 = os.getloadavg()[0], process_cpu()
            server0 = process_cpu(server_pid) if server_pid else None
            started = time.perf_counter()
            if prof:
                prof.enable()
            planned = platform.build_plan(target, cache_dir=work / "cache", server_dry_run=True)
            took = time.perf_counter() - started
            cpu = process_cpu() - cpu0
            server = process_cpu(server_pid) - server0 if server_pid and server0 is not None else None
            if prof:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        bare, bare_cpu = bare_dry_runs(env, kubeconfig, work)
    validated = sum(e.validation == "server" for e in planned.plan.entries)
    return PlanFigures(took, validated, cpu, server, (load0, os.getloadavg()[0]), bare, bare_cpu)


def bare_dry_runs(env: Any, kubeconfig: Path, work: Path) -> tuple[float, float]:
    """The floor under any plan: Helm's own server-side dry run of every release, nothing else (no reads, diffs,
    proxy or checks), through a bare Helm SDK handle per namespace as a plan needs (Helm binds its release storage
    to a handle's namespace), on as many threads as there are CPUs, with the client-side OpenAPI probe off as the
    tool's plan has it. Charts and values are prepared before the clock starts."""
    from concurrent.futures import ThreadPoolExecutor

    from prjdevops.adapters.helm import HelmClient
    from prjdevops.ops import release as rel_ops

    preps = [libs.prepare(env, r.name, work / "cache") if r.repo else rel_ops.prepare(env, r.name)
             for r in env.releases]
    helm = HelmClient(kubeconfig=kubeconfig, context="sandbox")

    def dry_run(prep: Any) -> None:
        rel = prep.release
        helm.upgrade_install(rel.chart, rel.name, prep.values.values, namespace=rel.namespace, wait=None,
                             timeout=rel.timeout, dry_run="server", exists=False, client_validation=False,
                             chart_version=rel.version, repo_url=rel.repo)

    cpu0, started = process_cpu(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(dry_run, preps))
    took, cpu = time.perf_counter() - started, process_cpu() - cpu0
    helm.close()
    return took, cpu


def process_cpu(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one by default), every thread counted."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cluster(work: Path, name: str, *, in_process: bool, backend: str = "sandbox"
            ) -> Iterator[tuple[Path, int | None]]:
    """A fresh API server, its kubeconfig and its process id (None: this process): the sandbox in its own process
    (as ``invoke sandbox.up`` runs it, like any API server the tool talks to) or in this process (then it competes
    with the tool for this interpreter's GIL), or the real control plane (``backend="real"``)."""
    if backend == "real":
        from controlplane.launcher import ControlPlane

        with ControlPlane() as cp:
            apiserver = next((c.proc for c in cp.components if c.name == "kube-apiserver"), None)
            yield cp.write_kubeconfig(work / f"kc-{name}", context="sandbox"), apiserver.pid if apiserver else None
        return
    if in_process:
        with Sandbox(port=0, pod_ready_delay=0.05) as sb:
            yield sb.write_kubeconfig(work / f"kc-{name}"), None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = Path(tempfile.mkdtemp(prefix=f"sandbox-{name}-", dir=work))  # fresh state every time
    info = lifecycle.up(home, port=port)
    try:
        yield info.kubeconfig, info.pid
    finally:
        lifecycle.down(home)


def bench_overhead(work: Path, repo_url: str, installs: int, *, in_process: bool = False) -> tuple[float, float]:
    # the tool: plan + guarded, recorded, health-gated deploy of every release
    with cluster(work, "tool", in_process=in_process) as (kubeconfig, _):
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
    with cluster(work, "bare", in_process=in_process) as (kubeconfig, _):
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
    parser.add_argument("--cluster", choices=("sandbox", "real"), default="sandbox",
                        help="plan against the sandbox (default) or the real control plane (plan only)")
    args = parser.parse_args()
    if args.releases < 1 or args.installs < 1:
        raise SystemExit("--releases and --installs must be at least 1")
    if args.cluster == "real":
        from controlplane.build import binary_dir, missing

        if missing():
            raise SystemExit(f"the real control plane is not built (binaries missing in {binary_dir()}): "
                             "run python -m controlplane.build")
    plan_only = args.plan_only or args.cluster == "real"
    with tempfile.TemporaryDirectory(prefix="bench-platform-") as tmp:
        work = Path(tmp)
        os.environ[platform.RUNS_ENV] = str(work / "runs")
        build_repository(standin_sources(), work / "repo")
        with ChartRepository(work / "repo") as repo:
            fig = bench_plan(work, repo.url, args.releases, args.profile, backend=args.cluster,
                             in_process=not args.plan_sandbox_process)
            if not plan_only:
                tool, bare = bench_overhead(work, repo.url, args.installs, in_process=args.in_process)
    where = {"real": "the real control plane (kube-apiserver in its own process)",
             "sandbox": "a sandbox in its own process" if args.plan_sandbox_process
             else "a sandbox in this process"}[args.cluster]
    server = f", the API server's process {fig.server_cpu:.2f} s" if fig.server_cpu is not None else ""
    print(f"plan of {args.releases} releases ({args.releases - 1} stand-in library releases + plate-web), empty "
          f"cluster ({where}), {fig.validated} validated by server-side dry run: {fig.seconds:.2f} s "
          f"(target < 3 s) {'OK' if fig.seconds < 3 else 'ABOVE TARGET'}; CPU: this process {fig.cpu:.2f} s"
          f"{server}; load average {fig.load[0]:.1f} -> {fig.load[1]:.1f} on {os.cpu_count()} CPUs")
    print(f"floor: the same {args.releases} Helm server-side dry runs alone (bare Helm SDK, {os.cpu_count()} threads, "
          f"no tool): {fig.bare:.2f} s, CPU {fig.bare_cpu:.2f} s; the plan takes {fig.seconds / fig.bare:.2f}x that")
    if plan_only:
        return
    ratio = tool / bare
    where = "sandbox in this process" if args.in_process else "sandbox in its own process"
    print(f"install of {args.installs} releases ({where}): tool (plan + deploy) {tool:.2f} s, bare Helm SDK loop "
          f"{bare:.2f} s, ratio {ratio:.2f} (target <= 1.15) {'OK' if ratio <= 1.15 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
