"""What to verify in an environment: checks generated from its releases, its cluster and its inventory.

:func:`discover` reads each release's live manifest (Helm) and turns every workload, Service and Ingress in it into
a check, adds cluster-wide checks for cert-manager, MetalLB and Argo CD where their APIs are served, host checks for
the deploy host (testinfra ``local`` backend) and node checks for the inventory. A group with nothing to check is
one *skipped* check carrying the reason. Reads that fail become failed checks, never a crash of the suite.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prjdevops.adapters.kube import KubeClient, kubeconfig_path
from prjdevops.adapters.ssh import TestinfraProbe
from prjdevops.errors import DeployError
from prjdevops.health import selector_string
from prjdevops.manifests import parse_manifest
from prjdevops.model import Environment, Node, Release
from prjdevops.ops.release import Target
from prjdevops.verify import checks
from prjdevops.verify.checks import Outcome
from prjdevops.verify.nodes import NODE_CHECKS, run_check

#: Every group, in report order. Kubernetes groups first; ``host``/``nodes``/``pods`` look at machines.
GROUPS = ("releases", "workloads", "services", "ingresses", "certificates", "metallb", "argocd",
          "host", "nodes", "pods")
CLUSTER_GROUPS = GROUPS[:7]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
MIN_FREE_BYTES = 1 << 30  # the deploy host needs room for backups and evidence

# (group, version, plural) of the add-ons' custom resources
CERTIFICATES = ("cert-manager.io", "v1", "certificates")
IP_POOLS = ("metallb.io", "v1beta1", "ipaddresspools")
ARGO_APPS = ("argoproj.io", "v1alpha1", "applications")


@dataclass(frozen=True)
class Result:
    status: str  # passed | failed | skipped
    reason: str


def passed(reason: str) -> Result:
    return Result("passed", reason)


def failed(reason: str) -> Result:
    return Result("failed", reason)


def skipped(reason: str) -> Result:
    return Result("skipped", reason)


def _outcome(o: Outcome) -> Result:
    return passed(o[1]) if o[0] else failed(o[1])


@dataclass(frozen=True)
class Check:
    """One generated check; ``run`` never raises a project error (it becomes a failed result)."""

    group: str
    name: str
    fn: Callable[[], Result] = field(compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"

    def run(self) -> Result:
        try:
            return self.fn()
        except DeployError as e:
            return failed(str(e))


def _const(result: Result) -> Callable[[], Result]:
    return lambda: result


# --- reading the cluster ----------------------------------------------------------------------------------


class Reader:
    """The few reads the checks need, as plain dicts, through the project's Kubernetes adapter."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def _plain(self, obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.kube.api_client.sanitize_for_serialization(obj)
        return data

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        apps, core, net = self.kube.apps(), self.kube.core(), self.kube.networking()
        readers: dict[str, Callable[..., Any]] = {
            "Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
            "DaemonSet": apps.read_namespaced_daemon_set, "Service": core.read_namespaced_service,
            "Endpoints": core.read_namespaced_endpoints, "Ingress": net.read_namespaced_ingress,
            "Secret": core.read_namespaced_secret,
        }
        obj = self.kube.get_or_none(f"read {kind} {namespace}/{name}", readers[kind], name, namespace)
        if obj is None:
            return None
        if kind == "Secret":  # only existence matters: never keep secret data around
            return {"kind": "Secret", "metadata": {"name": name, "namespace": namespace}}
        data = self._plain(obj)
        data.setdefault("kind", kind)
        return data

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return [self._plain(p) for p in self.kube.pods(namespace, selector)]

    def custom(self, group: str, version: str, plural: str) -> list[dict[str, Any]] | None:
        """Every object of a custom resource, or None when the API is not served (the add-on is not installed)."""
        result = self.kube.get_or_none(f"list {plural}.{group}", self.kube.custom().list_cluster_custom_object,
                                       group, version, plural)
        if result is None:
            return None
        return list(result.get("items") or [])

    def loadbalancers(self) -> list[dict[str, Any]]:
        res = self.kube.call("list services", self.kube.core().list_service_for_all_namespaces)
        return [d for d in (self._plain(s) for s in res.items) if (d.get("spec") or {}).get("type") == "LoadBalancer"]


