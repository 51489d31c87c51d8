"""metadata.managedFields: the fieldsV1 format both ways, ownership entries, and what the API answers carry.

The expected documents are what kube-apiserver v1.36 answered for the same objects (see tests/parity/probes.py,
the ``mf-*`` probes, which compare them on a real control plane).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from kubesandbox import Sandbox
from kubesandbox.ownership import (
    FieldsError,
    Op,
    Ownership,
    conflict_message,
    decode,
    field_values,
    from_fields_v1,
    render,
    to_fields_v1,
)

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
WEB = 'k:{"name":"web"}'
PORT80 = 'k:{"containerPort":80,"protocol":"TCP"}'

# (paths, fieldsV1) pairs: converted one into the other, both ways
TABLE: list[tuple[set[tuple[str, ...]], dict[str, Any]]] = [
    (set(), {}),
    ({("f:data", "f:k")}, {"f:data": {"f:k": {}}}),
    ({("f:data",), ("f:data", "f:k")}, {"f:data": {".": {}, "f:k": {}}}),
    ({("f:metadata", "f:labels", "f:app"), ("f:metadata", "f:annotations", "f:n"), ("f:data", "f:k")},
     {"f:data": {"f:k": {}}, "f:metadata": {"f:annotations": {"f:n": {}}, "f:labels": {"f:app": {}}}}),
    ({("f:spec", "f:template", "f:spec", "f:containers", WEB),
      ("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image"),
      ("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:name")},
     {"f:spec": {"f:template": {"f:spec": {"f:containers": {WEB: {".": {}, "f:image": {}, "f:name": {}}}}}}}),
    ({("f:metadata", "f:finalizers", 'v:"a/b"')}, {"f:metadata": {"f:finalizers": {'v:"a/b"': {}}}}),
    ({("f:data",)}, {"f:data": {}}),
]


@pytest.mark.parametrize(("paths", "doc"), TABLE)
def test_paths_to_fields_v1(paths: set[tuple[str, ...]], doc: dict[str, Any]) -> None:
    assert json.dumps(to_fields_v1(paths)) == json.dumps(doc)  # key order too (the real server sorts keys)


@pytest.mark.parametrize(("paths", "doc"), TABLE)
def test_fields_v1_to_paths(paths: set[tuple[str, ...]], doc: dict[str, Any]) -> None:
    assert from_fields_v1(doc) == paths


@pytest.mark.parametrize("doc", [{"zz": {}}, {"f:data": 1}, [], {"k:{bad": {}}])
def test_what_is_not_fields_v1(doc: Any) -> None:
    with pytest.raises(FieldsError):
        from_fields_v1(doc)


def test_applied_and_updated_field_sets_of_a_deployment() -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
               "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                   {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}],
                    "env": [{"name": "A", "value": "1"}]}]}}}}
    applied = to_fields_v1(field_values(dep, "", applied=True))
    container = {".": {}, "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}, "f:image": {},
                 "f:name": {}, "f:ports": {PORT80: {".": {}, "f:containerPort": {}}}}
    assert applied == {"f:metadata": {"f:labels": {"f:app": {}}},
                       "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                           "f:metadata": {"f:labels": {"f:app": {}}},
                           "f:spec": {"f:containers": {WEB: container}}}}}
    # an update that creates the object owns the maps and lists it added too (value structs excepted)
    updated = to_fields_v1(field_values(dep, ""))
    assert updated["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert updated["f:spec"]["f:template"]["f:spec"]["f:containers"][WEB]["f:env"]["."] == {}
    assert "." not in updated["f:spec"]["f:template"]


def test_entries_are_keyed_by_operation_and_conflict_with_the_same_name() -> None:
    own = Ownership()
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "1"},
            "data": {"u": "1"}}
    mf = own.next("k", None, live, Op("python", "Update", "v1"), None, "2026-01-01T00:00:00Z")
    assert mf is not None and [(e["manager"], e["operation"]) for e in mf] == [("python", "Update")]
    live["metadata"]["managedFields"] = mf
    new = {**live, "data": {"u": "2"}}
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"u": "2"}}
    with pytest.raises(Exception) as e:
        own.next("k", live, new, Op("python", "Apply", "v1", applied=cfg), None, "2026-01-01T00:00:01Z")
    found = e.value.found  # type: ignore[attr-defined]
    assert conflict_message(found) == 'Apply failed with 1 conflict: conflict with "python" using v1: .data.u'
    forced = own.next("k", live, new, Op("python", "Apply", "v1", applied=cfg, force=True), None, "T")
    assert forced is not None and [(e["manager"], e["operation"]) for e in forced] == [
        ("python", "Apply"), ("python", "Update")]
    # the forced apply took data.u; the update keeps the map it created (as upstream)
    assert forced[0]["fieldsV1"] == {"f:data": {"f:u": {}}} and forced[1]["fieldsV1"] == {"f:data": {}}


def test_given_managed_fields_replace_or_clear() -> None:
    own = Ownership()
    live = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
            "metadata": {"name": "c", "resourceVersion": "2", "managedFields": [
                {"manager": "alice", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:k": {}}}}]}}
    renamed = [dict(live["metadata"]["managedFields"][0], manager="zed")]
    op = Op("kubectl", "Update", "v1")
    got = own.next("k", live, dict(live), op, renamed, "T")
    assert got is not None and [e["manager"] for e in got] == ["zed"]
    assert own.next("k", live, dict(live), op, [], "T") is None
    bad = [dict(renamed[0], operation="Bogus")]
    kept = own.next("k", live, dict(live), op, bad, "T")
    assert kept is not None and [e["manager"] for e in kept] == ["alice"]
    assert decode(got)[0].fields == {("f:data", "f:k")}


def test_render_names_paths_as_kube_apiserver() -> None:
    assert render(("f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image")) == \
        '.spec.template.spec.containers[name="web"].image'
    assert render(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}')) == '.spec.ports[port=80,protocol="TCP"]'


def test_every_answer_carries_managed_fields_and_a_rename_hands_ownership_over() -> None:
    with Sandbox(port=0) as sb:
        api = client.ApiClient(client.Configuration(host=sb.url))
        v1 = client.CoreV1Api(api)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "x"}},
                "data": {"k": "one"}}
        made = v1.patch_namespaced_config_map("c", "default", body, field_manager="alice", _content_type=APPLY)
        entry = made.metadata.managed_fields[0]
        assert (entry.manager, entry.operation, entry.api_version, entry.fields_type) == \
            ("alice", "Apply", "v1", "FieldsV1")
        assert entry.fields_v1 == {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
        assert entry.time is not None and entry.time.microsecond == 0
        got = v1.read_namespaced_config_map("c", "default")
        assert got.metadata.managed_fields[0].manager == "alice"
        listed = v1.list_namespaced_config_map("default", field_selector="metadata.name=c")
        assert listed.items[0].metadata.managed_fields[0].fields_v1 == entry.fields_v1
        # hand alice's fields to zed with a merge patch, as tools do; then zed may change them
        raw = api.sanitize_for_serialization(got.metadata.managed_fields)
        renamed = [dict(e, manager="zed") for e in raw]
        v1.patch_namespaced_config_map("c", "default", {"metadata": {
            "managedFields": renamed, "resourceVersion": got.metadata.resource_version}},
            _content_type=MERGE)
        body["data"] = {"k": "two"}
        after = v1.patch_namespaced_config_map("c", "default", body, field_manager="zed", _content_type=APPLY)
        assert after.data == {"k": "two"}
        assert [m.manager for m in after.metadata.managed_fields] == ["zed"]
        with pytest.raises(client.ApiException) as e:
            body["data"] = {"k": "three"}
            v1.patch_namespaced_config_map("c", "default", body, field_manager="alice", _content_type=APPLY)
        assert e.value.status == 409 and 'conflict with \\"zed\\"' in e.value.body
        api.close()
