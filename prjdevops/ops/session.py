"""Opening an environment for a flow: load it, make sure its cluster is there, bind the adapters.

The embedded ``local`` environment starts the sandbox API server on demand (like SQLite for a database
tool), so ``invoke stg.deploy --env local`` works on a fresh machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prjdevops.environments import environments_dir, load_environment, project_root
from prjdevops.errors import SandboxError
from prjdevops.model import Environment
from prjdevops.ops.release import Prepared, Reporter, Target, _quiet, connect, prepare


@dataclass(frozen=True)
class Settings:
    """What the task layer passes down from invoke.yaml (all optional)."""

    environments_dir: str = ""
    sandbox_home: str = ""
    sandbox_port: int = 6550
    standins_port: int = 0  # 0: the environment's own mirror port

    def env_dir(self) -> Path:
        return environments_dir(self.environments_dir or None)

    def sandbox_dir(self) -> Path:
        return Path(self.sandbox_home).expanduser().resolve() if self.sandbox_home else \
            project_root() / ".prjdevops" / "sandbox"


def load(settings: Settings, name: str) -> Environment:
    return load_environment(name, settings.env_dir(), standins_port=settings.standins_port or None)


@contextmanager
def _sandbox() -> Iterator[Any]:
    """The sandbox's lifecycle (the one place the library reaches the sandbox package); its errors become the
    tool's one-line ``SandboxError``."""
    from kubesandbox import lifecycle
    from kubesandbox.errors import SandboxError as Failure

    try:
        yield lifecycle
    except Failure as e:
        raise SandboxError(e.message, hint=e.hint) from e


def sandbox_up(settings: Settings, port: int = 0) -> Any:
    with _sandbox() as lifecycle:
        return lifecycle.up(settings.sandbox_dir(), port=port or settings.sandbox_port)


def sandbox_status(settings: Settings) -> Any:
    with _sandbox() as lifecycle:
        return lifecycle.status(settings.sandbox_dir())


def sandbox_down(settings: Settings) -> bool:
    with _sandbox() as lifecycle:
        return bool(lifecycle.down(settings.sandbox_dir()))


def sandbox_reset(settings: Settings) -> None:
    with _sandbox() as lifecycle:
        lifecycle.reset(settings.sandbox_dir())


def ensure_cluster(env: Environment, settings: Settings, report: Reporter = _quiet) -> None:
    """Start the sandbox for a sandbox-backed environment whose API server is not running."""
    if not env.cluster.sandbox:
        return
    home = settings.sandbox_dir()
    if env.cluster.kubeconfig is not None and env.cluster.kubeconfig.parent != home:
        # the environment names its own kubeconfig location: start the sandbox there
        home = env.cluster.kubeconfig.parent
    with _sandbox() as lifecycle:
        if lifecycle.status(home) is None:
            info = lifecycle.up(home, port=settings.sandbox_port)
            report(f"started the sandbox API server at {info.url} (stop it with: invoke sandbox.down)")


def open_target(settings: Settings, name: str, report: Reporter = _quiet) -> Target:
    env = load(settings, name)
    ensure_cluster(env, settings, report)
    target = connect(env)
    target.kube.on_retry = report
    return target


def open_release(settings: Settings, name: str, release: str, *, values_files: Sequence[Path] = (),
                 sets: Sequence[str] = (), report: Reporter = _quiet,
                 allow_unknown: bool = False) -> tuple[Target, Prepared]:
    """Load, layer and check the release's values first (bad input fails before any cluster is touched or
    started), then bind the environment's cluster."""
    env = load(settings, name)
    prep = prepare(env, release, values_files=values_files, sets=sets, allow_unknown=allow_unknown)
    ensure_cluster(env, settings, report)
    target = connect(env)
    target.kube.on_retry = report
    return target, prep
