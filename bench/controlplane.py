"""Figures of the real control plane: cold build, warm start, the integration suite on each backend.

    .venv/bin/python bench/controlplane.py [--suites]

- cold build: per binary, from the build log the first build wrote (``build-log.jsonl`` in the binary folder; a
  cold build is measured once per machine, so it is read, not re-run);
- warm start: ControlPlane.start() from nothing to /readyz answering and the kwok nodes Ready (binaries built);
- with ``--suites``: wall time of ``pytest tests/integration`` with ``--cluster sandbox`` and ``--cluster real``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controlplane.build import BUILD_LOG, binary_dir, missing  # noqa: E402
from controlplane.launcher import ControlPlane  # noqa: E402


def cold_build() -> None:
    log = binary_dir() / BUILD_LOG
    if not log.is_file():
        print(f"cold build: no build log at {log} (binaries from PRJDEVOPS_KUBE_BIN, or built elsewhere)")
        return
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    total = 0.0
    for row in rows:
        total += row["seconds"]
        note = f", {row['note']}" if "note" in row else ""
        print(f"cold build {row['binary']:<24} {row['seconds']:7.0f} s  ({row['at']}{note})")
    print(f"cold build total                   {total:7.0f} s  ({total / 60:.1f} min, from {log})")


def warm_start(times: int) -> None:
    if missing():
        print(f"warm start: binaries missing in {binary_dir()}: python -m controlplane.build")
        return
    for _ in range(times):
        began = time.monotonic()
        with ControlPlane() as cp:
            ready = time.monotonic() - began
        print(f"warm start (start -> /readyz + {cp.nodes} nodes Ready)  {ready:5.1f} s;"
              f"  stop {time.monotonic() - began - ready:4.1f} s")


def suite(backend: str) -> None:
    began = time.monotonic()
    done = subprocess.run([str(REPO / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider",
                           "tests/integration", f"--cluster={backend}"], cwd=REPO, capture_output=True, text=True,
                          check=False)
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
    print(f"integration suite --cluster {backend:<8} {time.monotonic() - began:6.0f} s  ({tail})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", action="store_true", help="also time the integration suite on each backend")
    parser.add_argument("--starts", type=int, default=2, help="warm starts to time")
    args = parser.parse_args()
    cold_build()
    warm_start(args.starts)
    if args.suites:
        for backend in ("sandbox", "real"):
            suite(backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
