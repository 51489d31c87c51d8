"""The CLI's last line of defence: an exception that is not a ``DeployError`` (a bug, an unexpected library
failure) becomes one line on stderr naming a log file; the traceback goes into that file, never to the terminal.

``tasks/common.py``'s ``errors`` decorator calls :func:`internal_error` for any other ``Exception``;
:func:`last_resort` is the same as a decorator of its own (tests, tasks outside ``errors``).
"""

from __future__ import annotations

import functools
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import Exit

LOGS_ENV = "PRJDEVOPS_LOGS_DIR"  # another folder for the logs (tests, CI artefacts)
EXIT_CODE = 1


def logs_dir() -> Path:
    configured = os.environ.get(LOGS_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / ".prjdevops" / "logs"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    line = line if len(line) <= 160 else line[:157] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def write_log(exc: BaseException, *, folder: Path | None = None, task: str = "") -> Path:
    """The traceback in ``<folder>/<UTC run id>.log`` (0600: it may quote values); returns the path."""
    folder = folder or logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{int(time.time() * 1e6) % 1_000_000:06d}Z"
    path = folder / f"{stamp}-{os.getpid()}.log"
    body = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"task: {task or '?'}\n{body}")
    return path


def internal_error(exc: BaseException, *, task: str = "", folder: Path | None = None) -> Exit:
    """The one-line ``Exit`` for an unexpected exception, its traceback written to a log file first."""
    try:
        path = write_log(exc, folder=folder, task=task)
        shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
        where = f"details in {shown}"
    except OSError as e:  # the log cannot be written: still one line, saying so
        where = f"no log written: {e.strerror or e}"
    return Exit(f"internal error: {_first_line(exc)} ({where}; please report it)", code=EXIT_CODE)


def last_resort(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any exception that is not a project error, an ``Exit`` or an interruption into one line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from prjdevops.errors import DeployError

        try:
            return fn(*args, **kwargs)
        except (DeployError, Exit, KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            raise internal_error(e, task=getattr(fn, "__name__", "")) from None

    return wrapper
