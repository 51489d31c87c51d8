"""Load and validate environments/<name>.yaml into :class:`~prjdevops.model.Environment`.

Validation collects every problem (file, key, reason) before failing, so one run shows them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prjdevops.errors import ConfigError, EnvironmentNotFound
from prjdevops.hooks import Hook
from prjdevops.hooks import parse as parse_hooks
from prjdevops.model import (
    BackupSettings,
    Cluster,
    Environment,
    Guards,
    LibrarySettings,
    Node,
    PodSelector,
    Release,
    SecretSource,
    VerifySettings,
)
from prjdevops.yamlio import read_yaml

ENV_VAR = "PRJDEVOPS_ENVIRONMENTS"  # points the tool at another environments folder (tests use it)
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GROUPS = {"cluster-services": 1, "dev-tools": 2, "applications": 3}


def project_root() -> Path:
    """The repository root: the folder holding environments/ (this package lives inside it)."""
    return Path(__file__).resolve().parent.parent


def environments_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """Where environment files live: explicit setting, then $PRJDEVOPS_ENVIRONMENTS, then ./environments."""
    chosen = configured or os.environ.get(ENV_VAR) or project_root() / "environments"
    return Path(chosen).expanduser().resolve()


def known_environments(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


def load_environment(name: str, directory: Path | None = None, *, standins_port: int | None = None) -> Environment:
    """Load one environment by name; raises ConfigError listing every problem found.

    ``standins_port`` (invoke.yaml ``prjdevops.standins_port``): serve a ``libraries.standins: true`` environment's
    stand-in repository on this loopback port instead of its mirror's (two runs on one machine need not meet)."""
    directory = directory or environments_dir()
    if not DNS1123_LABEL.match(name or ""):
        raise EnvironmentNotFound(f"invalid environment name {name!r}: use lowercase letters, digits and '-'")
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = known_environments(directory)
        raise EnvironmentNotFound(
            f"unknown environment {name!r}; known environments: {', '.join(known) or 'none'}"
            f" (in {directory})")
    data = read_yaml(path, what="environment file")
    return _Parser(path, _root_for(directory), standins_port=standins_port).environment(name, data)


def _mirrored(repo: str, mirror: str) -> str:
    """The mirror's address for a chart repository: HTTP repositories become the mirror itself; OCI ones keep
    their path on the mirror's host (oci://registry-1.docker.io/bitnamicharts -> oci://<mirror>/bitnamicharts),
    so an OCI chart is still pulled as OCI."""
    if not repo.startswith("oci://"):
        return mirror
    host = re.sub(r"^[a-z]+://", "", mirror).split("/", 1)[0]
    path = repo[len("oci://"):].split("/", 1)
    return f"oci://{host}/{path[1]}" if len(path) > 1 else f"oci://{host}"


