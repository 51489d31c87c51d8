"""Pure checks over API objects (plain dicts, as the API serves them) and over command output.

Each returns ``(ok, reason)``; the reason names the object and says what is wrong (or what was seen when fine),
so a failure line is enough to act on. Table-tested in ``tests/unit/test_verify_checks.py``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prjdevops.health import READINESS, crash_looping, pod_restarts

Obj = Mapping[str, Any]
Outcome = tuple[bool, str]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def ref(obj: Obj) -> str:
    """``kind/namespace/name`` as a human would look it up."""
    meta = _meta(obj)
    ns = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{str(obj.get('kind', 'object')).lower()}/{ns}{meta.get('name')}"


# --- releases -----------------------------------------------------------------------------------------


def release_deployed(name: str, status: str | None, chart_version: str | None, want_version: str | None,
                     ) -> Outcome:
    """The release exists, its last revision is ``deployed`` and at the chart version the repository pins."""
    if status is None:
        return False, f"release {name} is not installed"
    if status != "deployed":
        return False, f"release {name} is {status}, not deployed"
    if want_version and chart_version != want_version:
        return False, f"release {name} runs chart version {chart_version}, expected {want_version}"
    return True, f"release {name} deployed at chart version {chart_version}"


# --- workloads ----------------------------------------------------------------------------------------


def _desired(obj: Obj) -> int:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        return int(status.get("desiredNumberScheduled") or 0)
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


def _available(obj: Obj) -> int:
    status = obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        return int(status.get("numberAvailable") or 0)
    if obj.get("kind") == "StatefulSet":
        return int(status.get("availableReplicas") or status.get("readyReplicas") or 0)
    return int(status.get("availableReplicas") or 0)


def workload_available(obj: Obj, pods: Sequence[Obj]) -> Outcome:
    """Available at its desired replicas, rolled out (readiness predicate), and none of its pods crash-looping."""
    want, have = _desired(obj), _available(obj)
    looping = [p for p in pods if crash_looping(p)]
    problems = []
    if looping:
        names = ", ".join(f"{_meta(p).get('name')} ({pod_restarts(p)} restarts)" for p in looping)
        problems.append(f"crash-looping pods: {names}")
    if have < want:
        problems.append(f"{have}/{want} available")
    predicate = READINESS.get(str(obj.get("kind")))
    if predicate is not None and not problems:
        ready, detail = predicate(obj)
        if not ready:
            problems.append(detail)
    if problems:
        return False, f"{ref(obj)}: " + "; ".join(problems)
    return True, f"{ref(obj)}: {have}/{want} available"


# --- services -----------------------------------------------------------------------------------------


def service_endpoints(svc: Obj, endpoints: Obj | None) -> Outcome:
    """Every Service (but ExternalName) has at least one ready endpoint address."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return True, f"{ref(svc)}: ExternalName {spec.get('externalName')} (no endpoints needed)"
    ready = not_ready = 0
    for subset in (endpoints or {}).get("subsets") or []:
        ready += len(subset.get("addresses") or [])
        not_ready += len(subset.get("notReadyAddresses") or [])
    if ready:
        return True, f"{ref(svc)}: {ready} ready endpoint(s)"
    if endpoints is None:
        why = "no Endpoints object" + ("" if spec.get("selector") else " (the Service has no selector)")
    elif not_ready:
        why = f"{not_ready} endpoint(s), none ready"
    else:
        selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
        why = f"no pod matches selector {selector}" if selector else "no addresses (the Service has no selector)"
    return False, f"{ref(svc)} has no ready endpoints: {why}"


# --- ingresses ----------------------------------------------------------------------------------------


