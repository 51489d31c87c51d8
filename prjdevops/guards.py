"""Safety guards, driven by the environment's settings (never by a task's name), so each is testable anywhere.

Pure checks: each returns nothing or raises :class:`GuardRefused` with one line saying what is wrong and
what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from prjdevops.adapters.kube import ContextInfo, normalize_fingerprint
from prjdevops.errors import GuardRefused
from prjdevops.model import Environment


def _norm_server(url: str) -> str:
    return url.strip().rstrip("/").lower()


def check_cluster(env: Environment, ctx: ContextInfo) -> None:
    """The context's name must match the pattern and its cluster must be the one the environment records."""
    g = env.guards
    if g.context_pattern and not re.search(g.context_pattern, ctx.name):
        raise GuardRefused(
            f"environment {env.name!r}: kube context {ctx.name!r} does not match the required pattern "
            f"{g.context_pattern!r}", hint=f"set cluster.context in {env.file.name} to the right context")
    if g.check_api_server:
        if not env.cluster.api_server:
            raise GuardRefused(f"environment {env.name!r} checks the API server but records none",
                               hint=f"set cluster.api_server in {env.file.name}")
        if _norm_server(ctx.server) != _norm_server(env.cluster.api_server):
            raise GuardRefused(
                f"environment {env.name!r}: context {ctx.name!r} points at {ctx.server}, not at the recorded "
                f"cluster {env.cluster.api_server}; refusing to touch another cluster",
                hint="fix the kubeconfig context or the environment's cluster.api_server")
    if env.cluster.ca_fingerprint:
        want = normalize_fingerprint(env.cluster.ca_fingerprint)
        got = normalize_fingerprint(ctx.ca_fingerprint or "")
        if want != got:
            raise GuardRefused(
                f"environment {env.name!r}: the cluster CA of context {ctx.name!r} "
                f"({got[:16] + '…' if got else 'none'}) differs from the recorded fingerprint ({want[:16]}…)",
                hint="the context points at another cluster, or the CA was rotated: update cluster.ca_fingerprint")


def check_image_tag(env: Environment, release: str, values: Mapping[str, Any]) -> None:
    """Refuse a floating image tag (``latest`` or empty) where the environment forbids it."""
    if not env.guards.forbid_latest_tag:
        return
    image = values.get("image") if isinstance(values.get("image"), Mapping) else {}
    tag = str((image or {}).get("tag") or "").strip()
    if tag in ("", "latest"):
        shown = "an empty tag" if not tag else "tag 'latest'"
        raise GuardRefused(f"environment {env.name!r}: release {release!r} uses {shown}; a pinned image tag is "
                           "required here", hint="set image.tag to a released version, e.g. --set image.tag=1.4.2")


def confirm(env: Environment, *, yes: bool, is_tty: bool, ask: Callable[[str], str], what: str,
            always: bool = False, question: str | None = None, declined: str | None = None) -> None:
    """Require the typed word ``yes`` when the environment asks for confirmation (``always``: this command asks in
    every environment, e.g. a delete); never hang without a TTY. ``question``/``declined`` word the prompt and the
    refusal where the default ("<what> in 'env'?", "nothing was changed") would not fit."""
    if not (env.guards.confirm or always) or yes:
        return
    if not is_tty:
        who = (f"environment {env.name!r} needs confirmation" if env.guards.confirm
               else f"{what} needs confirmation in every environment")
        raise GuardRefused(f"{who} and there is no terminal to ask",
                           hint="rerun with --yes to confirm non-interactively")
    try:
        answer = ask(question or f"{what} in {env.name!r}? Type 'yes' to continue: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise GuardRefused(declined or f"not confirmed: nothing was changed in {env.name!r}")
