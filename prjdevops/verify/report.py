"""The verify run's outcome from its JUnit XML: one row per check (group, check, result, reason)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

EXIT_FAILED = 3  # `invoke verify` exits 3 when a check fails (1 stays "could not run")


@dataclass(frozen=True)
class Row:
    group: str
    check: str
    result: str  # passed | failed | skipped | error
    reason: str


def _skip_reason(message: str) -> str:
    return message.removeprefix("Skipped: ").strip()


def read_junit(path: Path) -> list[Row]:
    """Rows from a JUnit XML file written by ``pytest --junitxml`` over the ``verify/`` suite."""
    root = ET.parse(path).getroot()
    rows: list[Row] = []
    for case in root.iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        group = props.get("group") or case.get("classname") or ""
        check = props.get("check") or case.get("name") or ""
        reason = props.get("reason", "")
        result = "passed"
        for tag, outcome in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
            el = case.find(tag)
            if el is not None:
                result = outcome
                text = (el.get("message") or el.text or "").strip()
                reason = reason or (_skip_reason(text) if tag == "skipped" else (text.splitlines() or [""])[0])
                break
        rows.append(Row(group, check, result, reason))
    return rows


def failures(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.result in ("failed", "error")]


def counts(rows: list[Row]) -> dict[str, int]:
    out = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    for r in rows:
        out[r.result] += 1
    return out
