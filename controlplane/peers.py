"""Build the peers the tool is compared with, once per machine: ``python -m controlplane.peers [helm|helmfile ...]``.

* the helm v4 CLI at the version helm-python-sdk bundles (``helm.sh/helm/v4/cmd/helm``),
* helm-diff (``github.com/databus23/helm-diff/v3``) as a helm plugin in a plugin folder of the cache (HELM_PLUGINS),
* helmfile (``github.com/helmfile/helmfile``), for the bench only.

Each is pinned by a go.mod/go.sum under ``controlplane/go_peers/<name>/`` (outside ``controlplane/go`` so the
control plane's cache key does not move) and lands in
``${XDG_CACHE_HOME:-~/.cache}/prjdevops/peers/<key>/bin/`` with the helpers of ``controlplane.build`` (same key
scheme, same skip-when-it-runs rule, same temporary-name-then-rename, same ``build-log.jsonl`` of cold build times).

``--print-dir`` prints the folder; ``--env`` prints ``PATH=...`` and ``HELM_PLUGINS=...`` lines for a shell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controlplane.build import (
    BuildError,
    Target,
    build_one,
    cache_root,
    find_go,
    go_mod_digest,
    platform_tag,
    record_build,
    runs,
)

PEERS_GO_DIR = Path(__file__).resolve().parent / "go_peers"
HELM_VERSION = "v4.2.3"  # the helm that helm-python-sdk bundles (helm_python reports it)
HELMFILE_VERSION = "v1.8.0"
HELM_DIFF_MODULE = "github.com/databus23/helm-diff/v3"
# The Go module proxy here refuses helm-diff's version list (so ``@latest``) and every newer version tried (v3.9.12 to
# v3.14.0: "403 This module version is not available"); it serves this exact one.
HELM_DIFF_VERSION = "v3.9.11"


@dataclass(frozen=True)
class Peer:
    target: Target
    version_args: tuple[str, ...]


def _helm_ldflags() -> tuple[str, ...]:
    # An ad-hoc build reports v4.x-dev: set what `helm version` prints (plugins and helmfile read it).
    return (f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}",)


PEERS: tuple[Peer, ...] = (
    Peer(Target("helm", PEERS_GO_DIR / "helm", "helm.sh/helm/v4/cmd/helm", _helm_ldflags()), ("version",)),
    Peer(Target("helmfile", PEERS_GO_DIR / "helmfile", "github.com/helmfile/helmfile",
                (f"-X go.szostok.io/version.version={HELMFILE_VERSION}",)), ("--version",)),
)
NAMES: tuple[str, ...] = tuple(p.target.name for p in PEERS)


def cache_key() -> str:
    return f"helm-{HELM_VERSION}_helmfile-{HELMFILE_VERSION}_{platform_tag()}_{go_mod_digest(PEERS_GO_DIR)}"


def peers_dir() -> Path:
    """``$PRJDEVOPS_PEERS_DIR`` (used as it is) or the per-machine cache folder."""
    given = os.environ.get("PRJDEVOPS_PEERS_DIR")
    return Path(given).expanduser() if given else cache_root("peers") / cache_key()


def bin_dir() -> Path:
    return peers_dir() / "bin"


def plugins_dir() -> Path:
    """The HELM_PLUGINS folder the peers' helm uses (helm-diff goes there)."""
    return peers_dir() / "plugins"


def binary(name: str) -> Path | None:
    """The built peer ``name`` when it runs, else None."""
    peer = next(p for p in PEERS if p.target.name == name)
    path = bin_dir() / name
    return path if runs(path, peer.version_args) else None


def helm_diff_installed() -> bool:
    return (plugins_dir() / "helm-diff" / "plugin.yaml").is_file() and (plugins_dir() / "helm-diff" / "bin"
                                                                         / "diff").is_file()


def peer_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment where ``helm``/``helmfile`` are the built peers and helm sees the cache's plugins."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    env["HELM_PLUGINS"] = str(plugins_dir())
    # helm-diff 3.9.11 renders with `helm template --validate --dry-run=client`, two flags helm v4 refuses together
    # ("if any flags in the group [validate dry-run] are set none of the others can be"); with this it renders with
    # `helm upgrade --install --dry-run=server` instead: the server-side render the tool's own plan makes
    env.setdefault("HELM_DIFF_USE_UPGRADE_DRY_RUN", "true")
    return env


