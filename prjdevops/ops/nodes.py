"""Node operations over Fabric for ``invoke nodes.check`` and ``invoke nodes.diagnose``.

``check`` runs the verify suite's node checks ad hoc; ``diagnose`` collects evidence (kubelet journal, disk,
memory) from every SSH node of the inventory into the environment's failure-evidence folder. Both work through
every node and report each one, even when some are unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prjdevops.adapters.ssh import FabricProbe, SSHError
from prjdevops.errors import ConfigError
from prjdevops.model import Environment, Node
from prjdevops.verify.nodes import NODE_CHECKS, run_check

Reporter = Callable[[str], None]

#: evidence file -> command; the journal falls back to the kubelet's log file on hosts without systemd.
DIAGNOSTICS: dict[str, str] = {
    "kubelet-journal.txt": "journalctl -u kubelet --no-pager -n 2000 2>&1 || tail -n 2000 /var/log/kubelet.log 2>&1",
    "disk.txt": "df -h 2>&1; echo; df -i 2>&1",
    "memory.txt": "free -m 2>&1; echo; head -n 20 /proc/meminfo 2>&1",
}


def _quiet(_: str) -> None:
    pass


def ssh_nodes(env: Environment, only: str = "") -> list[Node]:
    """The environment's SSH nodes (optionally one, by host or ``host:port``); pod entries need kubectl."""
    nodes = [n for n in env.inventory if n.host is not None]
    if only:
        nodes = [n for n in nodes if only in (n.host, n.name)]
        if not nodes:
            known = ", ".join(n.name for n in env.inventory if n.host) or "none"
            raise ConfigError(f"environment {env.name!r} has no SSH node {only!r} in its inventory (nodes: {known})")
    if not nodes:
        raise ConfigError(f"environment {env.name!r} lists no SSH nodes in its inventory",
                          hint=f"add inventory: [{{host: ..., user: ..., key_file: ...}}] to {env.file}")
    return nodes


@dataclass(frozen=True)
class NodeCheck:
    node: str
    check: str
    ok: bool
    reason: str


def check(env: Environment, *, only: str = "", report: Reporter = _quiet) -> list[NodeCheck]:
    """Every node check on every SSH node, over Fabric."""
    results: list[NodeCheck] = []
    for node in ssh_nodes(env, only):
        probe = FabricProbe(node)
        try:
            for name in NODE_CHECKS:
                ok, reason = run_check(name, probe, node)
                results.append(NodeCheck(node.name, name, ok, reason))
                report(f"{'ok  ' if ok else 'FAIL'} {node.name} {name}: {reason}")
        finally:
            probe.close()
    return results


@dataclass
class Evidence:
    node: str
    folder: Path | None
    files: list[str] = field(default_factory=list)
    error: str = ""


def evidence_root(env: Environment) -> Path:
    """The environment's failure-evidence folder (next to its backups; ``_`` keeps it apart from releases)."""
    return env.backup.dir / env.name / "_evidence"


def diagnose(env: Environment, *, only: str = "", out: Path | None = None, report: Reporter = _quiet,
             commands: Sequence[tuple[str, str]] | None = None) -> tuple[Path, list[Evidence]]:
    """Collect :data:`DIAGNOSTICS` from every SSH node into ``<evidence>/nodes-<UTC time>/<node>/``."""
    nodes = ssh_nodes(env, only)
    folder = out or evidence_root(env) / f"nodes-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    folder.mkdir(parents=True, exist_ok=True)
    gathered: list[Evidence] = []
    for node in nodes:
        probe = FabricProbe(node)
        ev = Evidence(node.name, None)
        try:
            for filename, command in commands or list(DIAGNOSTICS.items()):
                res = probe.run(command)
                if ev.folder is None:
                    ev.folder = folder / node.name.replace(":", "_").replace("/", "_")
                    ev.folder.mkdir(mode=0o700, exist_ok=True)
                text = res.stdout + (f"\n[stderr]\n{res.stderr}" if res.stderr.strip() else "")
                (ev.folder / filename).write_text(f"$ {command}\n[exit {res.rc}]\n{text}", encoding="utf-8")
                ev.files.append(filename)
            report(f"{node.name}: {', '.join(ev.files)} -> {ev.folder}")
        except SSHError as e:
            ev.error = str(e)
            report(f"{node.name}: no evidence: {e}")
        finally:
            probe.close()
        gathered.append(ev)
    return folder, gathered
