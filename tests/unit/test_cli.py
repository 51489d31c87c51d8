"""The Invoke command line as a user runs it: subprocesses, argv lists, run from the repository root.

Nothing here contacts a cluster: every case fails (or finishes) before the first API call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke"]


def run(*args: str, env: dict[str, str] | None = None, tmp_home: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("INVOKE_", "PRJDEVOPS_")) and k != "KUBECONFIG"}
    if tmp_home is not None:  # a kubeconfig that does not exist: any cluster contact would fail loudly
        base["KUBECONFIG"] = str(tmp_home / "no-such-kubeconfig")
    base.update(env or {})
    return subprocess.run([*INVOKE, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60,
                          check=False)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_list_shows_the_namespaces() -> None:
    proc = run("--list")
    assert proc.returncode == 0, proc.stderr
    tasks = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ") and "." in line.split()[0]}
    assert {t.split(".")[0] for t in tasks} >= {"sandbox", "stg", "prod", "envs"}
    assert {"stg.deploy", "stg.diff", "stg.status", "stg.delete", "prod.status", "prod.diff", "envs.list",
            "envs.check", "sandbox.up", "sandbox.down"} <= tasks


def test_deploy_help_documents_every_flag() -> None:
    proc = run("stg.deploy", "--help")
    assert proc.returncode == 0, proc.stderr
    options = proc.stdout.split("Options:", 1)[1]
    for flag, words in [("--env", "environment"), ("--set", "key=value"), ("--values", "values file"),
                        ("--timeout", "seconds"), ("--no-wait", "readiness"), ("--dry-run", "change")]:
        assert flag in options, flag
        block = options.split(flag, 1)[1].split("\n  -", 1)[0]
        assert words in " ".join(block.split()), (flag, block)


@pytest.mark.parametrize("task", ["stg.status", "stg.diff", "stg.deploy", "prod.status", "envs.check"])
def test_unknown_environment_is_one_line(task: str, tmp_path: Path) -> None:
    line = _one_error_line(run(task, "--env", "qa", tmp_home=tmp_path))
    assert "unknown environment 'qa'" in line
    assert "local, production, staging" in line


def test_malformed_environment_folder(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\ncluster:\n  context: x\n  context: y\n", encoding="utf-8")
    proc = run("envs.check", "--env", "broken", env={"PRJDEVOPS_ENVIRONMENTS": str(tmp_path)}, tmp_home=tmp_path)
    line = _one_error_line(proc)
    assert str(tmp_path / "broken.yaml") in line
    assert "line 4" in line and "duplicate key 'context'" in line


def test_invalid_environment_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("cluster: {context: x}\nguards: {confirm: maybe, keep: 1}\n",
                                       encoding="utf-8")
    proc = run("envs.check", env={"PRJDEVOPS_ENVIRONMENTS": str(tmp_path)}, tmp_home=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "(2 problems)" in proc.stderr
    assert f"{tmp_path / 'bad.yaml'}: guards.confirm: must be a boolean" in proc.stderr
    assert f"{tmp_path / 'bad.yaml'}: guards.keep: unknown key" in proc.stderr


def test_envs_check_ok() -> None:
    proc = run("envs.check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "local: ok (8 releases, context sandbox)",
        "production: ok (8 releases, context production)",
        "staging: ok (8 releases, context staging)",
    ]


def test_tasks_are_not_deduplicated() -> None:
    """invoke.yaml sets tasks.dedupe: false; with Invoke's default the second envs.list would not run."""
    proc = run("envs.list", "envs.list")
    assert proc.returncode == 0, proc.stderr
    headers = [line for line in proc.stdout.splitlines() if line.startswith("ENV ")]
    assert len(headers) == 2


def test_bad_set_fails_before_any_cluster_contact(tmp_path: Path) -> None:
    # staging's kubeconfig is $KUBECONFIG, here a file that does not exist: reaching the cluster would fail
    # with a kubeconfig error instead of this one.
    line = _one_error_line(run("stg.diff", "--set", "novalue", tmp_home=tmp_path))
    assert line == "error: --set for key 'novalue' does not parse: expected key=value (e.g. image.tag=1.2.3)"