def _go_env() -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local")
    env.setdefault("GOFLAGS", "-p=2")
    return env


def install_helm_diff(go: str, log: Callable[[str], None]) -> None:
    """Build helm-diff into ``plugins/helm-diff`` (its plugin.yaml from the module). Raises BuildError, saying
    exactly why, when the module proxy does not serve it."""
    work = peers_dir() / "helm-diff-src"
    done = subprocess.run([go, "mod", "download", "-json", f"{HELM_DIFF_MODULE}@{HELM_DIFF_VERSION}"],
                          capture_output=True, text=True, env=_go_env(), cwd=PEERS_GO_DIR, check=False, timeout=600)
    try:
        info = json.loads(done.stdout)
    except ValueError:
        info = {"Error": " | ".join(done.stderr.strip().splitlines()[-3:])}
    if done.returncode != 0 or info.get("Error"):
        reason = " ".join(str(info.get("Error") or "").split())  # go's message, on one line
        raise BuildError(f"{HELM_DIFF_MODULE}@{HELM_DIFF_VERSION} cannot be fetched from the Go module proxy: "
                         f"{reason}")
    source = Path(info["Dir"])
    shutil.rmtree(work, ignore_errors=True)
    plugin = plugins_dir() / "helm-diff"
    (plugin / "bin").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    build = subprocess.run(["nice", "-n", "19", go, "build", "-trimpath", "-ldflags=-s -w", "-o",
                            str(plugin / "bin" / "diff"), "."], cwd=source, env=_go_env(), capture_output=True,
                           text=True, check=False)
    if build.returncode != 0:
        tail = " | ".join(build.stderr.strip().splitlines()[-5:])
        raise BuildError(f"go build {HELM_DIFF_MODULE}@{info['Version']} failed: {tail}")
    shutil.copyfile(source / "plugin.yaml", plugin / "plugin.yaml")
    seconds = time.monotonic() - started
    record_build(peers_dir(), "helm-diff", seconds, version=str(info["Version"]))
    log(f"built helm-diff {info['Version']} in {seconds:.0f} s")


def ensure_built(names: Sequence[str] = NAMES, with_diff: bool = True,
                 log: Callable[[str], None] = print) -> Path:
    """Build the peers in ``names`` that are missing; then helm-diff (when helm is among them and ``with_diff``).

    A helm-diff the proxy does not serve is reported through ``log`` and not raised: helm works without it."""
    folder = peers_dir()
    go = None
    for peer in PEERS:
        name = peer.target.name
        if name not in names:
            continue
        if runs(bin_dir() / name, peer.version_args):
            log(f"skip  {name}: already built in {bin_dir()}")
            continue
        if os.environ.get("PRJDEVOPS_PEERS_DIR"):
            raise BuildError(f"PRJDEVOPS_PEERS_DIR={folder} lacks a runnable bin/{name} (nothing is built there)")
        go = go or find_go()
        if go is None:
            raise BuildError(f"no Go toolchain to build {name} (install Go, or set PRJDEVOPS_PEERS_DIR)")
        log(f"build {name} ({peer.target.package}) ...")
        seconds = build_one(peer.target, bin_dir(), go, niceness=19)
        log(f"built {name} in {seconds:.0f} s")
        record_build(folder, name, seconds)
    if "helm" in names and with_diff and not helm_diff_installed():
        go = go or find_go()
        if go is None:
            log("helm-diff: no Go toolchain to build it")
        else:
            try:
                install_helm_diff(go, log)
            except BuildError as exc:
                log(f"helm-diff not installed: {exc}")
    return folder


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--print-dir" in args:
        print(peers_dir())
        return 0
    if "--env" in args:
        print(f"PATH={bin_dir()}{os.pathsep}$PATH")
        print(f"HELM_PLUGINS={plugins_dir()}")
        print("HELM_DIFF_USE_UPGRADE_DRY_RUN=true")
        return 0
    names = [a for a in args if not a.startswith("-")] or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        print(f"error: unknown peer {', '.join(unknown)} (known: {', '.join(NAMES)})", file=sys.stderr)
        return 2
    try:
        ensure_built(names, with_diff="--no-diff" not in args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
