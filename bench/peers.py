"""The tool side by side with its peers on the same platform and the same API server: ``invoke deploy`` vs a bash
loop of ``helm upgrade --install --wait`` (in dependency order) vs helmfile (``needs:``), built by
``python -m controlplane.peers``.

Platforms:
- ``local8``: the local environment's platform (``environments/local.yaml``: 7 libraries from the stand-in chart
  repository + plate-web), sandbox only: its harbor/jenkins stand-ins need PVC binding and LoadBalancer addresses,
  which the real control plane (kwok) does not give, so they never become healthy there;
- ``web8`` / ``web30``: 7 / 29 library releases of the plate-web chart (served by the loopback chart repository,
  each in its own namespace, in three ``needs`` groups) + the plate-web application: healthy on both backends.

Scenarios, each tool on its own fresh cluster, in this order: first install; no-op redeploy; one value changed in
one release (plate-web's podAnnotations: a rolling update); plan/diff only (with another value change pending).
The peers run from the same values the tool computes for each release (written to values files, untimed) and from
the chart archives the tool pulled (untimed: the tool itself pulls from the loopback repository, cached).

helmfile's ``apply`` and ``diff`` (and ``helm diff upgrade``) need the helm-diff plugin; when
``python -m controlplane.peers`` could not install it (the module proxy does not serve it) the helmfile column
uses ``helmfile sync`` for the deploy scenarios and the helm column ``helm upgrade --dry-run=server`` for the plan,
and the plan row of helmfile says n/a. The table names the command behind every figure.

API requests are counted at the server: the sandbox's ``GET /sandbox/requests``; kube-apiserver's ``/metrics``
``apiserver_request_total`` (that one also counts the controllers' and kwok's own requests during the run).

Run: ``.venv/bin/python bench/peers.py [--backends sandbox,real] [--platforms local8,web8,web30]``
"""

# ruff: noqa: E402  (sys.path is fixed before the imports, see below)
from __future__ import annotations

import sys

# run as a script, this folder would come first on sys.path and bench/platform-like names could shadow the stdlib
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rsplit("/", 1)[0])]

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from controlplane import peers
from kubesandbox import lifecycle
from prjdevops.chartrepo import ChartRepository, build_repository, standin_sources
from prjdevops.environments import load_environment, project_root
from prjdevops.ops import libraries as libs
from prjdevops.ops import release as rel_ops

REPO = project_root()
INVOKE = Path(sys.executable).parent / "invoke"
APP_CHART = REPO / "helm" / "applications" / "plate-web"
TIMEOUT = 600  # seconds any one command may take


@dataclass
class Cell:
    command: str
    seconds: float | None = None
    requests: int | None = None
    note: str = ""


@dataclass
class Row:
    backend: str
    platform: str
    scenario: str
    cells: dict[str, Cell] = field(default_factory=dict)


# --- clusters ------------------------------------------------------------------------------------------------


class Cluster:
    kubeconfig: Path
    backend: str

    def requests(self) -> int:
        raise NotImplementedError


class SandboxCluster(Cluster):
    backend = "sandbox"

    def __init__(self, home: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.home = home
        self.info = lifecycle.up(home, port=port)
        self.kubeconfig = self.info.kubeconfig
        self.url = f"http://127.0.0.1:{port}"

    def requests(self) -> int:
        with urllib.request.urlopen(f"{self.url}/sandbox/requests", timeout=30) as resp:
            return int(json.load(resp)["total"])

    def close(self) -> None:
        lifecycle.down(self.home)


class RealCluster(Cluster):
    backend = "real"

    def __init__(self, work: Path) -> None:
        from controlplane.launcher import ControlPlane

        self.cp = ControlPlane(state_dir=work)
        self.cp.start()
        self.kubeconfig = self.cp.write_kubeconfig(work / "kubeconfig", context="sandbox")

    def requests(self) -> int:
        status, text = self.cp.request("GET", "/metrics", timeout=60)
        if status != 200 or not isinstance(text, str):
            raise SystemExit(f"kube-apiserver /metrics answered {status}")
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("apiserver_request_total{")))

    def close(self) -> None:
        self.cp.stop()


@contextlib.contextmanager
def fresh_cluster(backend: str, work: Path) -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work))
    c: Cluster = SandboxCluster(folder) if backend == "sandbox" else RealCluster(folder)
    try:
        yield c
    finally:
        c.close()  # type: ignore[attr-defined]


# --- the platforms, as environments of the tool --------------------------------------------------------------


