"""Rendered manifests as objects and per-object, redacted diffs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.manifests import diff_objects, key_of, key_text, parse_manifest
from prjdevops.values import REDACTED, Redactor

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "manifest_diffs.yaml").read_text(encoding="utf-8"))


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


# --- parse_manifest -----------------------------------------------------------------------------------------

MULTI = """\
---
# Source: app/templates/sa.yaml
apiVersion: v1
kind: ServiceAccount
metadata: {name: app}
---
---
# Source: app/templates/empty.yaml
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: explicit}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
just: a mapping without kind
---
- a list
---
apiVersion: v1
kind: Secret
metadata:
"""


def test_parse_manifest_objects_and_namespaces() -> None:
    objs = parse_manifest(MULTI, "default-ns")
    assert [key_of(o) for o in objs] == [
        ("ServiceAccount", "default-ns", "app"),  # namespaced kind: default applied
        ("ConfigMap", "explicit", "cfg"),  # explicit namespace kept
        ("ClusterRole", "", "reader"),  # cluster-scoped: never given a namespace
        ("Namespace", "", "app"),
        ("Secret", "default-ns", ""),  # `metadata:` null still gets the default namespace
    ]


@pytest.mark.parametrize("text", ["", "---\n", "---\n---\n# only comments\n", None])
def test_parse_manifest_empty(text: str | None) -> None:
    assert parse_manifest(text) == []  # type: ignore[arg-type]


def test_parse_manifest_without_default_namespace() -> None:
    (obj,) = parse_manifest("kind: ConfigMap\nmetadata: {name: c}\n")
    assert key_of(obj) == ("ConfigMap", "", "c")
    assert "namespace" not in obj["metadata"]


@pytest.mark.parametrize(
    ("key", "text"),
    [(("Deployment", "app", "web"), "Deployment/web (ns app)"), (("ClusterRole", "", "r"), "ClusterRole/r")],
)
def test_key_text(key: tuple[str, str, str], text: str) -> None:
    assert key_text(key) == text


# --- diff_objects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_diff_objects_table(case: dict[str, Any]) -> None:
    diffs = diff_objects(case["live"], case["desired"])
    assert [[*d.key, d.action] for d in diffs] == case["expected"]
    for d in diffs:
        label = key_text(d.key)
        assert d.diff.startswith(f"--- live {label}\n+++ new {label}\n")


def test_change_diff_shows_the_changed_lines() -> None:
    live = [{"kind": "Deployment", "metadata": {"name": "web", "namespace": "app"}, "spec": {"replicas": 2}}]
    desired = [{"kind": "Deployment", "metadata": {"name": "web", "namespace": "app"}, "spec": {"replicas": 3}}]
    (d,) = diff_objects(live, desired)
    assert "-  replicas: 2\n" in d.diff
    assert "+  replicas: 3\n" in d.diff


def _secret(data: dict[str, str] | None = None, string_data: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "app"}}
    if data is not None:
        obj["data"] = data
    if string_data is not None:
        obj["stringData"] = string_data
    return obj


@pytest.mark.parametrize(
    ("live", "desired", "changed", "unchanged"),
    [
        (_secret({"PW": _b64("old-password"), "U": _b64("user")}),
         _secret({"PW": _b64("new-password"), "U": _b64("user")}), ["PW"], ["U"]),
        (_secret({"A": _b64("aaaa-value")}), _secret({"A": _b64("aaaa-value"), "B": _b64("bbbb-value")}),
         ["B"], ["A"]),
        (_secret(string_data={"T": "old-token-x"}), _secret(string_data={"T": "new-token-y"}), ["T"], []),
    ],
    ids=["data-changed", "key-added", "stringData-changed"],
)
def test_secret_change_never_shows_values(live: dict[str, Any], desired: dict[str, Any], changed: list[str],
                                          unchanged: list[str]) -> None:
    (d,) = diff_objects([live], [desired])
    assert d.action == "change"
    for k in changed:
        assert f"+  {k}: '{REDACTED} (changed)'\n" in d.diff
    for k in unchanged:
        assert f"  {k}: '{REDACTED}'\n" in d.diff
        assert f"{k}: {REDACTED} (changed)" not in d.diff
    for obj in (live, desired):
        for field in ("data", "stringData"):
            for v in (obj.get(field) or {}).values():
                assert v not in d.diff
                if field == "data":
                    assert base64.b64decode(v).decode() not in d.diff
                else:
                    assert _b64(v) not in d.diff


def test_added_secret_hides_values() -> None:
    (d,) = diff_objects([], [_secret({"PW": _b64("brand-new-pw")}, {"S": "string-data-pw"})])
    assert d.action == "add"
    for leak in ("brand-new-pw", _b64("brand-new-pw"), "string-data-pw"):
        assert leak not in d.diff
    assert f"+  PW: '{REDACTED}'\n" in d.diff
    assert "(changed)" not in d.diff  # nothing to compare with


def test_secret_masking_does_not_mutate_inputs() -> None:
    live, desired = _secret({"K": _b64("value-one")}), _secret({"K": _b64("value-two")})
    diff_objects([live], [desired])
    assert live["data"] == {"K": _b64("value-one")} and desired["data"] == {"K": _b64("value-two")}


def test_redactor_applies_to_diff_text() -> None:
    r = Redactor()
    r.add("db-password-1")
    live = [{"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}, "data": {"URL": "x"}}]
    desired = [{"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"},
                "data": {"URL": "postgres://u:db-password-1@db", "B64": _b64("db-password-1")}}]
    (d,) = diff_objects(live, desired, r)
    assert "db-password-1" not in d.diff
    assert _b64("db-password-1") not in d.diff
    assert f"postgres://u:{REDACTED}@db" in d.diff
    assert f"B64: {REDACTED}" in d.diff


def test_secret_diff_does_not_invent_fields() -> None:
    (d,) = diff_objects([], [_secret({"PW": _b64("brand-new-pw")})])
    assert "stringData" not in d.diff


# --- Helm's document splitting (releaseutil.SplitManifests) ----------------------------------------------------

# Rendered shapes from real charts. cert-manager v1.16.2 templates/rbac.yaml closes `{{- if ... -}}` right after
# `---`, so the comment is glued to the separator; a `---` followed by `{{- include ... }}` glues the next object's
# first line; Helm's regex `(?:^|\s*\n)---\s*` splits all of them.
SPLIT_CASES = [
    ("plain", "a: 1\n---\nb: 2\n", ["a: 1", "b: 2"]),
    # matches never overlap (Go's Split, like Python's): a second `---` right after one stays in the document,
    # where YAML reads it as a document start
    ("consecutive separators", "---\n---\na: 1\n---\n\n---\n", ["---\na: 1", "---"]),
    ("blank documents", "a: 1\n---\n\n---\n  \n---\nb: 2", ["a: 1", "---", "b: 2"]),
    ("cert-manager ---# comment",
     "---\n# Source: cert-manager/templates/rbac.yaml\nkind: A\n---# Permission to approve CertificateRequests "
     "referencing cert-manager.io Issuers and ClusterIssuers\nkind: B\n",
     ["# Source: cert-manager/templates/rbac.yaml\nkind: A",
      "# Permission to approve CertificateRequests referencing cert-manager.io Issuers and ClusterIssuers\nkind: B"]),
    ("---{{- if}} glues the first key", "kind: A\n---kind: B\n", ["kind: A", "kind: B"]),
    ("separator with trailing spaces and CRLF", "kind: A\r\n---   \r\nkind: B", ["kind: A", "kind: B"]),
    ("--- inside a line is no separator", "data:\n  x: |\n    a---b\n", ["data:\n  x: |\n    a---b"]),
    ("empty", "", []),
]


@pytest.mark.parametrize(("text", "want"), [(t, w) for _, t, w in SPLIT_CASES], ids=[c[0] for c in SPLIT_CASES])
def test_split_manifests_as_helm(text: str, want: list[str]) -> None:
    from prjdevops.manifests import split_manifests

    assert split_manifests(text) == want


def test_parse_manifest_reads_the_cert_manager_comment_shape() -> None:
    text = ("---\n# Source: cert-manager/templates/rbac.yaml\napiVersion: rbac.authorization.k8s.io/v1\n"
            "kind: ClusterRole\nmetadata:\n  name: cm-approve\n---# Permission to approve CertificateRequests\n"
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: cm-approve\n"
            "---apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n")
    objs = parse_manifest(text, "cert-manager")
    assert [key_of(o) for o in objs] == [("ClusterRole", "", "cm-approve"), ("ClusterRoleBinding", "", "cm-approve"),
                                         ("ServiceAccount", "cert-manager", "sa")]


def test_a_document_that_is_not_yaml_is_one_project_error() -> None:
    from prjdevops.errors import DeployError

    with pytest.raises(DeployError, match="not valid YAML"):
        parse_manifest("kind: A\n---\nkind: [unclosed\n")


def test_the_cert_manager_stand_in_renders_the_upstream_boundary_and_parses() -> None:
    """Rendered by real Helm: `---# Permission to approve...` (upstream templates/rbac.yaml's shape) is read."""
    from prjdevops.adapters.helm import render

    chart = Path(__file__).resolve().parents[2] / "helm" / "standins" / "cert-manager"
    rendered = render(chart, {"crds": {"enabled": True}}, release="cm", namespace="cert-manager")
    rbac = rendered["cert-manager/templates/rbac.yaml"]
    assert "\n---# Permission to approve CertificateRequests" in rbac
    names = [o["metadata"]["name"] for o in parse_manifest(rbac)]
    assert names == ["cm-controller-certificates", "cm-controller-approve:cert-manager-io",
                     "cm-controller-approve:cert-manager-io"]
