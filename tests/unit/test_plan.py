"""The release plan's pure parts: the action table (live state x desired change -> action), hooks kept out of the
diff, rollback targets, the tool's health record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prjdevops.adapters.helm import ReleaseInfo, cached_by_chart
from prjdevops.adapters.kube import patch_field_validation
from prjdevops.ops.plan import (
    INSTALL,
    UNCHANGED,
    UPGRADE,
    Changes,
    LiveState,
    chart_hooks,
    decide,
    kinds_of,
    load_verdicts,
    record_verdict,
    rollback_target,
    split_hooks,
)

SAME = Changes("app@1.0.0", "app@1.0.0", 0, False)


def live(status: str, revision: int = 8) -> LiveState:
    return LiveState(revision, status, "app@1.0.0")


# (id, live state, change, action kind, reason, recover)
ACTIONS: list[tuple[str, LiveState | None, Changes, str, str, bool]] = [
    ("no release", None, Changes("", "app@1.0.0", 3), INSTALL, "not installed", False),
    ("no release, nothing rendered", None, Changes("", "app@1.0.0", 0), INSTALL, "not installed", False),
    ("deployed, nothing differs", live("deployed"), SAME, UNCHANGED, "up to date", False),
    ("deployed, objects differ", live("deployed"), Changes("app@1.0.0", "app@1.0.0", 2), UPGRADE,
     "2 object(s) differ", False),
    ("deployed, values differ only", live("deployed"), Changes("app@1.0.0", "app@1.0.0", 0, True), UPGRADE,
     "values differ", False),
    ("deployed, chart moves", live("deployed"), Changes("app@1.0.0", "app@1.1.0", 1), UPGRADE,
     "app@1.0.0 -> app@1.1.0, 1 object(s) differ", False),
    ("deployed, render failed", live("deployed"), Changes("app@1.0.0", "app@1.0.0", 0, rendered=False), UPGRADE,
     "the new manifest could not be rendered", False),
    ("failed, nothing differs", live("failed"), SAME, UPGRADE, "last revision 8 is failed: deploy again", False),
    ("failed, objects differ", live("failed", 10), Changes("app@1.0.0", "app@1.0.0", 4), UPGRADE,
     "last revision 10 is failed: deploy again", False),
    ("pending-upgrade", live("pending-upgrade"), SAME, UPGRADE,
     "last revision 8 is pending-upgrade: roll it back to the last deployed revision, then deploy again", True),
    ("pending-install", live("pending-install", 1), SAME, UPGRADE,
     "last revision 1 is pending-install: roll it back to the last deployed revision, then deploy again", True),
    ("pending-rollback", live("pending-rollback"), SAME, UPGRADE,
     "last revision 8 is pending-rollback: roll it back to the last deployed revision, then deploy again", True),
    ("uninstalling", live("uninstalling"), SAME, UPGRADE, "last revision 8 is uninstalling: deploy again", False),
    ("superseded as newest (not deployed)", live("superseded"), SAME, UPGRADE,
     "last revision 8 is superseded: deploy again", False),
    ("unknown status", live(""), SAME, UPGRADE, "last revision 8 is unknown: deploy again", False),
]


@pytest.mark.parametrize(("state", "changes", "kind", "reason", "recover"), [a[1:] for a in ACTIONS],
                         ids=[a[0] for a in ACTIONS])
def test_decide(state: LiveState | None, changes: Changes, kind: str, reason: str, recover: bool) -> None:
    action = decide(state, changes)
    assert (action.kind, action.reason, action.recover) == (kind, reason, recover)
    assert action.changes == (kind != UNCHANGED)


def test_only_a_deployed_release_with_nothing_different_is_unchanged() -> None:
    for status in ("failed", "pending-install", "pending-upgrade", "pending-rollback", "uninstalling",
                   "superseded", "uninstalled", ""):
        assert decide(live(status), SAME).changes, status


def _obj(kind: str, name: str, **ann: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "annotations": ann}}


def test_hooks_and_test_hooks_are_kept_out_of_the_objects() -> None:
    objs = [_obj("Deployment", "web"),
            _obj("Job", "check", **{"helm.sh/hook": "post-install,post-upgrade",
                                    "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}),
            _obj("Pod", "ui-test-x1", **{"helm.sh/hook": "test"}),
            _obj("Secret", "s", **{"other": "x"})]
    plain, hooks = split_hooks(objs)
    assert [o["metadata"]["name"] for o in plain] == ["web", "s"]
    assert [(h.kind, h.events, h.test) for h in hooks] == [("Job", ("post-install", "post-upgrade"), False),
                                                          ("Pod", ("test",), True)]
    assert hooks[0].text() == ("Job/check on post-install,post-upgrade, delete "
                               "before-hook-creation,hook-succeeded")


def test_chart_hooks_are_read_from_the_stand_ins_sources() -> None:
    root = Path(__file__).resolve().parents[2] / "helm" / "standins"
    cm = chart_hooks(root / "cert-manager")
    assert {(h.kind, h.events) for h in cm} == {(k, ("post-install", "post-upgrade"))
                                               for k in ("ServiceAccount", "Role", "RoleBinding", "Job")}
    jenkins = chart_hooks(root / "jenkins")
    assert sorted((h.kind, h.test) for h in jenkins) == [("ConfigMap", True), ("Pod", True)]
    assert chart_hooks(root / "metallb") == []


def info(revision: int, status: str, updated: str = "") -> ReleaseInfo:
    return ReleaseInfo("app", "ns", revision, status, "app", "1.0.0", "1", updated or f"t{revision}")


# (id, history statuses by revision, the tool's verdicts, excluded revision, target)
TARGETS: list[tuple[str, list[str], dict[int, bool], int | None, int | None]] = [
    ("previous deployed", ["superseded", "deployed"], {}, 2, 1),
    ("current is the newest healthy", ["superseded", "deployed"], {}, None, 2),
    ("failed newest skipped (r10 failed, r8 deployed)",
     ["superseded"] * 7 + ["deployed", "failed", "failed"], {}, None, 8),
    ("pending skipped", ["superseded", "deployed", "pending-upgrade"], {}, None, 2),
    ("deployed but found unhealthy by the tool", ["superseded", "superseded", "deployed"], {3: False}, None, 2),
    ("recorded healthy kept", ["superseded", "deployed"], {2: True}, None, 2),
    ("nothing deployed healthy", ["failed", "failed"], {}, None, None),
    ("only the excluded one", ["deployed"], {}, 1, None),
]


@pytest.mark.parametrize(("statuses", "verdicts", "exclude", "want"), [t[1:] for t in TARGETS],
                         ids=[t[0] for t in TARGETS])
def test_rollback_target(statuses: list[str], verdicts: dict[int, bool], exclude: int | None,
                         want: int | None) -> None:
    history = [info(i, s) for i, s in enumerate(statuses, 1)]
    got = rollback_target(history, verdicts, exclude=exclude)
    assert (got.revision if got else None) == want


class _Env:
    def __init__(self, tmp: Path) -> None:
        self.name = "prod"
        self.backup = type("B", (), {"dir": tmp})()


class _Rel:
    name = "app"


def test_a_verdict_counts_only_for_the_revision_it_was_written_for(tmp_path: Path) -> None:
    env, rel = _Env(tmp_path), _Rel()
    assert record_verdict(env, rel, info(3, "deployed", "2026-01-01T00:00:00Z"), False, "gate failed") == ""
    assert record_verdict(env, rel, info(4, "deployed", "2026-01-01T00:01:00Z"), True) == ""
    history = [info(3, "superseded", "2026-01-01T00:00:00Z"), info(4, "deployed", "2026-01-01T00:01:00Z")]
    assert load_verdicts(env, rel, history) == {3: False, 4: True}
    # the same revision numbers after a reinstall (other timestamps): the old verdicts do not apply
    assert load_verdicts(env, rel, [info(3, "superseded", "2027-01-01T00:00:00Z")]) == {}


# (id, not installed yet, needs, reasons)
OFFLINE: list[tuple[str, dict[str, bool], dict[str, list[str]], dict[str, str]]] = [
    ("all installed: every release validated by the server", {"cm": False, "issuer": False},
     {"issuer": ["cm"]}, {}),
    ("a need installed by this run", {"cm": True, "issuer": True}, {"issuer": ["cm"]},
     {"issuer": "not validated: needs cm, installed by this run first"}),
    ("transitive needs, counted", {"cm": True, "lb": True, "issuer": False, "jenkins": True},
     {"issuer": ["cm"], "jenkins": ["issuer", "lb"]},
     {"issuer": "not validated: needs cm, installed by this run first",
      "jenkins": "not validated: needs cm (+1), installed by this run first"}),
]


@pytest.mark.parametrize(("installing", "needs", "want"), [o[1:] for o in OFFLINE], ids=[o[0] for o in OFFLINE])
def test_offline_reasons(installing: dict[str, bool], needs: dict[str, list[str]], want: dict[str, str]) -> None:
    from prjdevops.ops.libraries import offline_reasons

    assert offline_reasons(installing, needs) == want


# --- whether the API server validates fields itself (kubectl's query-parameter check, on an OpenAPI v3 doc) --------


def _patch(group: str, version: str, kind: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"patch": {"parameters": params,
                      "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind}}}


FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
DRY_RUN = {"name": "dryRun", "in": "query", "schema": {"type": "string"}}


def test_patch_field_validation_reads_inline_and_shared_parameters() -> None:
    doc = {"paths": {
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}": _patch("apps", "v1", "Deployment",
                                                                          [DRY_RUN, FIELD_VALIDATION]),
        "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}": _patch(
            "apps", "v1", "StatefulSet", [{"$ref": "#/components/parameters/fieldValidation-abc"}]),
        "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}": _patch("apps", "v1", "DaemonSet", [DRY_RUN]),
        # a PATCH of another group-version's kind (the Scale subresource) says nothing about this one's
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale": _patch("autoscaling", "v1", "Scale",
                                                                                [FIELD_VALIDATION]),
        "/apis/apps/v1/namespaces/{namespace}/deployments": {"get": {}},
    }, "components": {"parameters": {"fieldValidation-abc": FIELD_VALIDATION}}}
    assert patch_field_validation(doc, "apps", "v1") == {"Deployment": True, "StatefulSet": True,
                                                          "DaemonSet": False}


def test_a_kind_validates_fields_only_when_every_patch_of_it_does() -> None:
    doc = {"paths": {"/api/v1/namespaces/{namespace}/pods/{name}": _patch("", "v1", "Pod", [FIELD_VALIDATION]),
                     "/api/v1/namespaces/{namespace}/pods/{name}/status": _patch("", "v1", "Pod", [DRY_RUN]),
                     "/api/v1/namespaces/{namespace}/configmaps/{name}": _patch("", "v1", "ConfigMap",
                                                                                [{"name": "fieldValidation",
                                                                                  "in": "header"}])}}
    assert patch_field_validation(doc, "", "v1") == {"Pod": False, "ConfigMap": False}
    assert patch_field_validation(None, "", "v1") == {}
    assert patch_field_validation({"paths": {}}, "", "v1") == {}


def test_kinds_of_objects() -> None:
    objs = [{"apiVersion": "apps/v1", "kind": "Deployment"}, {"apiVersion": "v1", "kind": "Service"},
            {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"}, {"apiVersion": "v1", "kind": "Service"}]
    assert kinds_of(objs) == {("apps", "v1", "Deployment"), ("", "v1", "Service"),
                              ("networking.k8s.io", "v1", "Ingress")}


def test_a_chart_is_read_once_per_content(tmp_path: Path) -> None:
    """Many releases of one chart in a plan read it once; an edited chart is read again; callers get copies."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: c\nversion: 1.0.0\n")
    loads: list[int] = []

    def load() -> dict[str, Any]:
        loads.append(1)
        return {"defaults": {"replicaCount": 1}}

    first = cached_by_chart("test", chart, load)
    first["defaults"]["replicaCount"] = 5  # a caller's change stays its own
    assert cached_by_chart("test", chart, load) == {"defaults": {"replicaCount": 1}}
    assert len(loads) == 1
    (chart / "templates" / "new.yaml").write_text("kind: ConfigMap\n")
    cached_by_chart("test", chart, load)
    assert len(loads) == 2
    archive = tmp_path / "c-1.0.0.tgz"
    archive.write_bytes(b"one")
    cached_by_chart("test", archive, load)
    cached_by_chart("test", archive, load)
    archive.write_bytes(b"other content")
    cached_by_chart("test", archive, load)
    assert len(loads) == 4
