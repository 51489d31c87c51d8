"""Reads of the cluster before the first write of a guarded deploy (``prod.deploy``): counted at the sandbox (every
HTTP request it answered, from its request log) and at the Helm adapter (Helm actions the flow asked for).

Setup (untimed, uncounted): a production-like environment on an in-process sandbox (cluster check, typed
confirmation answered by --yes, deploy Lease, backups), plate-web deployed once. Measured: a second guarded deploy
that changes the image tag, up to its first write to the cluster (the Lease, then Helm's release Secret).

Run: ``.venv/bin/python bench/release_reads.py``
"""

# ruff: noqa: E402
from __future__ import annotations

import sys

sys.path[:] = [p for p in sys.path if p not in ("", __file__.rsplit("/", 1)[0])]

import logging
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kubesandbox import Sandbox
from prjdevops.adapters.helm import HelmClient
from prjdevops.environments import load_environment, project_root
from prjdevops.ops import production, release

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class RequestLog(logging.Handler):
    """The sandbox's request lines ('"GET /api/v1/... HTTP/1.1" 200 -'), in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if '"' in text:
            self.lines.append(text.split('"')[1])


class CountingHelm(HelmClient):
    """The project's Helm adapter, counting the Helm actions a flow asks for (reads, renders)."""

    calls: list[str]

    def status(self, release: str, **kw: Any) -> Any:
        self.calls.append("status")
        return super().status(release, **kw)

    def history(self, release: str, **kw: Any) -> Any:
        self.calls.append("history")
        return super().history(release, **kw)

    def get_values(self, release: str, **kw: Any) -> Any:
        self.calls.append("get values")
        return super().get_values(release, **kw)

    def get_all(self, release: str, **kw: Any) -> Any:
        self.calls.append("get all")
        return super().get_all(release, **kw)

    def list(self, **kw: Any) -> Any:
        self.calls.append("list")
        return super().list(**kw)

    def upgrade_install(self, *a: Any, **kw: Any) -> Any:
        self.calls.append("server dry run (render)" if kw.get("dry_run") == "server" else "upgrade/install (write)")
        return super().upgrade_install(*a, **kw)


def main() -> None:
    log = RequestLog()
    logger = logging.getLogger("kubesandbox")
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp, Sandbox(port=0, pod_ready_delay=0.05) as sb:
        work = Path(tmp)
        kc = sb.write_kubeconfig(work / "kc", context="sandbox", namespace="default")
        envs = work / "envs"
        envs.mkdir()
        doc = {"name": "prodlike", "cluster": {"kubeconfig": str(kc), "context": "sandbox", "api_server": sb.url},
               "guards": {"confirm": True, "context_pattern": "^sandbox$", "check_api_server": True,
                          "forbid_latest_tag": True, "lock": True, "health_timeout": 60, "rollback_timeout": 60},
               "backup": {"enabled": True, "dir": str(work / "backups"), "keep": 3}, "namespaces": ["plate-web"],
               "releases": [{"name": "plate-web", "chart": str(project_root() / "helm/applications/plate-web"),
                             "namespace": "plate-web", "values": ["values-prod.yaml"], "timeout": 60}]}
        (envs / "prodlike.yaml").write_text(yaml.safe_dump(doc))
        env = load_environment("prodlike", envs)
        yes = production.Interaction(yes=True)
        with release.connect(env) as target:
            production.guarded_deploy(target, release.prepare(env, "plate-web"), io=yes)
        prep = release.prepare(env, "plate-web", sets=["image.tag=1.4.3"])
        with release.connect(env) as target:
            helm = CountingHelm(kubeconfig=target.helm.kubeconfig, context=target.helm.context)
            helm.calls = []
            target.helm.close()
            target.helm = helm
            logger.setLevel(logging.DEBUG)
            logger.addHandler(log)
            try:
                out = production.guarded_deploy(target, prep, io=yes)
            finally:
                logger.removeHandler(log)
            assert out.action == "deployed", out
    # the deploy Lease is taken first (the guard), then the release is read and planned: count up to the first write
    # that is not the Lease's (the release's own first write: Helm's Secret of the new revision)
    first_any = next((i for i, line in enumerate(log.lines) if line.split()[0] in WRITES), len(log.lines))
    first_write = next((i for i, line in enumerate(log.lines) if line.split()[0] in WRITES
                        and "/leases" not in line), len(log.lines))
    before = [line for line in log.lines[:first_write] if "/leases" not in line]
    helm_before = helm.calls[:helm.calls.index("upgrade/install (write)")]
    reads = [c for c in helm_before if c != "server dry run (render)"]
    renders = helm_before.count("server dry run (render)")
    print(f"guarded deploy of plate-web (prod-like guards, backup, Lease), one change: before the first write the "
          f"flow asked Helm for {len(reads)} read(s) ({', '.join(reads)}) and {renders} render(s) (server-side dry "
          f"run)")
    print(f"HTTP requests the sandbox answered before the release's first write ({log.lines[first_write].split()[:2]}"
          f", the Lease's own requests left out): {len(before)} (all reads: "
          f"{all(line.split()[0] not in WRITES for line in before)}); Helm's own requests for those actions "
          f"(discovery, the release Secrets, the dry run's reads of each object) included; the first write of all "
          f"was {log.lines[first_any].split()[:2] if first_any < len(log.lines) else '-'}")
    by_path: dict[str, int] = {}
    for line in before:
        method, path = line.split()[:2]
        key = f"{method} {path.split('?')[0]}"
        by_path[key] = by_path.get(key, 0) + 1
    for key, n in sorted(by_path.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {n:>3}  {key}")


if __name__ == "__main__":
    main()
