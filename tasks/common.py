"""Shared plumbing of the Invoke tasks: settings from invoke.yaml, one-line errors, output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from invoke import Context, Exit

APP = "plate-web"


def settings(c: Context) -> Any:
    from prjdevops.ops.session import Settings

    cfg = c.config.get("prjdevops", {})
    return Settings(environments_dir=str(cfg.get("environments_dir") or ""),
                    sandbox_home=str(cfg.get("sandbox_home") or ""),
                    sandbox_port=int(cfg.get("sandbox_port") or 6550),
                    standins_port=int(cfg.get("standins_port") or 0))


def interaction(yes: bool = False, wait_lock: float = 0) -> Any:
    """The operator at this terminal, for every guarded command (the library's one way to ask)."""
    from prjdevops.ops.guarded import Interaction

    return Interaction.terminal(yes=yes, wait_lock=float(wait_lock or 0))


WAIT_LOCK_HELP = "seconds to wait for another run's deploy lease instead of refusing at once (progress names it)"


def say(line: str) -> None:
    """One line on stdout. A reader that went away (``| head``) must not stop a deploy half-way: from then on
    output goes nowhere and the command carries on to its own end and exit code."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        _stdout_gone()


def note(line: str) -> None:
    """Progress of a command whose stdout is its answer (a table, JSON): on stderr, so the answer stays clean."""
    import contextlib
    import sys

    with contextlib.suppress(BrokenPipeError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _stdout_gone() -> None:
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, ``kill``): raised in the main thread so the same cancellation runs as for Ctrl-C."""


# Which signal interrupted this process, if any. A KeyboardInterrupt raised inside a library can come back out as
# another exception (pydantic-core, building the Kubernetes client's validators lazily, wraps it in a SchemaError):
# the flag, not the exception's type, says that the operator interrupted.
_interrupted: dict[str, int] = {}
_depth = [0]  # tasks running in this process (a task may call another's helpers)
_INTERRUPTED = "interrupted: nothing more was changed; rerun the command to continue"
_TERMINATED = "terminated (SIGTERM): nothing more was changed; rerun the command to continue"


def _on_signal(signum: int, frame: Any) -> None:
    import os
    import signal
    import sys

    _interrupted.setdefault("signal", signum)
    if _depth[0] == 0:
        # Outside a task (Invoke parsing its arguments, or done): nothing to cancel or release; leave at once with
        # one line and the conventional code (Invoke itself would print nothing and exit 1).
        try:
            print(_TERMINATED if signum == signal.SIGTERM else _INTERRUPTED, file=sys.stderr, flush=True)
        finally:
            os._exit(143 if signum == signal.SIGTERM else 130)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install_signal_policy() -> None:
    """Ctrl-C and SIGTERM anywhere after the tasks loaded end with one line and 130/143; inside a task, after the
    library's cancellation path ran (Helm cancelled, Lease released). Installed by tasks.py when Invoke runs it
    (not when a test imports the tasks)."""
    import atexit
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
        atexit.register(_quiet_exit)


def _quiet_exit() -> None:
    """The command is over and its exit code decided: an interrupt now has nothing left to stop. Ignore it, because
    Python's shutdown puts the default handlers back and a Ctrl-C landing then (Helm's native library makes the
    shutdown take a moment) would kill the process silently with -SIGINT instead of ending with its code."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _interrupt_exit() -> Exit | None:
    import signal

    signum = _interrupted.get("signal")
    if signum is None:
        return None
    if signum == signal.SIGTERM:
        return Exit(_TERMINATED, code=143)
    return Exit(_INTERRUPTED, code=130)


def _help_asked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Invoke hands ``--help`` after a task with a required positional argument to the task as that argument."""
    values = [*args[1:], *kwargs.values()]
    return any(isinstance(v, str) and v in ("--help", "-h") for v in values)


def _print_task_help() -> int:
    """``invoke --help <task>``: the task's own help, as Invoke prints it."""
    import subprocess
    import sys

    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    name = names[0] if names else ""
    return subprocess.run([sys.argv[0], "--help", name], check=False).returncode


def errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Project errors become one line on stderr and their exit code; Ctrl-C exits 130 and SIGTERM 143, both
    through the library's Ctrl-C path (Helm cancelled, lock released) and without a traceback, wherever they land
    (also inside imports and lazy initialisation of client libraries); ``--help`` in place of a positional argument
    shows the task's help."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import signal
        import threading

        from prjdevops.errors import DeployError

        if _help_asked(args, kwargs):
            raise Exit(code=_print_task_help())
        previous: list[Any] = []
        if threading.current_thread() is threading.main_thread():
            previous = [signal.signal(signal.SIGINT, _on_signal), signal.signal(signal.SIGTERM, _on_signal)]
        _depth[0] += 1
        try:
            return fn(*args, **kwargs)
        except DeployError as e:
            stop = _interrupt_exit()
            if stop is not None:
                raise stop from None
            raise Exit(f"error: {e}", code=e.exit_code) from None
        except Exit:
            raise
        except BaseException as e:
            stop = _interrupt_exit()
            if stop is not None:
                raise stop from None
            if isinstance(e, Terminated):
                raise Exit(_TERMINATED, code=143) from None
            if isinstance(e, KeyboardInterrupt):
                raise Exit(_INTERRUPTED, code=130) from None
            if isinstance(e, Exception):  # the last line of defence: one line, the traceback in a log file
                from tasks.lastresort import internal_error

                raise internal_error(e, task=getattr(fn, "__name__", "")) from None
            raise
        finally:
            _depth[0] -= 1
            if previous:
                signal.signal(signal.SIGINT, previous[0])
                signal.signal(signal.SIGTERM, previous[1])

    return wrapper


def install_parse_error_hook() -> None:
    """Invoke's parser lets a bad option value (``--timeout abc``) escape as a ValueError traceback: print it as
    one line naming the flag, exit 1. Anything else keeps Python's usual report."""
    import sys

    previous = sys.excepthook

    def hook(etype: type[BaseException], value: BaseException, tb: Any) -> None:
        flag, arg = None, None
        frame = tb
        while frame is not None:
            code = frame.tb_frame.f_code.co_filename.replace("\\", "/")
            if "/invoke/parser/" in code:
                arg = frame.tb_frame.f_locals.get("self")
                flag = getattr(arg, "name", None) or flag
            frame = frame.tb_next
        if issubclass(etype, ValueError) and flag:
            kind = getattr(getattr(arg, "kind", None), "__name__", "value")
            print(f"error: --{str(flag).replace('_', '-')}: {value} (expected {kind})", file=sys.stderr)
            return
        previous(etype, value, tb)

    sys.excepthook = hook


DIFF_HELP = ("'full': every object's diff, uncapped, first installs too (default: objects per kind, the fields that "
             "change, and diffs of changed objects capped)")


def full_diff(value: str) -> bool:
    """``--diff``: '' (capped, the default) or 'full'."""
    if value in ("", "capped"):
        return False
    if value == "full":
        return True
    raise Exit(f"error: --diff takes 'full' (or 'capped', the default), not {value!r}", code=1)


def as_list(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    return list(value) if isinstance(value, list) else [value]




# Loaded with the task modules, before Invoke parses the task arguments.
install_parse_error_hook()
