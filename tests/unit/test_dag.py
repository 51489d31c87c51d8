"""Table-driven tests of release ordering (fixtures/dag_cases.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.dag import DagError, Node, build, find_cycles

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "fixtures" / "dag_cases.yaml").read_text())


def _nodes(releases: dict[str, dict[str, Any]]) -> list[Node]:
    return [Node(name, tuple(spec.get("needs", [])), spec.get("tier", 1), spec.get("enabled", True))
            for name, spec in releases.items()]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_dag_table(case: dict[str, Any]) -> None:
    nodes = _nodes(case["releases"])
    if "error" in case:
        with pytest.raises(DagError) as err:
            build(nodes, only=case.get("only", ()), tier=case.get("tier"))
        for fragment in case["error"]:
            assert fragment in str(err.value)
        return
    dag = build(nodes, only=case.get("only", ()), tier=case.get("tier"))
    assert [list(g) for g in dag.groups] == case["groups"]
    assert {k: list(v) for k, v in dag.external.items()} == case.get("external", {})
    assert {k: list(v) for k, v in dag.ignored.items()} == case.get("ignored", {})


def test_dependants_are_transitive_and_ordered() -> None:
    dag = build(_nodes({"cm": {}, "issuer": {"needs": ["cm"]}, "jenkins": {"needs": ["issuer"]},
                        "lb": {}, "harbor": {"needs": ["lb", "issuer"]}}))
    assert dag.dependants("cm") == ("issuer", "jenkins", "harbor")
    assert dag.dependants("lb") == ("harbor",)
    assert dag.dependants("jenkins") == ()
    assert dag.reversed_groups() == (("jenkins", "harbor"), ("issuer",), ("cm", "lb"))


def test_find_cycles_ignores_unknown_names() -> None:
    assert find_cycles({"a": ["b", "zzz"], "b": []}) == []
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"]}) == [["a", "b", "c", "a"]]
