"""Colour only on a terminal and never under NO_COLOR; diffs red/green, statuses by meaning."""

from __future__ import annotations

import io

import pytest

from tasks import colour

DIFF = "--- live\n+++ desired\n@@ -1 +1 @@\n-  replicas: 2\n+  replicas: 3\n   name: web"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_unless_asked() -> None:
    assert colour.diff(DIFF, on=False) == DIFF
    assert colour.statuses("plate-web  3  failed", on=False) == "plate-web  3  failed"


def test_diff_lines_are_coloured_by_kind() -> None:
    out = colour.diff(DIFF, on=True).splitlines()
    assert out[0] == f"{colour.BOLD}--- live{colour.RESET}" and out[1].startswith(colour.BOLD)
    assert out[2].startswith(colour.CYAN)
    assert out[3] == f"{colour.RED}-  replicas: 2{colour.RESET}"
    assert out[4] == f"{colour.GREEN}+  replicas: 3{colour.RESET}"
    assert out[5] == "   name: web"


@pytest.mark.parametrize(("word", "code"), [("deployed", colour.GREEN), ("failed", colour.RED),
                                             ("pending-upgrade", colour.YELLOW)])
def test_statuses_by_meaning(word: str, code: str) -> None:
    assert colour.statuses(f"web  7  {word}  web-1.0", on=True) == f"web  7  {code}{word}{colour.RESET}  web-1.0"


def test_enabled_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour.enabled(Tty()) is True
    assert colour.enabled(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert colour.enabled(Tty()) is False
