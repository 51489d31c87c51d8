"""Pure data: what an environment is and what it deploys. Frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prjdevops.hooks import Hook


@dataclass(frozen=True)
class Cluster:
    """Where an environment's Kubernetes API is, and what the guard expects to find there."""

    context: str
    kubeconfig: Path | None = None  # None: $KUBECONFIG, then ~/.kube/config
    api_server: str | None = None  # the guard refuses a context whose server differs
    ca_fingerprint: str | None = None  # sha256 of the cluster CA (hex, colons optional)
    sandbox: bool = False  # the embedded local API server (`invoke sandbox.up`)


@dataclass(frozen=True)
class Guards:
    """Safety settings; a flow applies them from data, never from the task's name."""

    confirm: bool = False  # typed "yes" (or --yes) before any change
    context_pattern: str | None = None  # regex the context name must match
    check_api_server: bool = False  # compare the context's server with Cluster.api_server
    forbid_latest_tag: bool = False  # refuse image.tag "latest" or empty
    lock: bool = True  # one change at a time (a Lease in the cluster), for every command that changes the cluster
    lease_seconds: int = 60  # the Lease expires this long after its holder's last renewal (renewed every third)
    health_timeout: int = 300  # seconds for the rollout health gate
    rollback_timeout: int = 300


@dataclass(frozen=True)
class BackupSettings:
    enabled: bool = False
    dir: Path = Path("backups")
    keep: int = 10


@dataclass(frozen=True)
class SecretSource:
    """A value taken from outside the repo at deploy time; always redacted."""

    path: str  # dotted values path, e.g. "secrets.DATABASE_PASSWORD"
    env: str | None = None
    file: Path | None = None


@dataclass(frozen=True)
class Release:
    """One Helm release of an environment."""

    name: str
    chart: str  # in-repo path (relative to the project root) or a chart name in `repo`
    namespace: str
    group: str = "applications"  # applications | cluster-services | dev-tools
    tier: int = 3
    values_files: tuple[Path, ...] = ()  # layered in order over the chart defaults
    set_values: tuple[str, ...] = ()  # --set expressions from the environment file
    secrets: tuple[SecretSource, ...] = ()
    needs: tuple[str, ...] = ()
    repo: str | None = None  # chart repository URL (http(s):// or oci://)
    version: str | None = None  # pinned chart version for repo charts
    enabled: bool = True
    wait: str = "watcher"
    timeout: int = 300
    hooks: tuple[Hook, ...] = ()  # this release's own steps around a change (see prjdevops/hooks.py)

    @property
    def local_chart(self) -> bool:
        return self.repo is None


@dataclass(frozen=True)
class PodSelector:
    """Pods to run node checks in (testinfra's kubectl backend): resolved by label selector, never by name."""

    namespace: str
    selector: str
    container: str | None = None


@dataclass(frozen=True)
class Node:
    """One inventory entry: a cluster node reached over SSH (``host``) or through pods (``pods``)."""

    host: str | None = None
    port: int = 22
    user: str | None = None
    key_file: Path | None = None
    known_hosts: Path | None = None  # None: ~/.ssh/known_hosts; host keys are always verified
    roles: tuple[str, ...] = ()
    backend: str = "paramiko"  # testinfra backend: paramiko | ssh
    services: tuple[str, ...] | None = None  # processes that must run; None: by role (kubelet)
    ports: tuple[int, ...] | None = None  # TCP ports that must listen; None: by role
    timeout: int = 10  # seconds to connect (and per command)
    pods: PodSelector | None = None

    @property
    def name(self) -> str:
        if self.pods is not None:
            return f"pods {self.pods.namespace}/{self.pods.selector}"
        return f"{self.host}:{self.port}" if self.port != 22 else str(self.host)


@dataclass(frozen=True)
class LibrarySettings:
    """Where an environment's library charts come from (the ``libraries:`` section)."""

    mirror: str | None = None  # serve every repository chart from this repository instead (air-gap, stand-ins)
    standins: bool = False  # the mirror is the project's stand-in repository: start it on loopback when absent


@dataclass(frozen=True)
class VerifySettings:
    """The ``verify:`` section: what the production deploy's verify gate runs."""

    gate: tuple[str, ...] | None = None  # verify groups (generated or the team's own); None: the Kubernetes groups


@dataclass(frozen=True)
class Environment:
    """A deploy target: cluster, guards, backups and releases, loaded from environments/<name>.yaml."""

    name: str
    file: Path
    root: Path  # project root all relative paths are resolved against
    cluster: Cluster
    description: str = ""
    guards: Guards = field(default_factory=Guards)
    backup: BackupSettings = field(default_factory=BackupSettings)
    namespaces: tuple[str, ...] = ()
    releases: tuple[Release, ...] = ()
    inventory: tuple[Node, ...] = ()
    libraries: LibrarySettings = field(default_factory=LibrarySettings)
    hooks: tuple[Hook, ...] = ()  # steps around a change of any release of this environment
    verify: VerifySettings = field(default_factory=VerifySettings)

    def release(self, name: str) -> Release:
        for r in self.releases:
            if r.name == name:
                return r
        from prjdevops.errors import ConfigError

        known = ", ".join(r.name for r in self.releases) or "none"
        raise ConfigError(f"environment {self.name!r} has no release {name!r} (known: {known})")

    def group(self, group: str) -> tuple[Release, ...]:
        return tuple(r for r in self.releases if r.group == group and r.enabled)