def ingress_host_and_tls(ing: Obj, secrets: Iterable[str]) -> Outcome:
    """Every rule has a host, TLS is configured, and every TLS secret exists in the Ingress's namespace."""
    spec = ing.get("spec") or {}
    rules = spec.get("rules") or []
    hosts = [str(r["host"]) for r in rules if r.get("host")]
    problems = []
    if not rules or len(hosts) < len(rules):
        problems.append("a rule has no host" if rules else "no rules (no host)")
    tls = spec.get("tls") or []
    if not tls:
        problems.append("no TLS configured")
    have = set(secrets)
    ns = _meta(ing).get("namespace")
    for entry in tls:
        name = entry.get("secretName")
        if not name:
            problems.append(f"TLS entry for {', '.join(entry.get('hosts') or []) or 'no host'} names no secret")
        elif name not in have:
            problems.append(f"TLS secret {name} not found in namespace {ns}")
        uncovered = [h for h in entry.get("hosts") or [] if h not in hosts]
        if uncovered:
            problems.append(f"TLS host(s) {', '.join(uncovered)} not in the rules")
    if problems:
        return False, f"{ref(ing)}: " + "; ".join(problems)
    return True, f"{ref(ing)}: {', '.join(hosts)} with TLS secret(s) " + \
        ", ".join(str(t.get("secretName")) for t in tls)


# --- cert-manager, MetalLB, Argo CD ---------------------------------------------------------------------