def _on_port(url: str, port: int) -> str:
    """``url`` with its port replaced (``http://127.0.0.1:8879`` -> ``http://127.0.0.1:<port>``)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _root_for(directory: Path) -> Path:
    """Relative paths in an environment file resolve against the folder above environments/."""
    return directory.parent


# --- validation ----------------------------------------------------------------------------------------


@dataclass
class _Field:
    kind: type | tuple[type, ...]
    required: bool = False
    check: Callable[[Any], str | None] | None = None  # returns a reason when invalid


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "boolean", int: "integer", str: "string", list: "list", dict: "mapping", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _dns_label(v: Any) -> str | None:
    if isinstance(v, str) and DNS1123_LABEL.match(v) and len(v) <= 63:
        return None
    return "must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)"


def _release_name(v: Any) -> str | None:
    if isinstance(v, str) and DNS1123_LABEL.match(v) and len(v) <= 53:
        return None
    return "must be a valid Helm release name (DNS-1123 label, at most 53 characters)"


def _regex(v: Any) -> str | None:
    if v is None:
        return None
    try:
        re.compile(v)
    except re.error as e:
        return f"is not a valid regular expression: {e}"
    return None


def _positive(v: Any) -> str | None:
    return None if isinstance(v, int) and v > 0 else "must be a positive integer"


_TOP = {
    "name": _Field(str), "description": _Field(str), "cluster": _Field(dict, required=True),
    "guards": _Field(dict), "backup": _Field(dict), "namespaces": _Field(list), "releases": _Field(list),
    "inventory": _Field(list), "libraries": _Field(dict), "hooks": _Field(list), "verify": _Field(dict),
}
_CLUSTER = {
    "context": _Field(str, required=True), "kubeconfig": _Field((str, type(None))),
    "api_server": _Field((str, type(None))), "ca_fingerprint": _Field((str, type(None))),
    "sandbox": _Field(bool),
}
_GUARDS = {
    "confirm": _Field(bool), "context_pattern": _Field((str, type(None)), check=_regex),
    "check_api_server": _Field(bool), "forbid_latest_tag": _Field(bool), "lock": _Field(bool),
    "lease_seconds": _Field(int, check=_positive),
    "health_timeout": _Field(int, check=_positive), "rollback_timeout": _Field(int, check=_positive),
}
_BACKUP = {"enabled": _Field(bool), "dir": _Field(str), "keep": _Field(int, check=_positive)}
_RELEASE = {
    "name": _Field(str, required=True, check=_release_name), "chart": _Field(str, required=True),
    "namespace": _Field(str, required=True, check=_dns_label),
    "group": _Field(str, check=lambda v: None if v in GROUPS else f"must be one of {', '.join(GROUPS)}"),
    "values": _Field(list), "set": _Field(list), "secrets": _Field(list), "needs": _Field(list),
    "repo": _Field((str, type(None))), "version": _Field((str, type(None))), "enabled": _Field(bool),
    "wait": _Field(str, check=lambda v: None if v in ("watcher", "legacy", "none") else
                   "must be watcher, legacy or none"),
    "timeout": _Field(int, check=_positive), "tier": _Field(int), "hooks": _Field(list),
}
# `libraries:` of an environment file: shared definitions in environments/libraries/<name>.yaml, overridden here.
_LIBRARIES = {"mirror": _Field((str, type(None))), "standins": _Field(bool), "releases": _Field(dict)}
_LIBRARY_OVERRIDE = {k: _Field(v.kind, check=v.check) for k, v in _RELEASE.items() if k != "name"}
LIBRARIES_DIR = "libraries"  # next to the environment files
LIBRARY_VALUES_DIR = Path("helm") / "libraries"  # <release>/values.yaml, <release>/values-<env>.yaml
_SECRET = {"path": _Field(str, required=True), "env": _Field(str), "file": _Field(str)}


def _tcp_port(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 else \
        "must be a TCP port (1-65535)"


def _names(v: Any) -> str | None:
    return None if all(isinstance(x, str) and x for x in v) else "must be a list of non-empty strings"


def _ports(v: Any) -> str | None:
    return None if all(_tcp_port(x) is None for x in v) else "must be a list of TCP ports (1-65535)"


_NODE = {
    "host": _Field(str), "port": _Field(int, check=_tcp_port), "user": _Field(str), "key_file": _Field(str),
    "known_hosts": _Field(str), "roles": _Field(list, check=_names),
    "backend": _Field(str, check=lambda v: None if v in ("paramiko", "ssh") else "must be paramiko or ssh"),
    "services": _Field(list, check=_names), "ports": _Field(list, check=_ports),
    "timeout": _Field(int, check=_positive), "pods": _Field(dict),
}


def _verify_groups(v: Any) -> str | None:
    # the team's own groups are only known once the suite is collected: the spelling is checked here, the
    # suite refuses a name no test carries
    if not v:
        return "must list at least one verify group"
    if all(isinstance(x, str) and DNS1123_LABEL.match(x) for x in v):
        return None
    return "must be a list of verify group names (lowercase letters, digits and '-')"


_VERIFY = {"gate": _Field(list, check=_verify_groups)}
_PODS = {"namespace": _Field(str, required=True, check=_dns_label), "selector": _Field(str, required=True),
         "container": _Field(str)}


class _Parser:
    def __init__(self, path: Path, root: Path, *, standins_port: int | None = None) -> None:
        self.path = path
        self.root = root
        self.standins_port = standins_port
        self.problems: list[str] = []
        self.invalid_releases: set[str] = set()  # named but broken: `needs` on them is not "unknown"
        self.broken_releases: list[Release] = []  # built despite problems: their `needs` are checked too

    def problem(self, key: str, reason: str) -> None:
        self.problems.append(f"{self.path}: {key}: {reason}")

    def section(self, data: Any, fields: Mapping[str, _Field], where: str) -> dict[str, Any]:
        """Check one mapping against its fields; returns the valid entries only."""
        if not isinstance(data, dict):
            self.problem(where or "(top level)", f"must be a mapping, got {_type_name(type(data))}")
            return {}
        good: dict[str, Any] = {}
        for key, value in data.items():
            full = f"{where}.{key}" if where else str(key)
            spec = fields.get(key) if isinstance(key, str) else None
            if spec is None:
                self.problem(full, f"unknown key (allowed: {', '.join(sorted(fields))})")
                continue
            kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
            # bool is an int in Python; keep them apart so `keep: true` is reported.
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                self.problem(full, f"must be {_a(_type_name(spec.kind))}, got {_type_name(type(value))}")
                continue
            reason = spec.check(value) if spec.check else None
            if reason:
                self.problem(full, reason)
                continue
            good[key] = value
        for key, spec in fields.items():
            if spec.required and key not in data:
                self.problem(f"{where}.{key}" if where else key, "is required")
        return good

    def resolve(self, value: str) -> Path:
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else self.root / p

    def environment(self, name: str, data: Any) -> Environment:
        top = self.section(data if data is not None else {}, _TOP, "")
        if "name" in top and top["name"] != name:
            self.problem("name", f"is {top['name']!r} but the file is named {name}.yaml")
        cluster = self.section(top.get("cluster", {}), _CLUSTER, "cluster")
        guards = self.section(top.get("guards", {}), _GUARDS, "guards")
        backup = self.section(top.get("backup", {}), _BACKUP, "backup")
        namespaces = []
        for i, ns in enumerate(top.get("namespaces", [])):
            reason = _dns_label(ns)
            if reason:
                self.problem(f"namespaces[{i}]", reason)
            else:
                namespaces.append(ns)
        releases = [r for i, item in enumerate(top.get("releases", []))
                    if (r := self.release(item, f"releases[{i}]")) is not None]
        libraries = self.section(top.get("libraries", {}), _LIBRARIES, "libraries")
        if self.standins_port and libraries.get("standins") and isinstance(libraries.get("mirror"), str):
            libraries["mirror"] = _on_port(libraries["mirror"], self.standins_port)
        if "libraries" in top:
            releases += self.libraries(name, libraries, {r.name for r in releases})
        self.check_release_set(releases)
        env_hooks = self.hooks(top.get("hooks"), "hooks", scope="environment")
        verify = self.section(top.get("verify", {}), _VERIFY, "verify")
        inventory = [n for i, item in enumerate(top.get("inventory", []))
                     if (n := self.node(item, f"inventory[{i}]")) is not None]
        seen_nodes: set[str] = set()
        for node in inventory:
            if node.name in seen_nodes:
                self.problem("inventory", f"node {node.name} is listed twice")
            seen_nodes.add(node.name)
        if self.problems:
            count = len(self.problems)
            raise ConfigError(f"environment {name!r} is invalid ({count} problem{'s' * (count > 1)}):\n  "
                              + "\n  ".join(self.problems))
        return Environment(
            name=name, file=self.path, root=self.root, description=top.get("description", ""),
            cluster=Cluster(
                context=cluster["context"],
                kubeconfig=self.resolve(cluster["kubeconfig"]) if cluster.get("kubeconfig") else None,
                api_server=cluster.get("api_server"), ca_fingerprint=cluster.get("ca_fingerprint"),
                sandbox=cluster.get("sandbox", False)),
            guards=Guards(**guards),
            backup=BackupSettings(enabled=backup.get("enabled", False),
                                  dir=self.resolve(backup.get("dir", "backups")), keep=backup.get("keep", 10)),
            namespaces=tuple(namespaces), releases=tuple(releases),
            inventory=tuple(inventory), hooks=tuple(env_hooks),
            libraries=LibrarySettings(mirror=libraries.get("mirror"), standins=libraries.get("standins", False)),
            verify=VerifySettings(gate=tuple(verify["gate"]) if "gate" in verify else None),
        )

    def libraries(self, env_name: str, section: dict[str, Any], taken: set[str]) -> list[Release]:
        """Every shared library definition, with this environment's overrides, values files and mirror.

        Values layer: ``helm/libraries/<name>/values.yaml`` then ``values-<env>.yaml`` (each when present),
        then the override's ``values:``; ``set:`` appends; other override keys replace the shared ones.
        """
        shared_dir = self.path.parent / LIBRARIES_DIR
        files = sorted(shared_dir.glob("*.yaml")) if shared_dir.is_dir() else []
        overrides = section.get("releases", {})
        mirror = section.get("mirror")
        if section.get("standins") and not mirror:
            self.problem("libraries.standins", "needs libraries.mirror: the loopback URL to serve stand-ins on")
        out: list[Release] = []
        known: set[str] = set()
        for f in files:
            sub = _Parser(f, self.root)
            base = sub.section(read_yaml(f, what="library definition"), _RELEASE, "")
            self.problems.extend(sub.problems)
            if sub.problems:
                continue
            name = base["name"]
            if name != f.stem:
                self.problems.append(f"{f}: name: is {name!r} but the file is named {f.stem}.yaml")
                continue
            known.add(name)
            where = f"libraries.releases.{name}"
            over = self.section(overrides.get(name) or {}, _LIBRARY_OVERRIDE, where)
            if name in taken:
                self.problem(where, f"release {name!r} is declared under releases: too")
                continue
            item = {**base, **{k: v for k, v in over.items() if k not in ("values", "set")}}
            values_dir = self.root / LIBRARY_VALUES_DIR / name
            layered = [str(p) for p in (values_dir / "values.yaml", values_dir / f"values-{env_name}.yaml")
                       if p.is_file()]
            layered += [str(self.resolve(v)) for v in [*base.get("values", []), *over.get("values", [])]
                        if isinstance(v, str)]
            item["values"] = layered
            item["set"] = [*base.get("set", []), *over.get("set", [])]
            item.setdefault("tier", GROUPS.get(str(item.get("group", "")), 1))
            if mirror and item.get("repo"):
                item["repo"] = _mirrored(str(item["repo"]), mirror)
            rel = self.release(item, where)
            if rel is not None:
                out.append(rel)
        for name in overrides:
            if name not in known:
                self.problem(f"libraries.releases.{name}",
                             f"no shared definition {LIBRARIES_DIR}/{name}.yaml (known: {', '.join(sorted(known))})")
        return out

    def node(self, item: Any, where: str) -> Node | None:
        """An inventory entry: ``host`` (SSH, host key always checked) or ``pods`` (kubectl exec), not both."""
        before = len(self.problems)
        n = self.section(item, _NODE, where)
        if len(self.problems) > before:
            return None
        if ("host" in n) == ("pods" in n):
            self.problem(where, "needs exactly one of host (a node over SSH) or pods (node checks run in pods)")
            return None
        pods = None
        if "pods" in n:
            ssh_keys = sorted(set(n) & {"port", "user", "key_file", "known_hosts", "backend"})
            if ssh_keys:
                self.problem(where, f"{', '.join(ssh_keys)} only apply to a host reached over SSH, not to pods")
                return None
            p = self.section(n["pods"], _PODS, f"{where}.pods")
            if len(self.problems) > before:
                return None
            pods = PodSelector(namespace=p["namespace"], selector=p["selector"], container=p.get("container"))
        return Node(
            host=n.get("host"), port=n.get("port", 22), user=n.get("user"),
            key_file=self.resolve(n["key_file"]) if "key_file" in n else None,
            known_hosts=self.resolve(n["known_hosts"]) if "known_hosts" in n else None,
            roles=tuple(n.get("roles", ())), backend=n.get("backend", "paramiko"),
            services=tuple(n["services"]) if "services" in n else None,
            ports=tuple(n["ports"]) if "ports" in n else None, timeout=n.get("timeout", 10), pods=pods)

    def release(self, item: Any, where: str) -> Release | None:
        before = len(self.problems)
        r = self.section(item, _RELEASE, where)
        broken = len(self.problems) > before
        if broken and isinstance(item, dict) and isinstance(item.get("name"), str):
            self.invalid_releases.add(item["name"])
        if not all(k in r for k in ("name", "chart", "namespace")):
            return None
        # a release with a bad key is still checked further (chart, values, needs): every problem in one pass
        chart_dir: Path | None = None
        if r.get("repo") is None:
            chart_dir = self.resolve(r["chart"])
            if not (chart_dir / "Chart.yaml").is_file():
                self.problem(f"{where}.chart", f"chart path {r['chart']!r} has no Chart.yaml ({chart_dir})")
        elif not r.get("version"):
            self.problem(f"{where}.version", "a chart from a repository must pin its version")
        values: list[Path] = []
        for i, v in enumerate(r.get("values", [])):
            if not isinstance(v, str):
                self.problem(f"{where}.values[{i}]", "must be a string (a values file path)")
                continue
            # values files are relative to the chart folder for in-repo charts, else to the project root
            p = Path(os.path.expanduser(v))
            full = p if p.is_absolute() else ((chart_dir or self.root) / p)
            if not full.is_file():
                self.problem(f"{where}.values[{i}]", f"values file {v!r} does not exist ({full})")
            values.append(full)
        sets = []
        for i, s in enumerate(r.get("set", [])):
            if not isinstance(s, str) or "=" not in s:
                self.problem(f"{where}.set[{i}]", "must be a key=value string")
            else:
                sets.append(s)
        secrets = []
        for i, s in enumerate(r.get("secrets", [])):
            sec = self.section(s, _SECRET, f"{where}.secrets[{i}]")
            if sec and ("env" in sec) == ("file" in sec):
                self.problem(f"{where}.secrets[{i}]", "needs exactly one of env or file")
            elif sec.get("path"):
                secrets.append(SecretSource(path=sec["path"], env=sec.get("env"),
                                            file=self.resolve(sec["file"]) if sec.get("file") else None))
        needs = [n for n in r.get("needs", []) if isinstance(n, str)]
        group = r.get("group", "applications")
        built = Release(
            name=r["name"], chart=str(chart_dir) if chart_dir else r["chart"], namespace=r["namespace"],
            group=group, tier=r.get("tier", GROUPS[group]), values_files=tuple(values),
            set_values=tuple(sets), secrets=tuple(secrets), needs=tuple(needs), repo=r.get("repo"),
            version=r.get("version"), enabled=r.get("enabled", True), wait=r.get("wait", "watcher"),
            timeout=r.get("timeout", 300), hooks=tuple(self.hooks(r.get("hooks"), f"{where}.hooks", scope="release")))
        if broken or len(self.problems) > before:
            self.broken_releases.append(built)
            return None
        return built

    def hooks(self, items: Any, where: str, *, scope: str) -> list[Hook]:
        found, problems = parse_hooks(items, where, scope=scope)
        for key, reason in problems:
            self.problem(key, reason)
        return found

    def check_release_set(self, releases: list[Release]) -> None:
        seen: set[str] = set()
        for r in releases:
            if r.name in seen:
                self.problem("releases", f"release name {r.name!r} is used twice")
            seen.add(r.name)
        for r in [*releases, *self.broken_releases]:
            for n in r.needs:
                if n not in seen and n not in self.invalid_releases:
                    self.problem(f"releases[{r.name}].needs", f"names unknown release {n!r}")
        # reported here too so `envs.check` shows a cycle before any flow tries to order the releases
        from prjdevops.dag import cycle_text, find_cycles

        for cycle in find_cycles({r.name: r.needs for r in releases}):
            self.problem("releases", f"dependency cycle: {cycle_text(cycle)}")