def write_environment(proj: Path, platform: str, kubeconfig: Path, repo_url: str, change: int) -> Path:
    """``proj/environments/local.yaml`` (+ ``libraries/``), ``proj/helm`` -> the repository's helm/ (the values
    layers of the libraries resolve against the folder above environments/). ``change`` is the bench value."""
    envs = proj / "environments"
    envs.mkdir(parents=True, exist_ok=True)
    if not (proj / "helm").exists():
        (proj / "helm").symlink_to(REPO / "helm")
    extra = proj / "bench-values.yaml"
    extra.write_text(yaml.safe_dump({"podAnnotations": {"bench/change": str(change)}}))
    app = {"name": "plate-web", "chart": str(APP_CHART), "namespace": "plate-web",
           "values": ["values-stg.yaml", str(extra)], "timeout": 300}
    if platform == "local8":
        doc = yaml.safe_load((REPO / "environments" / "local.yaml").read_text())
        doc["libraries"]["mirror"] = repo_url
        if not (envs / "libraries").exists():
            shutil.copytree(REPO / "environments" / "libraries", envs / "libraries")
        doc["releases"] = [app]
    else:
        n = {"web8": 7, "web30": 29}[platform]
        libraries = []
        for i in range(n):
            needs = [f"web-{i - 10}"] if i >= 10 else []
            libraries.append({"name": f"web-{i}", "chart": "plate-web", "repo": repo_url, "version": app_version(),
                              "namespace": f"web-{i}", "group": "dev-tools", "needs": needs, "timeout": 300})
        doc = {"name": "local", "description": f"bench platform {platform}", "releases": [*libraries, app],
               "guards": {"confirm": False, "forbid_latest_tag": False, "lock": True}}
    doc["cluster"] = {"kubeconfig": str(kubeconfig), "context": "sandbox"}
    doc["guards"] = {**doc.get("guards", {}), "health_timeout": 300, "rollback_timeout": 300}
    doc["backup"] = {"enabled": True, "dir": str(proj / "backups"), "keep": 5}
    doc["namespaces"] = ["plate-web"]
    (envs / "local.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return envs


def app_version() -> str:
    return str(yaml.safe_load((APP_CHART / "Chart.yaml").read_text())["version"])


@dataclass
class PeerRelease:
    name: str
    namespace: str
    chart: str  # a chart archive or folder
    values: Path
    needs: list[str]
    timeout: int


def peer_releases(envs: Path, cache: Path, out: Path) -> list[PeerRelease]:
    """The environment's releases in the order the tool deploys them, with the values it computes (untimed)."""
    env = load_environment("local", envs)
    out.mkdir(parents=True, exist_ok=True)
    order = [n for group in libs.order(env).groups for n in group] if libs.library_releases(env) else []
    order += [r.name for r in env.releases if r.name not in order and r.enabled]
    result = []
    for name in order:
        rel = env.release(name)
        prep = libs.prepare(env, name, cache) if rel.group in libs.GROUPS else rel_ops.prepare(env, name)
        values = out / f"{name}.yaml"
        values.write_text(yaml.safe_dump(prep.values.values))
        result.append(PeerRelease(name, rel.namespace, str(prep.release.chart), values, list(rel.needs),
                                  int(rel.timeout or 300)))
    return result


def helm_loop_script(rels: list[PeerRelease], path: Path, *, plan: bool) -> Path:
    lines = ["#!/usr/bin/env bash", "set -euo pipefail"]
    for r in rels:
        if plan and peers.helm_diff_installed():
            lines.append(f"helm diff upgrade {r.name} {r.chart} -n {r.namespace} -f {r.values} --allow-unreleased")
        elif plan:
            lines.append(f"helm upgrade --install {r.name} {r.chart} -n {r.namespace} --create-namespace "
                         f"-f {r.values} --dry-run=server > /dev/null")
        else:
            lines.append(f"helm upgrade --install {r.name} {r.chart} -n {r.namespace} --create-namespace "
                         f"-f {r.values} --wait --timeout {r.timeout}s")
    path.write_text("\n".join(lines) + "\n")
    return path


def helmfile_yaml(rels: list[PeerRelease], path: Path) -> Path:
    ns = {r.name: r.namespace for r in rels}
    doc = {"helmDefaults": {"wait": True, "timeout": 300, "createNamespace": True},
           "releases": [{"name": r.name, "namespace": r.namespace, "chart": r.chart, "values": [str(r.values)],
                         **({"needs": [f"{ns[n]}/{n}" for n in r.needs if n in ns]} if r.needs else {})}
                        for r in rels]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# --- running and measuring -----------------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    took = time.perf_counter() - started
    if done.returncode not in ok:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        return took, f"exit {done.returncode}: {tail[:400]}"
    return took, ""


def measure(cluster: Cluster, argv: list[str], env: dict[str, str], command: str,
            ok: tuple[int, ...] = (0,)) -> Cell:
    before = cluster.requests()
    seconds, err = run(argv, env, ok)
    after = cluster.requests()
    if err:
        print(f"    FAILED {command}: {err}", flush=True)
        return Cell(command, None, after - before, note=f"failed ({err[:80]})")
    return Cell(command, seconds, after - before)


SCENARIOS = ("first install", "no-op redeploy", "one value changed", "plan/diff only")


def bench_tool(tool: str, backend: str, platform: str, work: Path, repo_url: str) -> list[Cell]:
    """One tool, on its own fresh cluster, through the four scenarios."""
    cells: list[Cell] = []
    tag = f"{backend}-{platform}-{tool}"
    proj = work / tag
    with fresh_cluster(backend, work) as cluster:
        helm_home = proj / "helm-home"
        base = peers.peer_env()
        base.update(KUBECONFIG=str(cluster.kubeconfig), HELM_CACHE_HOME=str(helm_home / "cache"),
                    HELM_CONFIG_HOME=str(helm_home / "config"), HELM_DATA_HOME=str(helm_home / "data"),
                    PRJDEVOPS_RUNS_DIR=str(proj / "runs"), PRJDEVOPS_LOOPBACK_ONLY="1")
        for i, scenario in enumerate(SCENARIOS):
            change = {0: 0, 1: 0, 2: 1, 3: 2}[i]
            envs = write_environment(proj, platform, cluster.kubeconfig, repo_url, change)
            env = dict(base, PRJDEVOPS_ENVIRONMENTS=str(envs))
            plan = scenario == "plan/diff only"
            if tool == "tool":
                argv = [str(INVOKE), "deploy", "--env", "local"]
                argv += ["--dry-run"] if plan else ["--yes", "--no-verify"]
                cell = measure(cluster, argv, env, "invoke deploy" + (" --dry-run" if plan else ""),
                               ok=(0, 2) if plan else (0,))
            else:
                rels = peer_releases(envs, proj / "cache", proj / "values")
                if tool == "helm":
                    script = helm_loop_script(rels, proj / "helm-loop.sh", plan=plan)
                    what = ("helm diff upgrade loop" if peers.helm_diff_installed() else
                            "helm upgrade --dry-run=server loop") if plan else "helm upgrade --install --wait loop"
                    cell = measure(cluster, ["bash", str(script)], env, what)
                else:
                    hf = helmfile_yaml(rels, proj / "helmfile.yaml")
                    exe = str(peers.bin_dir() / "helmfile")
                    diff = peers.helm_diff_installed()
                    sub = {0: "sync", 1: "apply" if diff else "sync", 2: "apply" if diff else "sync",
                           3: "diff"}[i]
                    if sub == "diff" and not diff:
                        cell = Cell("helmfile diff", note="n/a: needs helm-diff")
                    else:
                        cell = measure(cluster, [exe, "--file", str(hf), sub], env, f"helmfile {sub}",
                                       ok=(0, 2) if sub == "diff" else (0,))
            shown = f"{cell.seconds:7.2f} s" if cell.seconds is not None else "   -   "
            print(f"  {tag:28} {scenario:18} {cell.command:38} {shown} {cell.requests or 0:6} requests "
                  f"{cell.note}", flush=True)
            cells.append(cell)
    return cells


def table(rows: list[Row]) -> list[str]:
    def fmt(c: Cell | None) -> str:
        if c is None or c.seconds is None:
            return "n/a" if c is None or not c.note.startswith("failed") else "failed"
        return f"{c.seconds:.1f} s / {c.requests}"

    def ratio(a: Cell | None, b: Cell | None) -> str:
        if a is None or b is None or a.seconds is None or b.seconds is None or b.seconds == 0:
            return "n/a"
        return f"{a.seconds / b.seconds:.2f}"

    out = ["| backend | platform | scenario | tool (s / requests) | helm loop | helmfile | tool/helm | "
           "tool/helmfile |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, h, f = r.cells.get("tool"), r.cells.get("helm"), r.cells.get("helmfile")
        out.append(f"| {r.backend} | {r.platform} | {r.scenario} | {fmt(t)} | {fmt(h)} | {fmt(f)} | {ratio(t, h)} "
                   f"| {ratio(t, f)} |")
    commands = {name: sorted({r.cells[name].command for r in rows if name in r.cells}) for name in
                ("tool", "helm", "helmfile")}
    out.append("")
    out.append("commands: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in commands.items()))
    return out


def goals(rows: list[Row]) -> list[str]:
    lines = []
    for r in rows:
        t, f = r.cells.get("tool"), r.cells.get("helmfile")
        if t is None or f is None or t.seconds is None or f.seconds is None:
            if r.scenario == "plan/diff only":
                why = f.note if f else ""
                lines.append(f"{r.backend}/{r.platform}: plan <= 1/2 helmfile diff: not measurable ({why})")
            continue
        label = f"{r.backend}/{r.platform}"
        if r.scenario == "no-op redeploy":
            speedup = f.seconds / t.seconds
            lines.append(f"{label}: no-op redeploy >= 3x faster than {f.command}: {speedup:.2f}x "
                         f"{'MET' if speedup >= 3 else 'NOT MET'}")
        elif r.scenario == "first install":
            lines.append(f"{label}: first install no slower than {f.command}: ratio {t.seconds / f.seconds:.2f} "
                         f"{'MET' if t.seconds <= f.seconds else 'NOT MET'}")
        elif r.scenario == "plan/diff only":
            lines.append(f"{label}: plan <= 1/2 {f.command}: ratio {t.seconds / f.seconds:.2f} "
                         f"{'MET' if t.seconds <= f.seconds / 2 else 'NOT MET'}")
    return lines


def print_build_log() -> None:
    """The cold builds of the peers, as ``python -m controlplane.peers`` logged them."""
    log = peers.peers_dir() / "build-log.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    for e in entries:
        print(f"cold build of {e['binary']}: {e['seconds'] / 60:.1f} min (at {e['at']})", flush=True)
    if not entries:
        print("cold builds: none logged (the peers came from PRJDEVOPS_PEERS_DIR or were built elsewhere)")


def wait_for_peer(tool: str, seconds: int) -> None:
    if tool == "tool" or peers.binary(tool) is not None:
        return
    deadline = time.monotonic() + seconds
    print(f"  waiting up to {seconds} s for {tool} to be built", flush=True)
    while peers.binary(tool) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {tool} not built: run python -m controlplane.peers")
        time.sleep(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sandbox,real")
    parser.add_argument("--platforms", default="local8,web8,web30")
    parser.add_argument("--real-platforms", default="",
                        help="platforms on the real control plane (default: those of --platforms)")
    parser.add_argument("--tools", default="tool,helm,helmfile")
    parser.add_argument("--wait-build", type=int, default=0, metavar="SECONDS",
                        help="a peer not built yet (python -m controlplane.peers running alongside) is waited for "
                             "this long when its turn comes")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    platforms = [p for p in args.platforms.split(",") if p]
    tools = [t for t in args.tools.split(",") if t]
    real_platforms = [p for p in (args.real_platforms or args.platforms).split(",") if p]
    if any(b not in ("sandbox", "real") for b in backends) or any(p not in ("local8", "web8", "web30")
                                                                  for p in [*platforms, *real_platforms]):
        raise SystemExit("error: --backends takes sandbox,real and --platforms local8,web8,web30")
    missing = [n for n in ("helm", "helmfile") if n in tools and peers.binary(n) is None]
    if missing and not args.wait_build:
        raise SystemExit(f"error: {', '.join(missing)} not built: run python -m controlplane.peers")
    load = os.getloadavg()
    print(f"peers: {peers.peers_dir()} (helm {peers.HELM_VERSION}, helmfile {peers.HELMFILE_VERSION}, helm-diff "
          f"{'installed' if peers.helm_diff_installed() else 'NOT installed'}); load average at start "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)
    print_build_log()
    rows: list[Row] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        sources = work / "sources"
        sources.mkdir()
        for chart in [*sorted(standin_sources().iterdir()), APP_CHART]:
            if (chart / "Chart.yaml").is_file():
                (sources / chart.name).symlink_to(chart)
        build_repository(sources, work / "repo")
        with ChartRepository(work / "repo") as repo:
            combos = [(b, p) for b in backends for p in (real_platforms if b == "real" else platforms)]
            if ("real", "local8") in combos:
                combos.remove(("real", "local8"))
                print("  real/local8: skipped: its harbor and jenkins stand-ins need PVC binding and LoadBalancer "
                      "addresses, which kwok does not provide (they never become healthy)", flush=True)
            table_rows = {c: [Row(c[0], c[1], s) for s in SCENARIOS] for c in combos}
            # tool by tool (a peer still being built by python -m controlplane.peers is waited for last)
            for tool in tools:
                wait_for_peer(tool, args.wait_build)
                for (backend, platform), bench_rows in table_rows.items():
                    for row, cell in zip(bench_rows, bench_tool(tool, backend, platform, work, repo.url),
                                         strict=True):
                        row.cells[tool] = cell
            rows = [r for rs in table_rows.values() for r in rs]
    load = os.getloadavg()
    print(f"\nwall {time.monotonic() - started:.0f} s; load average at end {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}; figures are seconds / API requests counted at the server\n")
    for line in table(rows):
        print(line)
    print()
    for line in goals(rows):
        print(line)


if __name__ == "__main__":
    main()
