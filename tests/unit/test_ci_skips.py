"""Under CI=true a skip for a missing tool or backend (reason ``needs: ...``) fails the run with one line; outside
CI it stays a skip with its reason. Other skips are never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ci_failure, ci_strict, skip_reason

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("ci", "reason", "fails"), [
    ("true", "needs: /usr/sbin/sshd for the SSH tests", True),
    ("1", "needs: kubectl on PATH", True),
    ("TRUE", "needs: a Go toolchain", True),
    ("true", "cert-manager is not installed", False),  # a skip that is a result, not a missing tool
    ("true", "no /usr/sbin/sshd: needs: x", False),  # the prefix must lead
    ("false", "needs: /usr/sbin/sshd", False),
    ("", "needs: /usr/sbin/sshd", False),
])
def test_which_skips_fail_under_ci(ci: str, reason: str, fails: bool) -> None:
    got = ci_failure(reason, {"CI": ci})
    assert (got is not None) == fails
    if got is not None:
        assert got.endswith(reason) and "\n" not in got
    assert ci_strict({"CI": ci}) == (ci.lower() in ("true", "1"))


@pytest.mark.parametrize(("longrepr", "reason"), [
    (("/x/conftest.py", 63, "Skipped: needs: sshd"), "needs: sshd"),
    (("/x/test_k.py", 16, "needs: kubectl"), "needs: kubectl"),
    ("Skipped: other", "other"),
])
def test_skip_reason(longrepr: object, reason: str) -> None:
    assert skip_reason(longrepr) == reason


SAMPLE = '''
import pytest

@pytest.fixture
def tool():
    pytest.skip("needs: frobnicator for this tier (apt-get install -y frob)")

def test_uses_a_tool(tool):
    pass

@pytest.mark.skipif(True, reason="needs: kubectl on PATH")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="nothing to check here")
def test_plain_skip():
    pass

def test_runs():
    pass
'''


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_pytest_run_with_the_hook(tmp_path: Path, ci: str) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = ci
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "-p", "tests.conftest",
                          "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    if ci:
        assert out.returncode == 1, out.stdout
        assert "1 passed, 1 skipped, 2 errors" in out.stdout, out.stdout  # both fail in setup: errors
        failing = [line for line in out.stdout.splitlines()
                   if line.startswith("ERROR ") and "CI=true: a required tool" in line]  # the summary lines
        assert len(failing) == 2 and all("needs: " in line for line in failing), out.stdout
    else:
        assert out.returncode == 0, out.stdout
        assert "1 passed, 3 skipped" in out.stdout, out.stdout
        assert "needs: frobnicator for this tier" in out.stdout  # the skip keeps its reason (-ra)