# --- Kubernetes groups ---------------------------------------------------------------------------------------


def _expected_version(release: Release) -> str | None:
    if not release.local_chart:
        return release.version
    from prjdevops.adapters.helm import load_chart_metadata

    return str(load_chart_metadata(Path(release.chart)).get("version") or "") or None


def _workload(reader: Reader, kind: str, name: str, ns: str) -> Result:
    live = reader.get(kind, name, ns)
    if live is None:
        return failed(f"{kind.lower()}/{ns}/{name} does not exist")
    sel = selector_string(((live.get("spec") or {}).get("selector") or {}).get("matchLabels"))
    pods = reader.pods(ns, sel) if sel else []
    return _outcome(checks.workload_available(live, pods))


def _service(reader: Reader, name: str, ns: str) -> Result:
    svc = reader.get("Service", name, ns)
    if svc is None:
        return failed(f"service/{ns}/{name} does not exist")
    return _outcome(checks.service_endpoints(svc, reader.get("Endpoints", name, ns)))


def _ingress(reader: Reader, name: str, ns: str) -> Result:
    ing = reader.get("Ingress", name, ns)
    if ing is None:
        return failed(f"ingress/{ns}/{name} does not exist")
    wanted = {t.get("secretName") for t in (ing.get("spec") or {}).get("tls") or [] if t.get("secretName")}
    existing = [str(s) for s in sorted(wanted) if reader.get("Secret", str(s), ns) is not None]
    return _outcome(checks.ingress_host_and_tls(ing, existing))


def release_checks(target: Target, reader: Reader, groups: set[str]) -> list[Check]:
    """releases/workloads/services/ingresses from every enabled release's live manifest."""
    out: list[Check] = []
    found: dict[str, int] = {"workloads": 0, "services": 0, "ingresses": 0}
    for rel in (r for r in target.env.releases if r.enabled):
        try:
            info = target.helm.status(rel.name, namespace=rel.namespace)
            want = _expected_version(rel)
        except DeployError as e:
            out.append(Check("releases", rel.name, _const(failed(f"release {rel.name}: {e}"))))
            continue
        if "releases" in groups:
            res = _outcome(checks.release_deployed(rel.name, info.status if info else None,
                                                   info.chart_version if info else None, want))
            out.append(Check("releases", rel.name, _const(res)))
        for obj in parse_manifest(info.manifest if info else "", rel.namespace):
            kind = str(obj.get("kind"))
            meta = obj.get("metadata") or {}
            name, ns = str(meta.get("name")), str(meta.get("namespace") or rel.namespace)
            if kind in WORKLOADS and "workloads" in groups:
                found["workloads"] += 1
                out.append(Check("workloads", f"{ns}/{kind.lower()}/{name}",
                                 functools.partial(_workload, reader, kind, name, ns)))
            elif kind == "Service" and "services" in groups:
                found["services"] += 1
                out.append(Check("services", f"{ns}/{name}", functools.partial(_service, reader, name, ns)))
            elif kind == "Ingress" and "ingresses" in groups:
                found["ingresses"] += 1
                out.append(Check("ingresses", f"{ns}/{name}", functools.partial(_ingress, reader, name, ns)))
    what = {"workloads": "Deployment, StatefulSet or DaemonSet", "services": "Service", "ingresses": "Ingress"}
    for group, count in found.items():
        if group in groups and count == 0:
            out.append(Check(group, "none", _const(skipped(f"no {what[group]} in the environment's deployed "
                                                           "releases"))))
    return out


