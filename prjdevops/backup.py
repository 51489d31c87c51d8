"""Verifiable release backups: ``<dir>/<env>/<release>/<UTC timestamp>-r<rev>/`` with a checksum manifest.

A backup is written into a hidden temporary folder beside its final place and renamed into place, so a crash
never leaves a half backup. Files hold the real values (a restore needs them) and are private (0600); the
human-readable summary and listings are redacted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prjdevops.adapters.helm import HelmClient, ReleaseInfo, to_json
from prjdevops.errors import ConfigError, DeployError
from prjdevops.model import Environment, Release
from prjdevops.values import Redactor

CHECKSUMS = "SHA256SUMS"
FILES = ("values.yaml", "manifest.yaml", "release.json", "history.json")
NAME = re.compile(r"^\d{8}T\d{6}(\d{6})?Z-r\d+$")


class BackupError(DeployError):
    """A backup cannot be written, read or trusted."""


@dataclass(frozen=True)
class BackupRecord:
    path: Path
    env: str
    release: str
    revision: int
    taken_at: str
    chart: str
    chart_version: str
    reason: str

    @property
    def name(self) -> str:
        return self.path.name


def release_dir(env: Environment, release: Release) -> Path:
    return env.backup.dir / env.name / release.name


def check_writable(env: Environment, release: Release) -> None:
    """Fail before any change when the backups folder cannot be written."""
    d = release_dir(env, release)
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".probe-"):
            pass
    except OSError as e:
        raise BackupError(f"backups folder {d} is not writable ({e.strerror}); nothing was changed",
                          hint="fix its permissions or set backup.dir in the environment file") from e


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def take(helm: HelmClient, env: Environment, release: Release, *, reason: str,
         redactor: Redactor | None = None) -> BackupRecord | None:
    """Back up the release's current revision; None when the release is not installed (nothing to keep)."""
    info = helm.status(release.name, namespace=release.namespace)
    if info is None:
        return None
    values = helm.get_values(release.name, namespace=release.namespace)
    history = helm.history(release.name, namespace=release.namespace)
    return write(env, release, info, values, history, reason=reason, redactor=redactor)


def take_planned(helm: HelmClient, env: Environment, release: Release, plan: Any, *, reason: str,
                 redactor: Redactor | None = None) -> BackupRecord | None:
    """Back up the live revision a release plan read (``ops.plan.ReleasePlan``): its summary, values and
    manifest are the plan's, so nothing is read again but the history when the plan did not hold it."""
    if plan.live_info is None or plan.live is None:
        return None
    history = list(plan.history) or helm.history(release.name, namespace=release.namespace)
    return write(env, release, plan.live_info, dict(plan.live.values), history, reason=reason, redactor=redactor)


def write(env: Environment, release: Release, info: ReleaseInfo, values: dict[str, Any],
          history: list[ReleaseInfo], *, reason: str, redactor: Redactor | None = None) -> BackupRecord:
    parent = release_dir(env, release)
    check_writable(env, release)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{int(time.time() * 1e6) % 1_000_000:06d}Z"
    final = parent / f"{stamp}-r{info.revision}"
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    try:
        meta = {**to_json(info), "env": env.name, "reason": reason,
                "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_private(tmp / "values.yaml", yaml.safe_dump(values, sort_keys=True))
        _write_private(tmp / "manifest.yaml", info.manifest)
        _write_private(tmp / "release.json", json.dumps(meta, indent=2, sort_keys=True))
        _write_private(tmp / "history.json", json.dumps([to_json(h) for h in history], indent=2))
        redact = redactor or Redactor()
        redact.add(values.get("secrets") if isinstance(values.get("secrets"), dict) else None)
        summary = [f"backup of release {release.name} (namespace {release.namespace}) in {env.name}",
                   f"revision {info.revision}, chart {info.chart}-{info.chart_version}, status {info.status}",
                   f"taken {meta['taken_at']} because: {reason}", "", "values (secrets redacted):",
                   yaml.safe_dump(redact.values(values), sort_keys=True)]
        _write_private(tmp / "SUMMARY.txt", "\n".join(summary))
        sums = "".join(f"{_sha256(tmp / n)}  {n}\n" for n in (*FILES, "SUMMARY.txt"))
        _write_private(tmp / CHECKSUMS, sums)
        os.rename(tmp, final)  # atomic on one filesystem: the backup appears whole or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(env, release)
    return _record(final, env.name, release.name)


def _record(path: Path, env: str, release: str) -> BackupRecord:
    try:
        meta = json.loads((path / "release.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BackupError(f"backup {path} has no readable release.json") from e
    return BackupRecord(path=path, env=env, release=release, revision=int(meta.get("revision", 0)),
                        taken_at=str(meta.get("taken_at", "")), chart=str(meta.get("chart", "")),
                        chart_version=str(meta.get("chart_version", "")), reason=str(meta.get("reason", "")))


def listing(env: Environment, release: Release) -> list[BackupRecord]:
    """Complete backups, oldest first (partial folders are never listed)."""
    d = release_dir(env, release)
    if not d.is_dir():
        return []
    return [_record(p, env.name, release.name) for p in sorted(d.iterdir()) if p.is_dir() and NAME.match(p.name)]


def prune(env: Environment, release: Release) -> list[Path]:
    """Keep the newest ``backup.keep`` backups; returns what was removed. Nothing is read while there are no
    more than ``keep`` (a long-lived environment keeps hundreds: reading each one after every backup adds up)."""
    d = release_dir(env, release)
    if not d.is_dir() or sum(1 for p in d.iterdir() if p.is_dir() and NAME.match(p.name)) <= env.backup.keep:
        return []
    backups = listing(env, release)
    removed = [b.path for b in backups[: max(0, len(backups) - env.backup.keep)]]
    for p in removed:
        shutil.rmtree(p)
    return removed


def find(env: Environment, release: Release, name: str) -> BackupRecord:
    """A backup by folder name; refuses path tricks like ``../../etc``."""
    if not NAME.match(name):
        raise ConfigError(f"invalid backup name {name!r}: expected <UTC timestamp>-r<revision>, "
                          "see invoke prod.backups")
    for b in listing(env, release):
        if b.name == name:
            return b
    raise ConfigError(f"no backup {name!r} for release {release.name!r} in {env.name!r}; see invoke prod.backups")


def verify(record: BackupRecord) -> None:
    """Check every file against the checksum manifest; the first mismatch is named."""
    sums = record.path / CHECKSUMS
    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise BackupError(f"backup {record.path} has no checksum manifest {CHECKSUMS}; refusing it") from e
    listed = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        listed[name] = digest
    for name in (*FILES, "SUMMARY.txt"):
        path = record.path / name
        if name not in listed:
            raise BackupError(f"backup {record.path}: {name} is not in {CHECKSUMS}; refusing a corrupt backup")
        if not path.is_file():
            raise BackupError(f"backup {record.path}: {name} is missing; refusing a corrupt backup")
        if _sha256(path) != listed[name]:
            raise BackupError(f"backup {record.path}: checksum mismatch in {name}; refusing a corrupt backup")


def load_values(record: BackupRecord) -> dict[str, Any]:
    verify(record)
    data = yaml.safe_load((record.path / "values.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise BackupError(f"backup {record.path}: values.yaml is not a mapping")
    return data


def load_manifest(record: BackupRecord) -> str:
    verify(record)
    return (record.path / "manifest.yaml").read_text(encoding="utf-8")
