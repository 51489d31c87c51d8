"""Benchmark: wall time of `invoke --list` (median of 5 runs). Target < 0.5 s on the project machine.

Run: .venv/bin/python bench/invoke_list.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(runs: int = 5) -> None:
    exe = Path(sys.executable).parent / "invoke"
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(exe), "--list"], cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    print(f"invoke --list: median {statistics.median(times):.3f} s over {runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); target < 0.5 s")


if __name__ == "__main__":
    main()
