"""Hooks: the steps a team runs around a change (migrations, notifications, cache warm-up, smoke tests), as data.

An environment file declares ``hooks:`` for every release of the environment, and a release its own; each runs on
an event (helmfile's vocabulary where it fits) and is a command (an argv list, never a shell string) or a task of
this collection. The built-in steps of a deploy are hooks too — the backup before (where the environment keeps
backups), the health gate after, the verify gate after (``--verify``) — so the plan lists, in order, everything
that will run. Pure: parsing problems are returned, ordering is a function of the environment; running them is
``ops/hooks.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EVENTS = ("prepare", "pre-deploy", "post-deploy", "pre-rollback", "post-rollback", "pre-delete", "post-delete",
          "on-failure")
DEPLOY_EVENTS = ("prepare", "pre-deploy", "post-deploy", "on-failure")  # around one release's change
KEYS = {"event", "name", "command", "task", "timeout", "pass_env"}
DEFAULT_TIMEOUT = 300
# What every hook gets from the operator's environment (everything else only when named in pass_env: a deploy's
# secrets and tokens never reach a hook by accident).
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER")
BUILTIN = {"backup": "pre-deploy", "health": "post-deploy", "verify": "post-deploy"}


@dataclass(frozen=True)
class Hook:
    """One step run on an event: ``command`` (argv) or ``task`` (an Invoke task of this collection), or a built-in
    step of the flow (``builtin``: backup, health, verify), listed in plans like the others."""

    event: str
    name: str
    command: tuple[str, ...] = ()
    task: str | None = None
    timeout: int = DEFAULT_TIMEOUT
    pass_env: tuple[str, ...] = ()
    builtin: str | None = None
    scope: str = "environment"  # environment | release | built-in

    def describe(self) -> str:
        if self.builtin:
            return f"{self.event} {self.name} (built-in)"
        what = f"task {self.task}" if self.task else " ".join(self.command)
        return f"{self.event} {self.name}: {what} (timeout {self.timeout}s, {self.scope})"


def parse(items: Any, where: str, *, scope: str) -> tuple[list[Hook], list[tuple[str, str]]]:
    """Hooks from an environment file's ``hooks:`` list; every problem as (key, reason)."""
    hooks: list[Hook] = []
    problems: list[tuple[str, str]] = []
    if items is None:
        return hooks, problems
    if not isinstance(items, list):
        return hooks, [(where, "must be a list of hooks")]
    names: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            problems.append((at, "must be a mapping with event and command or task"))
            continue
        for key in sorted(set(item) - KEYS):
            problems.append((f"{at}.{key}", f"unknown key (known: {', '.join(sorted(KEYS))})"))
        event = item.get("event")
        if event not in EVENTS:
            problems.append((f"{at}.event", f"must be one of {', '.join(EVENTS)}, got {event!r}"))
            continue
        command, task = item.get("command"), item.get("task")
        if (command is None) == (task is None):
            problems.append((at, "needs exactly one of command (an argv list) or task (a task name)"))
            continue
        if command is not None and (not isinstance(command, list) or not command
                                    or not all(isinstance(a, str) and a for a in command)):
            problems.append((f"{at}.command", "must be a non-empty list of strings (argv, no shell)"))
            continue
        if task is not None and (not isinstance(task, str) or not task.strip() or " " in task.strip()):
            problems.append((f"{at}.task", "must be one task name, e.g. verify"))
            continue
        timeout = item.get("timeout", DEFAULT_TIMEOUT)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            problems.append((f"{at}.timeout", "must be a positive integer (seconds)"))
            continue
        pass_env = item.get("pass_env", [])
        if not isinstance(pass_env, list) or not all(isinstance(v, str) and v for v in pass_env):
            problems.append((f"{at}.pass_env", "must be a list of environment variable names"))
            continue
        name = str(item.get("name") or task or str(command[0] if command else "hook").rsplit("/", 1)[-1])
        if (event, name) in names:
            problems.append((f"{at}.name", f"{name!r} is used twice for {event}: give each hook a name"))
            continue
        names.add((event, name))
        hooks.append(Hook(event=event, name=name, command=tuple(command or ()), task=task, timeout=timeout,
                          pass_env=tuple(pass_env), scope=scope))
    return hooks, problems


def builtin(name: str) -> Hook:
    return Hook(event=BUILTIN[name], name=name, builtin=name, scope="built-in")


def ordered(event: str, env_hooks: Iterable[Hook], release_hooks: Iterable[Hook], *,
            builtins: Sequence[str] = ()) -> list[Hook]:
    """What runs on ``event``, in order: on ``pre-*`` the built-in steps first (the backup is taken before anything
    of the team's runs), on ``post-*`` the built-in gates first (a team's post-deploy step runs on a healthy
    release); then the environment's hooks, then the release's."""
    steps = [builtin(b) for b in builtins if BUILTIN.get(b) == event]
    return [*steps, *(h for h in env_hooks if h.event == event), *(h for h in release_hooks if h.event == event)]


def for_events(events: Sequence[str], env_hooks: Iterable[Hook], release_hooks: Iterable[Hook], *,
               builtins: Sequence[str] = ()) -> dict[str, list[Hook]]:
    """``ordered`` for each of ``events``: what a flow runs around one release's change."""
    env_hooks, release_hooks = tuple(env_hooks), tuple(release_hooks)
    return {e: ordered(e, env_hooks, release_hooks, builtins=builtins) for e in events}


def plan_lines(hooks: Iterable[Hook]) -> list[str]:
    """The hooks a change will run, for the plan (one line each, in run order)."""
    return [f"  hook  {h.describe()}" for h in hooks]
