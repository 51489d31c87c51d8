"""Colour for a terminal: unified diffs red/green as helm-diff shows them, release statuses by meaning. Never when
stdout is not a terminal or ``NO_COLOR`` is set (https://no-color.org), so pipes, logs and tests get plain text."""

from __future__ import annotations

import os
import re
import sys

RED, GREEN, YELLOW, CYAN, BOLD, RESET = "\033[31m", "\033[32m", "\033[33m", "\033[36m", "\033[1m", "\033[0m"
STATUS = {"deployed": GREEN, "failed": RED, "pending-install": YELLOW, "pending-upgrade": YELLOW,
          "pending-rollback": YELLOW, "uninstalling": YELLOW, "superseded": "", "ok": GREEN, "changed": YELLOW,
          "skipped": "", "passed": GREEN}
_WORD = re.compile(r"\b(" + "|".join(re.escape(k) for k in STATUS if STATUS[k]) + r")\b")


def enabled(stream: object = None) -> bool:
    out = stream if stream is not None else sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def diff(text: str, *, on: bool | None = None) -> str:
    """A unified diff with added lines green, removed red, hunk headers cyan, file headers bold."""
    if not (enabled() if on is None else on):
        return text
    out = []
    for line in text.splitlines():
        if line.startswith(("+++", "---")):
            out.append(f"{BOLD}{line}{RESET}")
        elif line.startswith("+"):
            out.append(f"{GREEN}{line}{RESET}")
        elif line.startswith("-"):
            out.append(f"{RED}{line}{RESET}")
        elif line.startswith("@@"):
            out.append(f"{CYAN}{line}{RESET}")
        else:
            out.append(line)
    return "\n".join(out)


def statuses(line: str, *, on: bool | None = None) -> str:
    """A table row with its release statuses coloured by meaning."""
    if not (enabled() if on is None else on):
        return line
    return _WORD.sub(lambda m: f"{STATUS[m.group(1)]}{m.group(1)}{RESET}", line)