def _condition(obj: Obj, ctype: str) -> Mapping[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def certificate_ready(cert: Obj) -> Outcome:
    cond = _condition(cert, "Ready")
    if cond is not None and cond.get("status") == "True":
        return True, f"{ref(cert)}: Ready"
    if cond is None:
        return False, f"{ref(cert)} is not Ready: no Ready condition yet"
    detail = " ".join(str(x) for x in (cond.get("reason"), cond.get("message")) if x)
    return False, f"{ref(cert)} is not Ready: {detail or cond.get('status')}"


def pool_networks(pool: Obj) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address,
                                          ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """An IPAddressPool's ``spec.addresses`` (CIDRs or ``a-b`` ranges) as inclusive (first, last) pairs."""
    out = []
    for entry in (pool.get("spec") or {}).get("addresses") or []:
        text = str(entry).strip()
        try:
            if "-" in text:
                lo, hi = (ipaddress.ip_address(x.strip()) for x in text.split("-", 1))
            else:
                net = ipaddress.ip_network(text, strict=False)
                lo, hi = net[0], net[-1]
        except ValueError:
            continue
        out.append((lo, hi))
    return out


def pools_exist(pools: Sequence[Obj]) -> Outcome:
    if not pools:
        return False, "MetalLB is installed but no IPAddressPool exists: LoadBalancer services get no IP"
    usable = [p for p in pools if pool_networks(p)]
    if not usable:
        return False, f"no IPAddressPool has a usable address range ({', '.join(ref(p) for p in pools)})"
    return True, f"{len(pools)} IPAddressPool(s): " + ", ".join(
        f"{_meta(p).get('name')} {','.join(map(str, (p.get('spec') or {}).get('addresses') or []))}" for p in pools)


def loadbalancer_ip(svc: Obj, pools: Sequence[Obj]) -> Outcome:
    """A LoadBalancer Service got an external IP, and the IP lies in one of the MetalLB pools."""
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ips = [str(i["ip"]) for i in ingress if i.get("ip")]
    if not ips:
        return False, f"{ref(svc)} has no LoadBalancer IP yet (pending)"
    ip = ips[0]
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False, f"{ref(svc)} has an invalid LoadBalancer IP {ip!r}"
    pool = next((p for p in pools for lo, hi in pool_networks(p)
                 if addr.version == lo.version and int(lo) <= int(addr) <= int(hi)), None)
    if pool is None:
        return False, f"{ref(svc)} has IP {ip}, outside every MetalLB pool"
    return True, f"{ref(svc)}: IP {ip} from pool {_meta(pool).get('name')}"


def argocd_app_synced_healthy(app: Obj) -> Outcome:
    status = app.get("status") or {}
    sync = str((status.get("sync") or {}).get("status") or "Unknown")
    health = (status.get("health") or {})
    hstatus = str(health.get("status") or "Unknown")
    if sync == "Synced" and hstatus == "Healthy":
        return True, f"{ref(app)}: Synced, Healthy"
    why = f"sync {sync}, health {hstatus}"
    if health.get("message"):
        why += f" ({health['message']})"
    return False, f"{ref(app)} is not Synced and Healthy: {why}"


# --- the deploy host (local) ----------------------------------------------------------------------------


def file_private(path: str, mode: int | None) -> Outcome:
    """A credentials file must not be readable by other users (the kubeconfig carries cluster credentials)."""
    if mode is None:
        return False, f"{path} does not exist"
    if mode & 0o004:
        return False, f"{path} is world-readable (mode {mode:04o}); run chmod 600 {path}"
    return True, f"{path} mode {mode:04o}"


def df_available(output: str) -> int | None:
    """Free bytes from ``df -Pk PATH`` output (POSIX format: 1024-byte blocks), or None if unparseable."""
    lines = [line for line in output.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    try:
        return int(fields[3]) * 1024
    except (IndexError, ValueError):
        return None


def enough_disk(path: str, free: int | None, minimum: int) -> Outcome:
    if free is None:
        return False, f"cannot read free disk space for {path}"
    gib = free / 2**30
    if free < minimum:
        return False, f"only {gib:.2f} GiB free at {path}, need {minimum / 2**30:.2f} GiB"
    return True, f"{gib:.1f} GiB free at {path}"


# --- cluster nodes (command output; the same over testinfra and Fabric) -----------------------------------

#: Ports a node must listen on, by role; a node without a known role gets the worker set.
ROLE_PORTS: dict[str, tuple[int, ...]] = {
    "control-plane": (6443, 2379, 2380, 10250, 10257, 10259),
    "worker": (10250,),
}
DEFAULT_SERVICES = ("kubelet",)


def required_ports(roles: Sequence[str], ports: Sequence[int] | None) -> tuple[int, ...]:
    if ports is not None:
        return tuple(ports)
    wanted = {p for r in roles for p in ROLE_PORTS.get(r, ())} or set(ROLE_PORTS["worker"])
    return tuple(sorted(wanted))


def processes_running(host: str, ps_comm: str, names: Sequence[str]) -> Outcome:
    """``ps -e -o comm=`` output contains every name (comm is cut at 15 characters by the kernel)."""
    running = {line.strip() for line in ps_comm.splitlines() if line.strip()}
    missing = [n for n in names if n[:15] not in running]
    if missing:
        return False, f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not running on {host}"
    return True, f"{', '.join(names)} running on {host}"


def swap_off(host: str, proc_swaps: str) -> Outcome:
    """``/proc/swaps`` has only its header line when no swap is active (the kubelet refuses swap by default)."""
    active = [line.split()[0] for line in proc_swaps.splitlines()[1:] if line.strip()]
    if active:
        return False, f"swap is on on {host}: {', '.join(active)} (run swapoff -a and remove it from fstab)"
    return True, f"swap is off on {host}"


def ip_forward_on(host: str, value: str) -> Outcome:
    v = value.strip()
    if v == "1":
        return True, f"net.ipv4.ip_forward=1 on {host}"
    return False, f"net.ipv4.ip_forward={v or '?'} on {host}, must be 1 (pod traffic is not routed)"


_TCP_LINE = re.compile(r"^\s*\d+:\s+[0-9A-Fa-f]+:([0-9A-Fa-f]{4})\s+[0-9A-Fa-f]+:[0-9A-Fa-f]{4}\s+([0-9A-Fa-f]{2})\s")


def listening_ports(proc_net_tcp: str) -> set[int]:
    """TCP ports in state LISTEN (0A) from ``/proc/net/tcp`` and ``/proc/net/tcp6`` text (no ss/netstat needed)."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        m = _TCP_LINE.match(line)
        if m and m.group(2).upper() == "0A":
            ports.add(int(m.group(1), 16))
    return ports


def ports_listening(host: str, proc_net_tcp: str, wanted: Sequence[int]) -> Outcome:
    have = listening_ports(proc_net_tcp)
    missing = [p for p in wanted if p not in have]
    if missing:
        return False, f"port(s) {', '.join(map(str, missing))} not listening on {host}"
    return True, f"port(s) {', '.join(map(str, wanted))} listening on {host}"


#: What ``kubectl exec -- /bin/sh`` says when the image has no shell (runc, containerd, CRI-O wordings).
_NO_SHELL = re.compile(r'exec: "?/bin/sh"?: (stat /bin/sh: )?no such file or directory|'
                       r"executable file not found|/bin/sh: not found|"
                       r'exec failed: .*"/bin/sh".*no such file', re.IGNORECASE)


def exec_has_no_shell(stderr: str) -> bool:
    """Whether a failed ``kubectl exec ... /bin/sh`` failed because the image has no shell (skip, not fail)."""
    return bool(_NO_SHELL.search(stderr))


# --- helpers behind the user tests' ``k8s`` fixture (prjdevops.verify.k8s) ---------------------------------


def job_succeeded(job: Obj) -> Outcome:
    """A Job completed: condition ``Complete=True`` (or, before the controller writes it, ``succeeded`` reached
    ``completions``); a ``Failed=True`` condition is a failure whatever the counts say."""
    status, spec = job.get("status") or {}, job.get("spec") or {}
    failed = _condition(job, "Failed")
    if failed is not None and failed.get("status") == "True":
        detail = " ".join(str(x) for x in (failed.get("reason"), failed.get("message")) if x)
        return False, f"{ref(job)} failed: {detail or 'Failed condition'}"
    want = int(spec["completions"]) if spec.get("completions") is not None else 1
    done = int(status.get("succeeded") or 0)
    complete = _condition(job, "Complete")
    if (complete is not None and complete.get("status") == "True") or done >= want:
        return True, f"{ref(job)}: {done}/{want} completions succeeded"
    active, failures = int(status.get("active") or 0), int(status.get("failed") or 0)
    return False, f"{ref(job)} has not completed: {done}/{want} succeeded, {active} active, {failures} failed"


def endpoint_addresses(endpoints: Obj | None, *, ready: bool = True) -> list[str]:
    """``ip:port`` of every (ready, or not-ready) address of an Endpoints object, sorted; an address without
    ports is its bare IP."""
    out: set[str] = set()
    key = "addresses" if ready else "notReadyAddresses"
    for subset in (endpoints or {}).get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or [] if p.get("port") is not None]
        for addr in subset.get(key) or []:
            ip = str(addr.get("ip") or addr.get("hostname") or "")
            if not ip:
                continue
            out.update([f"{ip}:{p}" for p in ports] if ports else [ip])
    return sorted(out)


def http_probe(workload: Obj, kind: str = "readiness", container: str | None = None,
               ) -> tuple[str, int | str] | None:
    """The ``(path, port)`` of the first (or the named) container's ``<kind>Probe.httpGet``, or None when the
    pod template has no such HTTP probe."""
    pod_spec = (((workload.get("spec") or {}).get("template") or {}).get("spec")) or {}
    for c in pod_spec.get("containers") or []:
        if container is not None and c.get("name") != container:
            continue
        get = (c.get(f"{kind}Probe") or {}).get("httpGet")
        if get:
            port = get.get("port")
            return str(get.get("path") or "/"), int(port) if isinstance(port, int) else str(port)
    return None


def proxy_path(kind: str, namespace: str, name: str, port: int | str | None, path: str) -> str:
    """The API server's proxy path for a Service or a Pod: ``/api/v1/namespaces/NS/services/NAME:PORT/proxy/P``
    (segments URL-quoted; the request path keeps its slashes and query string)."""
    from urllib.parse import quote

    plural = {"service": "services", "pod": "pods"}[kind]
    target = quote(name, safe="") + (f":{quote(str(port), safe='')}" if port not in (None, "") else "")
    rest, _, query = path.lstrip("/").partition("?")
    return (f"/api/v1/namespaces/{quote(namespace, safe='')}/{plural}/{target}/proxy/{quote(rest, safe='/')}"
            + (f"?{query}" if query else ""))


def proxy_unserved(status: int, resources: Sequence[str] | None, kind: str) -> bool:
    """Whether a 404/501 on a proxy path means the API server does not serve the proxy at all (so the check is
    skipped), rather than the application's or the Service's own answer: the discovery document of ``/api/v1``
    does not list ``services/proxy`` (resp. ``pods/proxy``). kube-apiserver always lists both."""
    plural = {"service": "services", "pod": "pods"}[kind]
    return status in (404, 501) and resources is not None and f"{plural}/proxy" not in resources