def _custom_group(reader: Reader, group: str, api: tuple[str, str, str], addon: str,
                  build: Callable[[list[dict[str, Any]]], list[Check]]) -> list[Check]:
    slug = addon.lower().replace(" ", "-")
    try:
        items = reader.custom(*api)
    except DeployError as e:
        return [Check(group, slug, _const(failed(f"cannot list {api[2]}.{api[0]}: {e}")))]
    if items is None:
        return [Check(group, slug, _const(skipped(f"{addon} is not installed (the cluster serves no "
                                                   f"{api[2]}.{api[0]} API)")))]
    return build(items)


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))


def addon_checks(reader: Reader, groups: set[str]) -> list[Check]:
    out: list[Check] = []
    if "certificates" in groups:
        def certs(items: list[dict[str, Any]]) -> list[Check]:
            if not items:
                return [Check("certificates", "cert-manager", _const(skipped("cert-manager is installed but no "
                                                                             "Certificate exists")))]
            return [Check("certificates", _name(c), _const(_outcome(checks.certificate_ready(
                {"kind": "Certificate", **c})))) for c in items]
        out += _custom_group(reader, "certificates", CERTIFICATES, "cert-manager", certs)
    if "metallb" in groups:
        def pools(items: list[dict[str, Any]]) -> list[Check]:
            typed = [{"kind": "IPAddressPool", **p} for p in items]
            found = [Check("metallb", "ip-address-pools", _const(_outcome(checks.pools_exist(typed))))]
            try:
                lbs = reader.loadbalancers()
            except DeployError as e:
                return [*found, Check("metallb", "loadbalancer-services", _const(failed(str(e))))]
            found += [Check("metallb", f"service/{_name(s)}", _const(_outcome(checks.loadbalancer_ip(
                {"kind": "Service", **s}, typed)))) for s in lbs]
            return found
        out += _custom_group(reader, "metallb", IP_POOLS, "MetalLB", pools)
    if "argocd" in groups:
        def apps(items: list[dict[str, Any]]) -> list[Check]:
            if not items:
                return [Check("argocd", "applications", _const(skipped("Argo CD is installed but has no "
                                                                       "Application")))]
            return [Check("argocd", _name(a), _const(_outcome(checks.argocd_app_synced_healthy(
                {"kind": "Application", **a})))) for a in items]
        out += _custom_group(reader, "argocd", ARGO_APPS, "Argo CD", apps)
    return out


# --- the deploy host (testinfra local backend) ---------------------------------------------------------------


def _local_host() -> Any:
    import testinfra

    return testinfra.get_host("local://")


def _existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _kubeconfig_private(env: Environment) -> Result:
    path = kubeconfig_path(env.cluster)
    f = _local_host().file(str(path))
    return _outcome(checks.file_private(str(path), int(f.mode) if f.exists else None))


def _backups_writable(env: Environment) -> Result:
    if not env.backup.enabled:
        return skipped(f"backups are disabled for environment {env.name}")
    host = _local_host()
    d = env.backup.dir
    if host.file(str(d)).exists:
        if not host.file(str(d)).is_directory:
            return failed(f"backups folder {d} is not a directory")
        ok = host.run("test -w %s", str(d)).rc == 0
        return passed(f"{d} is writable") if ok else failed(f"backups folder {d} is not writable")
    parent = _existing(d)
    ok = host.run("test -w %s", str(parent)).rc == 0
    return passed(f"{d} does not exist yet; {parent} is writable, it will be created") if ok else \
        failed(f"backups folder {d} does not exist and {parent} is not writable")


def _free_disk(env: Environment, minimum: int) -> Result:
    where = _existing(env.backup.dir if env.backup.enabled else env.root)
    out = _local_host().run("df -Pk %s", str(where))
    return _outcome(checks.enough_disk(str(where), checks.df_available(out.stdout) if out.rc == 0 else None,
                                       minimum))


