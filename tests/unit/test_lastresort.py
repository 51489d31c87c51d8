"""The CLI's last line of defence: an unexpected exception in a task is one line naming a log file that holds
the traceback; project errors and Ctrl-C keep their own handling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TASKS = '''
from invoke import task
from prjdevops.errors import ConfigError
from tasks.lastresort import last_resort


@task
@last_resort
def boom(c):
    {}["missing-key-" + "x" * 300]


@task
@last_resort
def user_error(c):
    raise ConfigError("bad option", hint="fix it")


@task
@last_resort
def fine(c):
    print("ok")
'''


def _run(tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "lastresort_tasks.py").write_text(TASKS)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PRJDEVOPS_LOGS_DIR=str(tmp_path / "logs"))
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(tmp_path), "-c", "lastresort_tasks",
                           name.replace("_", "-")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_an_unexpected_exception_is_one_line_and_a_log(tmp_path: Path) -> None:
    proc = _run(tmp_path, "boom")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("internal error: KeyError: ")
    assert len(lines[0]) < 300  # the 300-character key is shortened on the terminal
    logs = list((tmp_path / "logs").glob("*.log"))
    assert len(logs) == 1
    assert str(logs[0].name) in lines[0]
    text = logs[0].read_text()
    assert "Traceback" in text and "def boom" not in text and "in boom" in text
    assert oct(logs[0].stat().st_mode & 0o777) == "0o600"


def test_project_errors_and_success_pass_through(tmp_path: Path) -> None:
    err = _run(tmp_path, "user_error")
    assert err.returncode == 1
    assert "internal error" not in err.stderr and "bad option" in err.stderr
    assert not (tmp_path / "logs").exists()
    ok = _run(tmp_path, "fine")
    assert ok.returncode == 0 and ok.stdout.strip() == "ok"


def test_the_errors_decorator_of_every_task_uses_it(tmp_path: Path) -> None:
    """Through tasks.common.errors, as every project task is wrapped."""
    (tmp_path / "errors_tasks.py").write_text(
        "from invoke import task\nfrom tasks.common import errors\n\n\n@task\n@errors\ndef boom(c):\n"
        "    raise RuntimeError('unexpected ' + 'y' * 10)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PRJDEVOPS_LOGS_DIR=str(tmp_path / "logs"))
    proc = subprocess.run([sys.executable, "-m", "invoke", "-r", str(tmp_path), "-c", "errors_tasks", "boom"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("internal error: RuntimeError: unexpected yyyyyyyyyy (details in ")
    assert len(list((tmp_path / "logs").glob("*.log"))) == 1
