"""The platform plan model and the run record's resume logic (pure, table-driven)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prjdevops.errors import ConfigError
from prjdevops.manifests import ObjectDiff
from prjdevops.model import Release
from prjdevops.ops import platform as pf
from prjdevops.ops.plan import Changes, LiveState, ReleasePlan, decide

DIFF = ObjectDiff(("Deployment", "web", "web"), "change", "--- live\n+++ new\n-replicas: 1\n+replicas: 2\n")


def rp(chart_from: str = "", *, status: str = "deployed", diffs: tuple[ObjectDiff, ...] = (),
       values_changed: bool = False, chart_to: str = "web@1.0.0") -> ReleasePlan:
    """A release plan as ops.plan makes one (the action from decide)."""
    live = LiveState(7, status, chart_from) if chart_from else None
    action = decide(live, Changes(chart_from, chart_to, len(diffs), values_changed))
    return ReleasePlan("web", "web", chart_to, live, (), (), diffs, values_changed, action, "server", "d")


@pytest.mark.parametrize(("plan", "action", "summary"), [
    (rp(diffs=(DIFF,)), "install", "install web@1.0.0 (1 object(s))"),
    (rp("web@1.0.0"), "unchanged", "unchanged (web@1.0.0)"),
    (rp("web@0.9.0", diffs=(DIFF,)), "upgrade", "upgrade web@0.9.0 -> web@1.0.0: 1 object(s) differ"),
    (rp("web@1.0.0", values_changed=True), "upgrade", "upgrade web@1.0.0: values differ"),
    (rp("web@1.0.0", status="failed"), "upgrade", "upgrade web@1.0.0: last revision 7 is failed: deploy again"),
])
def test_entry_from_a_release_plan(plan: ReleasePlan, action: str, summary: str) -> None:
    e = pf.entry_from(plan, Release("web", "charts/web", "web", group="dev-tools"), step=2, needs=("db",))
    assert (e.action, e.summary(), e.step, e.group, e.needs) == (action, summary, 2, "dev-tools", ("db",))
    assert e.changes == (action != "unchanged")


def entry(name: str, action: str = "install", step: int = 1, digest: str = "d", **kw: Any) -> pf.PlanEntry:
    return pf.PlanEntry(name, name, kw.pop("group", "cluster-services"), step, f"{name}@1.0.0", action,
                        digest=digest, **kw)


def test_plan_lines_group_chart_action_notes_and_diffs_in_order() -> None:
    plan = pf.PlatformPlan("staging", (
        entry("cert-manager", validation="server"),
        entry("issuer", step=2, needs=("cert-manager",), validation="not validated: needs cert-manager, installed "
                                                                     "by this run first"),
        entry("web", "upgrade", step=3, group="applications", chart_from="web@0.9.0", diffs=(DIFF,)),
        entry("old", "delete", step=0),
        entry("same", "unchanged", step=1),
    ), notes=("x needs y, disabled in this environment: not waited for",))
    lines = plan.lines()
    assert lines[0] == "plan for staging: 5 release(s): 2 to install, 1 to upgrade, 1 to delete, 1 unchanged"
    assert lines[1].split() == ["STEP", "RELEASE", "GROUP", "NAMESPACE", "ACTION", "NOTES"]
    rows = [line.split()[:3] for line in lines[2:7]]
    assert rows == [["1", "cert-manager", "cluster-services"], ["2", "issuer", "cluster-services"],
                    ["3", "web", "applications"], ["0", "old", "cluster-services"], ["1", "same", "cluster-services"]]
    assert "validated by the API server" in lines[2]
    assert "after cert-manager; not validated: needs cert-manager" in lines[3]
    assert "upgrade web@0.9.0 -> web@1.0.0" in lines[4]
    assert "delete old@1.0.0 (disabled in this environment)" in lines[5]
    assert lines[7] == "note: x needs y, disabled in this environment: not waited for"
    # summary first: objects per kind, then the object's diff (capped; a short one whole)
    assert lines[8:] == ["--- web (upgrade) ---", "  KIND        ADD  CHANGE  REMOVE", "  Deployment  -    1       -",
                         "  ~ Deployment/web (ns web)", *DIFF.diff.rstrip("\n").splitlines()]
    assert plan.changes and plan.counts() == {"install": 2, "upgrade": 1, "unchanged": 1, "delete": 1}
    assert plan.lines(diffs=False) == lines[:8]


@pytest.mark.parametrize(("entries", "changes"), [
    ((), False),
    ((entry("a", "unchanged"),), False),
    ((entry("a", "unchanged"), entry("b", "delete")), True),
    ((entry("a", "upgrade"),), True),
])
def test_changes_decides_the_exit_code(entries: tuple[pf.PlanEntry, ...], changes: bool) -> None:
    assert pf.PlatformPlan("e", entries).changes is changes


def test_plan_json_is_a_machine_readable_document() -> None:
    plan = pf.PlatformPlan("production", (entry("web", "upgrade", group="applications", chart_from="web@0.9.0",
                                                diffs=(DIFF,), validation="failed: denied"),))
    doc = json.loads(json.dumps(plan.to_json()))
    assert doc["environment"] == "production" and doc["changes"] is True
    (web,) = doc["releases"]
    assert web == {"name": "web", "namespace": "web", "group": "applications", "step": 1, "chart": "web@1.0.0",
                   "chart_from": "web@0.9.0", "action": "upgrade", "detail": "", "needs": [],
                   "validation": "failed: denied", "digest": "d", "hooks": [],
                   "diffs": [{"kind": "Deployment", "namespace": "web", "name": "web", "action": "change",
                              "diff": DIFF.diff}]}
    assert [e.name for e in plan.rejected] == ["web"]


def state(*steps: tuple[str, str, str], status: str = "failed") -> pf.RunState:
    return pf.RunState("20260101T000000000000Z", "staging", "all",
                       [pf.StepState(n, d, s) for n, d, s in steps], status=status)


@pytest.mark.parametrize(("previous", "now", "skip", "redo", "notes"), [
    # done with the same inputs: skipped; failed / pending / skipped ones run again
    ([("a", "1", "changed"), ("b", "1", "ok"), ("c", "1", "failed"), ("d", "1", "pending"), ("e", "1", "skipped")],
     [("a", "1"), ("b", "1"), ("c", "1"), ("d", "1"), ("e", "1")], ["a", "b"], [], []),
    # inputs of a done release changed since: deployed again, and said so
    ([("a", "1", "changed"), ("b", "1", "failed")], [("a", "2"), ("b", "1")], [], ["a"],
     ["the inputs of a changed since run 20260101T000000000000Z (chart, version or values): deploying them again"]),
    # a release added or removed since the run
    ([("a", "1", "changed"), ("gone", "1", "changed")], [("a", "1"), ("new", "1")], ["a"], [],
     ["not in run 20260101T000000000000Z: new (deployed now)",
      "in run 20260101T000000000000Z but not in this plan: gone (left as they are)"]),
    # an old record without digests: done means done
    ([("a", "", "changed")], [("a", "9")], ["a"], [], []),
])
def test_resume_skips_what_finished_with_the_same_inputs(previous: list[tuple[str, str, str]],
                                                         now: list[tuple[str, str]], skip: list[str],
                                                         redo: list[str], notes: list[str]) -> None:
    plan = pf.PlatformPlan("staging", tuple(entry(n, digest=d) for n, d in now))
    got = pf.resume_from(state(*previous), plan)
    assert (list(got.skip), list(got.redo), list(got.notes)) == (skip, redo, notes)
    assert got.previous == "20260101T000000000000Z"


def test_run_records_round_trip_atomically_and_resume_picks_the_last_unfinished(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "staging"
    with pytest.raises(ConfigError, match="no earlier deploy of 'staging' to resume"):
        pf.last_unfinished(folder, "staging")
    first = pf.RunState("20260101T000000000001Z", "staging", "all", [pf.StepState("a", "1", "changed")],
                        status="failed")
    path = pf.save_run(first, folder)
    assert path == folder / "20260101T000000000001Z.json"
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left behind
    assert pf.load_runs(folder) == [first]
    assert pf.last_unfinished(folder, "staging") == first
    second = pf.RunState("20260101T000000000002Z", "staging", "all", [pf.StepState("a", "1", "ok")],
                         status="succeeded")
    pf.save_run(second, folder)
    with pytest.raises(ConfigError, match=r"nothing to resume: the last deploy of 'staging' \(run "
                                          r"20260101T000000000002Z\) succeeded"):
        pf.last_unfinished(folder, "staging")
    (folder / "20260101T000000000003Z.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        pf.load_runs(folder)


def test_runs_dir_follows_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pf.RUNS_ENV, str(tmp_path / "r"))
    assert pf.runs_dir("local") == tmp_path / "r" / "local"
    monkeypatch.delenv(pf.RUNS_ENV)
    assert pf.runs_dir("local").parts[-3:] == (".prjdevops", "runs", "local")