def host_checks(env: Environment, min_free: int = MIN_FREE_BYTES) -> list[Check]:
    return [Check("host", "kubeconfig-private", functools.partial(_kubeconfig_private, env)),
            Check("host", "backups-writable", functools.partial(_backups_writable, env)),
            Check("host", "free-disk", functools.partial(_free_disk, env, min_free))]


# --- inventory nodes (SSH) and node checks inside pods (kubectl) -----------------------------------------------


def node_checks(env: Environment) -> list[Check]:
    out: list[Check] = []
    for node in env.inventory:
        if node.host is None:
            continue
        probe = TestinfraProbe(node)  # shared: one connection (or one remembered failure) per node
        out += [Check("nodes", f"{node.name}/{name}", functools.partial(_node_result, name, probe, node))
                for name in NODE_CHECKS]
    if not out:
        out.append(Check("nodes", "inventory", _const(skipped(f"environment {env.name} lists no SSH nodes in "
                                                              "its inventory"))))
    return out


def _node_result(name: str, probe: Any, node: Node) -> Result:
    return _outcome(run_check(name, probe, node))


class KubectlProbe:
    """Runs node commands inside a pod through testinfra's ``kubectl`` backend (``kubectl exec ... /bin/sh -c``)."""

    def __init__(self, env: Environment, pod: str, namespace: str, container: str | None) -> None:
        self.env, self.pod, self.namespace, self.container = env, pod, namespace, container
        self.name = f"pod {namespace}/{pod}"
        self._host: Any = None
        self._state: Result | None = None

    def preflight(self) -> Result | None:
        """None when commands can run; else a skipped (no shell in the image) or failed result, remembered."""
        if self._state is not None or self._host is not None:
            return self._state
        if shutil.which("kubectl") is None:
            self._state = failed(f"{self.name}: kubectl is not installed on this host (needed to exec into pods)")
            return self._state
        import testinfra

        kw: dict[str, Any] = {"namespace": self.namespace, "kubeconfig": str(kubeconfig_path(self.env.cluster)),
                              "context": self.env.cluster.context}
        if self.container:
            kw["container"] = self.container
        host = testinfra.get_host(f"kubectl://{self.pod}", **kw)
        res = host.run("true")
        if res.rc != 0:
            err = (res.stderr or res.stdout).strip()
            if checks.exec_has_no_shell(err):
                self._state = skipped(f"{self.name}: the image has no shell (/bin/sh), node checks cannot run "
                                      "inside it")
            else:
                last = err.splitlines()[-1] if err else f"exit {res.rc}"
                self._state = failed(f"{self.name}: kubectl exec failed: {last}")
            return self._state
        self._host = host
        return None

    def run(self, command: str) -> Any:
        from prjdevops.adapters.ssh import CommandResult

        out = self._host.run(command)
        return CommandResult(int(out.rc), str(out.stdout), str(out.stderr))


def _pod_result(name: str, probe: KubectlProbe, node: Node) -> Result:
    state = probe.preflight()
    return state if state is not None else _outcome(NODE_CHECKS[name](probe, node))


def pod_checks(env: Environment, reader: Reader) -> list[Check]:
    out: list[Check] = []
    for node in env.inventory:
        if node.pods is None:
            continue
        sel = node.pods
        try:
            pods = [p for p in reader.pods(sel.namespace, sel.selector)
                    if (p.get("status") or {}).get("phase") == "Running"
                    and not (p.get("metadata") or {}).get("deletionTimestamp")]
        except DeployError as e:
            out.append(Check("pods", f"{sel.namespace}/{sel.selector}", _const(failed(str(e)))))
            continue
        if not pods:
            out.append(Check("pods", f"{sel.namespace}/{sel.selector}", _const(failed(
                f"no running pod matches selector {sel.selector} in namespace {sel.namespace}"))))
            continue
        for pod in pods:
            pname = str((pod.get("metadata") or {}).get("name"))
            probe = KubectlProbe(env, pname, sel.namespace, sel.container)
            out += [Check("pods", f"{sel.namespace}/{pname}/{name}", functools.partial(_pod_result, name, probe,
                                                                                        node))
                    for name in NODE_CHECKS]
    if not out:
        out.append(Check("pods", "inventory", _const(skipped(f"environment {env.name} lists no pods: entries in "
                                                             "its inventory"))))
    return out


