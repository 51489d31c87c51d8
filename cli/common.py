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


def errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Project errors become one line on stderr and their exit code; Ctrl-C exits 130 without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from prjdevops.errors import DeployError

        try:
            return fn(*args, **kwargs)
        except DeployError as e:
            raise Exit(f"error: {e}", code=e.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted: nothing more was changed; rerun the command to continue", code=130) from None

    return wrapper


def as_list(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    return list(value) if isinstance(value, list) else [value]


