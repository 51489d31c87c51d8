"""Print the parity table: the probes of tests/parity sent to a fresh sandbox and to a real control plane.

    .venv/bin/python bench/parity.py        (needs the binaries: python -m controlplane.build)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from controlplane.build import ensure_built
from controlplane.launcher import ControlPlane
from tests.parity.engine import compare, table
from tests.parity.probes import PROBES
from tests.parity.test_parity import run_both


def main() -> int:
    with ControlPlane(bin_dir=ensure_built(log=lambda line: print(line, file=sys.stderr))) as cp:
        sandbox, real = run_both(cp)
    print(table(PROBES, sandbox, real))
    alike, _ = compare(sandbox, real)
    print(f"N={len(PROBES)} M={len(alike)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
