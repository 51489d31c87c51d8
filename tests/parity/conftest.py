"""Shows the parity table in pytest's summary even under ``-q`` (the figure CI quotes)."""

from __future__ import annotations

import pytest

TABLE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    table = config.stash.get(TABLE, None)
    if table:
        terminalreporter.section("parity: sandbox vs kube-apiserver")
        terminalreporter.write_line(table)
