"""Plain-text tables and kubectl-style ages."""

from __future__ import annotations

from typing import Any

import pytest

from prjdevops.output import age, table


@pytest.mark.parametrize(
    ("headers", "rows", "indent", "expected"),
    [
        (["NAME", "READY"], [["web-1", "yes"], ["a", "no"]], "",
         ["NAME   READY", "web-1  yes", "a      no"]),
        (["A", "B", "C"], [[None, "", 0]], "", ["A  B  C", "-  -  0"]),  # None and "" as "-", 0 kept
        (["POD", "RESTARTS"], [["p", 12], ["q", False]], "  ", ["  POD  RESTARTS", "  p    12", "  q    False"]),
        (["X", "LONG HEADER"], [], "", ["X  LONG HEADER"]),
        (["K", "V"], [["a", "last"], ["longer-key", ""]], "", ["K           V", "a           last",
                                                             "longer-key  -"]),
    ],
    ids=["align", "none-and-empty", "indent", "no-rows", "trailing-space-stripped"],
)
def test_table(headers: list[str], rows: list[list[Any]], indent: str, expected: list[str]) -> None:
    lines = table(headers, rows, indent=indent)
    assert lines == expected
    assert all(line == line.rstrip() for line in lines)


def test_table_columns_line_up() -> None:
    lines = table(["NAME", "STATUS", "AGE"], [["a", "Running", "5m"], ["muchlongername", None, "3d"]])
    starts = {line.index(word) for line, word in zip(lines, ["STATUS", "Running", "-"], strict=True)}
    assert len(starts) == 1


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"), (59, "59s"), (119, "119s"), (119.9, "119s"),
        (120, "2m"), (7199, "119m"),
        (7200, "2h"), (172799, "47h"),
        (172800, "2d"), (86400 * 400, "400d"),
    ],
)
def test_age(seconds: float, text: str) -> None:
    assert age(seconds) == text
