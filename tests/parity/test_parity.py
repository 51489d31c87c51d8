"""The sandbox against a real kube-apiserver: the same requests, compared (see probes.py, engine.py).

Prints the parity table (run with ``-s``). Fails when a probe recorded as agreeing in baseline.json now differs, or
when fewer probes agree than recorded. An improvement is recorded by rewriting the file:
``PRJDEVOPS_PARITY_RECORD=1 .venv/bin/pytest tests/parity -s``.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Sandbox
from tests.parity.conftest import TABLE
from tests.parity.engine import Endpoint, compare, run, table
from tests.parity.probes import PROBES

BASELINE = Path(__file__).with_name("baseline.json")
NAMESPACE = "prjdevops-parity"


def real_endpoint(cp: Any) -> Endpoint:
    ctx = ssl.create_default_context(cafile=str(cp.pki.ca_cert))
    ctx.load_cert_chain(str(cp.pki.admin_cert), str(cp.pki.admin_key))
    return Endpoint(cp.url, ctx)


def run_both(cp: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    before = cp.snapshot()
    try:
        real = run(real_endpoint(cp), PROBES, NAMESPACE)
    finally:
        cp.reset(before)
    with Sandbox(port=0) as sb:
        sandbox = run(Endpoint(sb.url), PROBES, NAMESPACE)
    return sandbox, real


def test_probe_table_is_large_and_unique() -> None:
    ids = [p.id for p in PROBES]
    assert len(ids) >= 150 and len(set(ids)) == len(ids)


def test_sandbox_answers_like_kube_apiserver(real_control_plane: Any, pytestconfig: pytest.Config) -> None:
    sandbox, real = run_both(real_control_plane)
    pytestconfig.stash[TABLE] = table(PROBES, sandbox, real)
    print("\n" + pytestconfig.stash[TABLE])
    alike, _ = compare(sandbox, real)
    # the probes are checked against the real API server too: a probe that errors there is a broken probe
    assert not [pid for pid, a in real.items() if "error" in a], "probe transport errors on kube-apiserver"
    if os.environ.get("PRJDEVOPS_PARITY_RECORD"):
        BASELINE.write_text(json.dumps({"probes": len(PROBES), "agree": len(alike), "agreeing": alike},
                                       indent=1) + "\n")
    recorded = json.loads(BASELINE.read_text())
    regressed = sorted(set(recorded["agreeing"]) - set(alike))
    assert not regressed, f"probes that agreed before and differ now: {regressed}"
    assert len(alike) >= recorded["agree"], f"{len(alike)} probes agree, {recorded['agree']} recorded"
    gained = sorted(set(alike) - set(recorded["agreeing"]))
    if gained:
        print(f"parity improved on {len(gained)} probe(s): {gained}; record with PRJDEVOPS_PARITY_RECORD=1")
