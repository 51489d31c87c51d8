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
                    sandbox_port=int(cfg.get("sandbox_port") or 6550))


def say(line: str) -> None:
    print(line, flush=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, ``kill``): raised in the main thread so the same cancellation runs as for Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Project errors become one line on stderr and their exit code; Ctrl-C exits 130 and SIGTERM 143, both
    through the library's Ctrl-C path (Helm cancelled, lock released) and without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import signal
        import threading

        from prjdevops.errors import DeployError

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return fn(*args, **kwargs)
        except DeployError as e:
            raise Exit(f"error: {e}", code=e.exit_code) from None
        except Terminated:
            raise Exit("terminated (SIGTERM): nothing more was changed; rerun the command to continue",
                       code=143) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: nothing more was changed; rerun the command to continue", code=130) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

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


def as_list(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    return list(value) if isinstance(value, list) else [value]




# Loaded with the task modules, before Invoke parses the task arguments.
install_parse_error_hook()
