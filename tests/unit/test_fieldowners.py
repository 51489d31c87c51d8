"""Handing server-side-apply fields of earlier Helm runs over (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from prjdevops.fieldowners import ApplyConflict, field_manager, handover, helm_owned, parse_conflicts

HELM_ERROR = (
    'conflict occurred while applying object plate-web/plate-web /v1, Kind=ServiceAccount: Apply failed with 1 '
    'conflict: conflict with "python" using v1: .metadata.labels.app.kubernetes.io/version && conflict occurred '
    'while applying object plate-web/plate-web apps/v1, Kind=Deployment: Apply failed with 2 conflicts: conflicts '
    'with "python": - .spec.replicas - .spec.template.spec.containers[name="web"].image && conflict occurred while '
    'applying object /cm-crd apiextensions.k8s.io/v1, Kind=CustomResourceDefinition: Apply failed with 1 conflict: '
    'conflict with "kubectl-edit" using apiextensions.k8s.io/v1: .spec')


def test_parse_conflicts_of_helms_error() -> None:
    assert parse_conflicts(HELM_ERROR) == [
        ApplyConflict("plate-web", "plate-web", "v1", "ServiceAccount", ("python",)),
        ApplyConflict("plate-web", "plate-web", "apps/v1", "Deployment", ("python",)),
        ApplyConflict("", "cm-crd", "apiextensions.k8s.io/v1", "CustomResourceDefinition", ("kubectl-edit",)),
    ]
    assert parse_conflicts("context deadline exceeded") == []


@pytest.mark.parametrize("managers, me, ours", [
    (("python",), "python3", True),
    (("helm",), "python3", True),  # the Helm CLI deployed it before
    (("python3.11", "invoke"), "python", True),
    (("kubectl-edit",), "python3", False),  # someone edited it: a real conflict
    (("python", "kube-controller-manager"), "python3", False),
    (("python3",), "python3", False),  # a conflict with ourselves is no ownership question
    ((), "python3", False),
])
def test_helm_owned(managers: tuple[str, ...], me: str, ours: bool) -> None:
    assert helm_owned([ApplyConflict("n", "x", "v1", "ConfigMap", managers)], me) is ours


def test_helm_owned_needs_conflicts() -> None:
    assert not helm_owned([], "python3")


@pytest.mark.parametrize("argv0, name", [("/work/.venv/bin/python3", "python3"), ("helm", "helm"),
                                         ("/x/" + "a" * 200, "a" * 128)])
def test_field_manager(argv0: str, name: str) -> None:
    assert field_manager(argv0) == name


def entry(manager: str, op: str = "Apply", api: str = "apps/v1", fields: Any = None) -> dict[str, Any]:
    return {"manager": manager, "operation": op, "apiVersion": api, "fieldsType": "FieldsV1",
            "fieldsV1": fields or {"f:spec": {"f:replicas": {}}}}


def test_handover_renames_apply_entries() -> None:
    out = handover([entry("python"), entry("kube-controller-manager", "Update")], {"python"}, "python3")
    assert out == [entry("python3"), entry("kube-controller-manager", "Update")]


def test_handover_merges_into_an_existing_entry_of_the_same_version() -> None:
    mine = entry("python3", fields={"f:metadata": {"f:labels": {"f:a": {}}}})
    theirs = entry("python", fields={"f:metadata": {"f:labels": {"f:b": {}}}, "f:spec": {"f:replicas": {}}})
    out = handover([mine, theirs], {"python"}, "python3")
    assert out == [entry("python3", fields={"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}},
                                            "f:spec": {"f:replicas": {}}})]


def test_handover_leaves_update_entries_and_other_versions_alone() -> None:
    upd = entry("python", "Update")
    other = entry("python", api="apps/v1beta1")
    out = handover([upd, other, entry("python3")], {"python"}, "python3")
    assert out == [upd, entry("python3", api="apps/v1beta1"), entry("python3")]
    assert handover([entry("kubectl")], {"python"}, "python3") is None