# --- everything ----------------------------------------------------------------------------------------------


def parse_groups(only: Iterable[str]) -> set[str]:
    """``--only`` values (repeatable, comma-separated) as a set of groups; empty means all."""
    chosen = {g.strip() for item in only for g in item.split(",") if g.strip()}
    unknown = sorted(chosen - set(GROUPS))
    if unknown:
        from prjdevops.errors import ConfigError

        raise ConfigError(f"unknown verify group(s) {', '.join(unknown)} (groups: {', '.join(GROUPS)})")
    return chosen or set(GROUPS)


#: A user test's group: ``@pytest.mark.group("app-smoke")`` (on the test, its class, or ``pytestmark`` of its
#: module); a user test without the marker is in this group.
USER_GROUP = "smoke"
GROUP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def parse_only(only: Iterable[str]) -> set[str]:
    """``--only`` values (repeatable, comma-separated) as a set of group names, generated or the team's own;
    empty means every group. Only the spelling is checked here: the suite refuses names no test carries."""
    chosen = {g.strip() for item in only for g in item.split(",") if g.strip()}
    bad = sorted(g for g in chosen if not GROUP_NAME.match(g))
    if bad:
        from prjdevops.errors import ConfigError

        raise ConfigError(f"invalid verify group name(s) {', '.join(bad)}: use lowercase letters, digits and '-'")
    return chosen


def generated_groups(chosen: set[str]) -> set[str]:
    """The generated groups a selection asks for (every one when the selection is empty)."""
    return set(GROUPS) if not chosen else chosen & set(GROUPS)


def unknown_groups(chosen: set[str], user_groups: Iterable[str]) -> list[str]:
    """Selected names that are neither a generated group nor the group of a collected user test."""
    return sorted(chosen - set(GROUPS) - set(user_groups))


def all_groups(user_groups: Iterable[str]) -> list[str]:
    """Generated groups in report order, then the user tests' groups by name."""
    return [*GROUPS, *sorted(set(user_groups) - set(GROUPS))]


def select_nodes(nodes: Iterable[Node], names: Sequence[str] = (), role: str | None = None) -> list[Node]:
    """The SSH nodes a test taking ``host`` runs on: every one, or (``@pytest.mark.nodes(...)``) those named (by
    node name or host) and/or having the role."""
    out = [n for n in nodes if n.host is not None]
    if names:
        out = [n for n in out if n.name in names or n.host in names]
    if role is not None:
        out = [n for n in out if role in n.roles]
    return out


def discover(target: Target, groups: Sequence[str] | set[str] = GROUPS, *,
             min_free: int = MIN_FREE_BYTES) -> list[Check]:
    """Every check for the environment, in group order."""
    wanted = set(groups)
    reader = Reader(target.kube)
    found: list[Check] = []
    if wanted & {"releases", "workloads", "services", "ingresses"}:
        found += release_checks(target, reader, wanted)
    found += addon_checks(reader, wanted)
    if "host" in wanted:
        found += host_checks(target.env, min_free)
    if "nodes" in wanted:
        found += node_checks(target.env)
    if "pods" in wanted:
        found += pod_checks(target.env, reader)
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(found, key=lambda c: order[c.group])


def min_free_from_env() -> int:
    """``PRJDEVOPS_VERIFY_MIN_FREE_MB`` overrides the deploy host's free-disk threshold."""
    raw = os.environ.get("PRJDEVOPS_VERIFY_MIN_FREE_MB", "")
    try:
        return int(raw) * (1 << 20) if raw else MIN_FREE_BYTES
    except ValueError:
        return MIN_FREE_BYTES
