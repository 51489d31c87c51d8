"""Build the real control plane's binaries from Go modules, once per machine: ``python -m controlplane.build``.

The binaries land in ``$PRJDEVOPS_KUBE_BIN`` when set (then nothing is built: a user may point it at official
release binaries, and those are used as they are), else in
``${XDG_CACHE_HOME:-~/.cache}/prjdevops/kube/<key>/``. The cache lives outside the repository on purpose: CI runs
in a fresh clone every time, so a cache under the clone would rebuild (~10+ minutes of CPU) on every run. The key
names the pinned versions and a digest of the go.mod/go.sum files, so a version bump builds into a new folder.

Each binary is skipped when it exists and answers ``--version``; a build writes to a temporary name and renames,
so a failed or interrupted build never leaves a half binary behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GO_DIR = Path(__file__).resolve().parent / "go"
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
KWOK_VERSION = "v0.8.0"
BUILD_LOG = "build-log.jsonl"


@dataclass(frozen=True)
class Target:
    """One binary: the Go module folder it builds in, its package, and link-time flags."""

    name: str
    module_dir: Path
    package: str
    ldflags: tuple[str, ...] = ()


def _kube_ldflags() -> tuple[str, ...]:
    # An ad-hoc `go build` reports v0.0.0-master; clients (Helm's kubeVersion checks, discovery) need the release.
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={KUBERNETES_VERSION}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    return tuple(flags)


TARGETS: tuple[Target, ...] = (
    Target("etcd", GO_DIR / "etcd", "prjdevops.local/controlplane/etcd"),
    Target("kube-apiserver", GO_DIR, "k8s.io/kubernetes/cmd/kube-apiserver", _kube_ldflags()),
    Target("kube-controller-manager", GO_DIR, "k8s.io/kubernetes/cmd/kube-controller-manager", _kube_ldflags()),
    Target("kube-scheduler", GO_DIR, "k8s.io/kubernetes/cmd/kube-scheduler", _kube_ldflags()),
    Target("kwok", GO_DIR / "kwok", "sigs.k8s.io/kwok/cmd/kwok"),
)
NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)


class BuildError(RuntimeError):
    """The binaries are missing and could not be built (no Go, or a build failed)."""


def go_mod_digest(folder: Path) -> str:
    """A digest of every go.mod/go.sum under ``folder`` (they pin the whole dependency graph)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("go.*")):
        if path.name in ("go.mod", "go.sum"):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def platform_tag() -> str:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{sys.platform}-{arch}"


def cache_key() -> str:
    """Versions + a digest of every go.mod/go.sum + the platform."""
    return (f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_kwok-{KWOK_VERSION}_{platform_tag()}_"
            f"{go_mod_digest(GO_DIR)}")


def cache_root(kind: str = "kube") -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/prjdevops/<kind>``: ``kube`` (control plane) or ``peers`` (helm, helmfile)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prjdevops" / kind


def binary_dir() -> Path:
    """Where the binaries are (or will be built): ``$PRJDEVOPS_KUBE_BIN`` or the per-machine cache."""
    given = os.environ.get("PRJDEVOPS_KUBE_BIN")
    return Path(given).expanduser() if given else cache_root() / cache_key()


def runs(binary: Path, version_args: tuple[str, ...] = ("--version",)) -> bool:
    """The binary exists and answers ``--version`` (a truncated or foreign-arch file does not)."""
    if not binary.is_file():
        return False
    try:
        done = subprocess.run([str(binary), *version_args], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def missing(folder: Path | None = None) -> list[str]:
    """The binaries absent (or not runnable) in ``folder``."""
    folder = folder or binary_dir()
    return [name for name in NAMES if not runs(folder / name)]


def find_go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    fallback = Path("/usr/local/go/bin/go")
    return str(fallback) if fallback.is_file() else None


def build_one(target: Target, out_dir: Path, go: str, niceness: int = 15) -> float:
    """Build ``target`` into ``out_dir``; returns the seconds it took. Raises BuildError with the tail of Go's log."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{target.name}.building-{os.getpid()}"
    ldflags = " ".join(("-s", "-w", *target.ldflags))
    argv = [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(tmp), target.package]
    if shutil.which("nice"):
        argv = ["nice", "-n", str(niceness), *argv]  # builds share the machine; tests and people come first
    env = dict(os.environ, CGO_ENABLED="0")
    env.setdefault("GOFLAGS", "-p=2")
    started = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=target.module_dir, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise BuildError(f"go build {target.package} failed (exit {done.returncode}): {tail}")
        os.replace(tmp, out_dir / target.name)
    finally:
        tmp.unlink(missing_ok=True)
    return time.monotonic() - started


def ensure_built(log: Callable[[str], None] = print) -> Path:
    """The folder holding all five binaries, building what is missing (never when ``$PRJDEVOPS_KUBE_BIN`` is set)."""
    folder = binary_dir()
    absent = missing(folder)
    if not absent:
        log(f"control plane binaries ready in {folder}")
        return folder
    if os.environ.get("PRJDEVOPS_KUBE_BIN"):
        raise BuildError(f"PRJDEVOPS_KUBE_BIN={folder} lacks runnable {', '.join(absent)} (nothing is built there)")
    go = find_go()
    if go is None:
        raise BuildError(f"no Go toolchain to build {', '.join(absent)} (install Go, or set PRJDEVOPS_KUBE_BIN)")
    for target in TARGETS:
        if target.name not in absent:
            log(f"skip  {target.name}: already built")
            continue
        log(f"build {target.name} ({target.package}) ...")
        seconds = build_one(target, folder, go)
        log(f"built {target.name} in {seconds:.0f} s")
        record_build(folder, target.name, seconds)
    return folder


def record_build(folder: Path, name: str, seconds: float, **extra: str) -> None:
    """Append one cold build's time to ``folder/build-log.jsonl`` (bench scripts print it)."""
    with (folder / BUILD_LOG).open("a") as fh:
        fh.write(json.dumps({"binary": name, "seconds": round(seconds, 1), "key": folder.name,
                             "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--print-dir", "--dir"):
        print(binary_dir())
        return 0
    try:
        ensure_built()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
