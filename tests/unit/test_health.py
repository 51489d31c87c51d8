"""Readiness predicates over API objects, table-driven from tests/unit/fixtures/readiness.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.health import (
    READINESS,
    crash_looping,
    job_failed,
    pod_problem,
    pod_restarts,
    selector_string,
)

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "readiness.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_readiness(case: dict[str, Any]) -> None:
    ready, detail = READINESS[case["obj"]["kind"]](case["obj"])
    assert ready is case["ready"]
    assert case["detail"] in detail


def test_every_workload_kind_has_a_predicate() -> None:
    assert set(READINESS) == {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}
    assert {c["obj"]["kind"] for c in CASES} == set(READINESS)


def _pod(*statuses: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {"kind": "Pod", "status": {"phase": "Running", "containerStatuses": list(statuses),
                                      "initContainerStatuses": list(init)}}


_CRASH = {"name": "a", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
_RUNNING = {"name": "b", "ready": True, "restartCount": 1, "state": {"running": {}}}
_PULL = {"name": "c", "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull"}}}


@pytest.mark.parametrize(
    ("pod", "looping", "restarts"),
    [
        (_pod(_CRASH), True, 3),
        (_pod(_RUNNING, _CRASH), True, 4),
        (_pod(_RUNNING), False, 1),
        (_pod(_PULL), False, 0),
        (_pod(_RUNNING, init=(_CRASH,)), True, 1),  # Init:CrashLoopBackOff
        ({"kind": "Pod"}, False, 0),
        ({"kind": "Pod", "status": {"containerStatuses": None}}, False, 0),
    ],
    ids=["crash", "one-of-two", "running", "image-pull", "init-container", "no-status", "null-statuses"],
)
def test_crash_looping_and_restarts(pod: dict[str, Any], looping: bool, restarts: int) -> None:
    assert crash_looping(pod) is looping
    assert pod_restarts(pod) == restarts


def test_pod_problem_names_the_first_unhappy_container() -> None:
    assert pod_problem(_pod(_RUNNING, _PULL)) == "c: ErrImagePull"
    assert pod_problem(_pod(_CRASH)) == "a: CrashLoopBackOff, 3 restarts"


@pytest.mark.parametrize(
    ("conditions", "failed"),
    [
        ([{"type": "Failed", "status": "True"}], True),
        ([{"type": "Failed", "status": "False"}], False),
        ([{"type": "Complete", "status": "True"}], False),
        ([], False),
        (None, False),
    ],
)
def test_job_failed(conditions: list[dict[str, str]] | None, failed: bool) -> None:
    assert job_failed({"kind": "Job", "status": {"conditions": conditions}}) is failed


@pytest.mark.parametrize(
    ("labels", "selector"),
    [
        ({"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "plate-web"},
         "app.kubernetes.io/instance=plate-web,app.kubernetes.io/name=web"),
        ({"b": "2", "a": "1"}, "a=1,b=2"),
        ({}, ""),
        (None, ""),
    ],
)
def test_selector_string(labels: dict[str, str] | None, selector: str) -> None:
    assert selector_string(labels) == selector
