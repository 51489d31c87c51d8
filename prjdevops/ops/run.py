"""Who runs this command and its run id: one id per process, shared by the hooks' log of the run and the
descriptions the tool writes into Helm's revisions (``helm history`` shows them; ``.prjdevops/runs/`` keeps the
rest under the same id)."""

from __future__ import annotations

import getpass
import socket
import threading
import time
import uuid

_lock = threading.Lock()
_run_id: str | None = None


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def run_id() -> str:
    """This process's run id (made on first use)."""
    global _run_id
    with _lock:
        if _run_id is None:
            _run_id = new_run_id()
        return _run_id


def operator() -> str:
    """USER@HOST of the operator."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def helm_field_manager() -> str:
    """The field manager Helm's Go client uses in this process: the base name of the process's argv[0] as the
    C runtime received it (``/proc/self/cmdline``; Python's own sys.argv differs for scripts)."""
    from prjdevops.fieldowners import field_manager

    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError:
        import sys

        argv0 = sys.orig_argv[0] if sys.orig_argv else sys.executable
    return field_manager(argv0)
