"""CRDs before resources of their kinds (pure check), and the recap/plan printouts."""

from __future__ import annotations

from typing import Any

import pytest

from prjdevops.dag import Dag
from prjdevops.ops.libraries import Outcome, Plan, Recap, _kinds, crd_problems
from prjdevops.ops.plan import Changes, LiveState, ReleasePlan, decide

CM = ("cert-manager.io", "ClusterIssuer")
POOL = ("metallb.io", "IPAddressPool")

CASES: list[dict[str, Any]] = [
    {"id": "user needs the provider directly",
     "uses": {"issuer": {CM}}, "provides": {"cm": {CM}}, "needs": {"issuer": ["cm"]}, "problems": []},
    {"id": "user needs the provider through another release",
     "uses": {"tools": {CM}}, "provides": {"cm": {CM}}, "needs": {"tools": ["issuer"], "issuer": ["cm"]},
     "problems": []},
    {"id": "user without the need is refused, naming both",
     "uses": {"issuer": {CM}}, "provides": {"cm": {CM}}, "needs": {"issuer": []},
     "problems": ["release 'issuer' creates ClusterIssuer (cert-manager.io) whose CRD release 'cm' installs, "
                  "but does not need it: add cm to its needs"]},
    {"id": "a chart that defines and uses its own kind is fine (Helm installs crds/ first)",
     "uses": {"lb": {POOL}}, "provides": {"lb": {POOL}}, "needs": {}, "problems": []},
    {"id": "kinds nobody in the environment defines are the cluster's business",
     "uses": {"x": {("monitoring.coreos.com", "ServiceMonitor")}}, "provides": {}, "needs": {}, "problems": []},
    {"id": "each missing need reported",
     "uses": {"a": {CM, POOL}}, "provides": {"cm": {CM}, "lb": {POOL}}, "needs": {"a": ["cm"]},
     "problems": ["release 'a' creates IPAddressPool (metallb.io) whose CRD release 'lb' installs, but does not "
                  "need it: add lb to its needs"]},
]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_crd_problems(case: dict[str, Any]) -> None:
    assert crd_problems(case["uses"], case["provides"], case["needs"]) == case["problems"]


def test_kinds_split_custom_kinds_from_crds_and_builtins() -> None:
    objects = [
        {"apiVersion": "apps/v1", "kind": "Deployment"},
        {"apiVersion": "v1", "kind": "Service"},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"},
        {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer"},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "spec": {"group": "argoproj.io", "names": {"kind": "Application"}}},
    ]
    assert _kinds(objects) == ({CM}, {("argoproj.io", "Application")})


def test_recap_lists_every_release_with_counts() -> None:
    recap = Recap([Outcome("cert-manager", "changed", 1.25, "installed", 1, "cert-manager@v1.16.2"),
                   Outcome("metallb", "failed", 3.0, "release 'metallb' did not become ready"),
                   Outcome("jenkins", "skipped", 0.0, "needs metallb, which failed")], seconds=4.5)
    lines = recap.lines()
    assert lines[0].split() == ["RELEASE", "RESULT", "TIME", "CHART", "REVISION", "DETAIL"]
    assert lines[1].split()[:5] == ["cert-manager", "changed", "1.2s", "cert-manager@v1.16.2", "1"]
    assert lines[2].split()[:4] == ["metallb", "failed", "3.0s", "-"]
    assert lines[-1] == "recap: ok=0 changed=1 failed=1 skipped=1 in 4.5s"
    assert [o.name for o in recap.failed] == ["metallb"]
    assert recap.to_json()["counts"] == {"ok": 0, "changed": 1, "failed": 1, "skipped": 1}


def _plan(name: str, ns: str, chart_from: str, chart_to: str, *, values_changed: bool = False) -> ReleasePlan:
    live = LiveState(1, "deployed", chart_from)
    action = decide(live, Changes(chart_from, chart_to, 0, values_changed))
    return ReleasePlan(name, ns, chart_to, live, (), (), (), values_changed, action, "server", "d")


def test_plan_lines_show_groups_needs_and_external_needs() -> None:
    dag = Dag(groups=(("cluster-issuer",), ("jenkins",)), needs={"cluster-issuer": (), "jenkins": ("cluster-issuer",)},
              external={"cluster-issuer": ("cert-manager",)}, ignored={"jenkins": ("metallb-config",)})
    plan = Plan(dag, {
        "cluster-issuer": _plan("cluster-issuer", "cert-manager", "cluster-issuer@0.1.0", "cluster-issuer@0.1.0"),
        "jenkins": _plan("jenkins", "jenkins", "jenkins@5.7.20", "jenkins@5.7.21", values_changed=True),
    })
    assert plan.changes
    lines = plan.lines()
    assert lines[0] == "group 1:"
    assert "unchanged (cluster-issuer@0.1.0)" in lines[1]
    assert "[after cert-manager (must already be deployed)]" in lines[1]
    assert lines[2] == "group 2:"
    assert "upgrade: jenkins@5.7.20 -> jenkins@5.7.21, values differ  [after cluster-issuer]" in lines[3]
    assert lines[4] == "note: jenkins needs metallb-config, disabled in this environment: not waited for"
