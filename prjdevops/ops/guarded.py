"""One guard policy for every command that changes a cluster.

``with guarded(kube, env, io=..., report=...) as guard:`` checks that the context points at the recorded cluster,
takes the environment's deploy Lease (renewed in the background, released in ``finally``), and gives the flow
``guard.confirm(what, summary)`` (the typed ``yes`` where the environment asks for one, showing the plan's summary)
and ``guard.check()`` (stop before the next write when the Lease was lost). A flow that runs inside another
guarded flow (the platform deploy runs the application's guarded deploy) is handed the outer guard and takes
nothing twice. Read-only commands never enter it. :class:`Interaction` is the only way the library talks to the
operator.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prjdevops import guards
from prjdevops.adapters.kube import KubeClient, read_context
from prjdevops.model import Environment
from prjdevops.ops.lock import DeployLease

Reporter = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Interaction:
    """How a flow may talk to the operator: ``yes`` confirms without asking; no TTY and no ``yes`` refuses;
    ``wait_lock`` seconds to wait for another run's Lease instead of refusing at once."""

    yes: bool = False
    is_tty: bool = False
    ask: Callable[[str], str] = input
    wait_lock: float = 0.0

    @classmethod
    def terminal(cls, *, yes: bool = False, wait_lock: float = 0.0) -> Interaction:
        """The operator at this process's terminal (asks only when both stdin and stdout are one)."""
        return cls(yes=yes, is_tty=sys.stdin.isatty() and sys.stdout.isatty(), ask=input, wait_lock=wait_lock)


@dataclass
class Guard:
    """What a guarded flow may ask of its guard."""

    env: Environment
    io: Interaction
    report: Reporter
    lease: DeployLease | None = None
    confirmed: bool = False

    def confirm(self, what: str, summary: Sequence[str] = (), *, always: bool = False, question: str | None = None,
                declined: str | None = None) -> None:
        """The typed ``yes`` where the environment asks for one (``always``: this command asks in every
        environment, e.g. a delete), after showing the summary of what will change. Asked once per guard."""
        if self.confirmed:
            return
        if (self.env.guards.confirm or always) and not self.io.yes:
            for line in summary:
                self.report(line)
        guards.confirm(self.env, yes=self.io.yes, is_tty=self.io.is_tty, ask=self.io.ask, what=what, always=always,
                       question=question, declined=declined)
        self.confirmed = True

    def check(self) -> None:
        """Before every write: raise ``LeaseLost`` when another run took the environment's Lease."""
        if self.lease is not None:
            self.lease.check()

    @property
    def holds_lease(self) -> bool:
        return self.lease is not None


@contextmanager
def guarded(kube: KubeClient, env: Environment, *, io: Interaction, report: Reporter = _quiet,
            target: Any = None, outer: Guard | None = None) -> Iterator[Guard]:
    """The guard context of a mutating command (see the module's doc). ``target`` (a ``release.Target``) gets the
    guard's ``check`` as its write checkpoint for the block; ``outer`` is an enclosing flow's guard, reused."""
    if outer is not None:
        yield outer
        return
    guards.check_cluster(env, read_context(env.cluster))
    lease = None
    if env.guards.lock:
        lease = DeployLease(kube, env.name, duration=env.guards.lease_seconds, report=report)
        lease.acquire(wait=io.wait_lock)
    guard = Guard(env, io, report, lease)
    previous = getattr(target, "checkpoint", None) if target is not None else None
    if target is not None:
        target.checkpoint = guard.check
    try:
        yield guard
    finally:
        if target is not None:
            target.checkpoint = previous
        if lease is not None:
            lease.release()
