"""Node checks over any :class:`~prjdevops.adapters.ssh.Probe` (testinfra over SSH or kubectl, or Fabric).

Each check reads one thing with a plain command (``ps``, ``/proc``) and judges it with a pure function from
:mod:`prjdevops.verify.checks`, so the verify suite and ``invoke nodes.check`` give the same verdicts. A node that
cannot be reached fails every check with the reason, naming the host.
"""

from __future__ import annotations

from collections.abc import Callable

from prjdevops.adapters.ssh import Probe, SSHError
from prjdevops.model import Node
from prjdevops.verify import checks
from prjdevops.verify.checks import Outcome


def _read(probe: Probe, command: str, what: str) -> tuple[str | None, str]:
    res = probe.run(command)
    if res.rc != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        return None, f"cannot read {what} on {probe.name}: exit {res.rc}" + (f": {detail[-1]}" if detail else "")
    return res.stdout, ""


def services(probe: Probe, node: Node) -> Outcome:
    names = node.services if node.services is not None else checks.DEFAULT_SERVICES
    out, err = _read(probe, "ps -e -o comm=", "the process list")
    return (False, err) if out is None else checks.processes_running(probe.name, out, names)


def swap(probe: Probe, node: Node) -> Outcome:
    out, err = _read(probe, "cat /proc/swaps", "/proc/swaps")
    return (False, err) if out is None else checks.swap_off(probe.name, out)


def ip_forward(probe: Probe, node: Node) -> Outcome:
    out, err = _read(probe, "cat /proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward")
    return (False, err) if out is None else checks.ip_forward_on(probe.name, out)


def ports(probe: Probe, node: Node) -> Outcome:
    wanted = checks.required_ports(node.roles, node.ports)
    # tcp6 is absent on hosts without IPv6: read what exists
    out, err = _read(probe, "cat /proc/net/tcp; cat /proc/net/tcp6 2>/dev/null; true", "/proc/net/tcp")
    return (False, err) if out is None else checks.ports_listening(probe.name, out, wanted)


#: name -> check; the order is the report's order.
NODE_CHECKS: dict[str, Callable[[Probe, Node], Outcome]] = {
    "services": services,
    "swap-off": swap,
    "ip-forward": ip_forward,
    "ports": ports,
}


def run_check(name: str, probe: Probe, node: Node) -> Outcome:
    """One node check; an unreachable node (or refused key, or host-key mismatch) is a failure naming the host."""
    try:
        return NODE_CHECKS[name](probe, node)
    except SSHError as e:
        return False, str(e)
