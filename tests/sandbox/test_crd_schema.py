"""Custom resources against their CRD's openAPIV3Schema: pruning, defaulting, validation, status subresource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesandbox import Sandbox, schema
from kubesandbox.api import ApiError

from .helpers import raw
from .test_kubectl import kubectl

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["host"],
            "properties": {
                "host": {"type": "string", "pattern": "^[a-z.]+$", "maxLength": 20, "minLength": 3},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
                "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                "port": {"x-kubernetes-int-or-string": True},
                "since": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "weight": {"type": "number", "default": 1.5}}}},
                "note": {"type": "string", "nullable": True},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("valid", {"host": "a.example", "replicas": 2, "mode": "fast", "port": "http", "since": "2026-01-02T03:04:05Z",
               "tags": ["x"], "extra": {"anything": [1]}, "env": {"A": "b"}, "note": None}, []),
    ("missing required", {"replicas": 1}, ["spec.host: Required value"]),
    ("wrong type", {"host": "abc", "replicas": "3"},
     ['spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"']),
    ("integral float for integer", {"host": "abc", "replicas": 3.0}, []),
    ("above maximum", {"host": "abc", "replicas": 9},
     ["spec.replicas: Invalid value: 9: spec.replicas in body should be less than or equal to 5"]),
    ("below minimum", {"host": "abc", "replicas": 0},
     ["spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"]),
    ("not in enum", {"host": "abc", "mode": "slow"},
     ['spec.mode: Unsupported value: "slow": supported values: "fast", "safe"']),
    ("pattern", {"host": "ABC"}, ["spec.host: Invalid value: \"ABC\": spec.host in body should match '^[a-z.]+$'"]),
    ("too long", {"host": "a" * 21}, ["spec.host: Too long: may not be more than 20 bytes"]),
    ("too short", {"host": "ab"},
     ['spec.host: Invalid value: "ab": spec.host in body should be at least 3 chars long']),
    ("int-or-string given a bool", {"host": "abc", "port": True},
     ['spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"']),
    ("bad date-time", {"host": "abc", "since": "yesterday"},
     ['spec.since: Invalid value: "yesterday": spec.since in body must be of type date-time: "yesterday"']),
    ("too many items", {"host": "abc", "tags": ["a", "b", "c"]}, ["spec.tags: Too many: 3: must have at most 2 items"]),
    ("array item type", {"host": "abc", "tags": [1]},
     ['spec.tags[0]: Invalid value: "integer": spec.tags[0] in body must be of type string: "integer"']),
    ("additionalProperties type", {"host": "abc", "env": {"A": 1}},
     ['spec.env.A: Invalid value: "integer": spec.env.A in body must be of type string: "integer"']),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schema_validation(spec: dict[str, Any], expected: list[str]) -> None:
    assert [str(e) for e in schema.validate({"apiVersion": "x/v1", "kind": "W", "spec": spec}, SCHEMA)] == expected


def test_prune_reports_and_drops_unknown_fields_but_keeps_preserved_ones() -> None:
    obj = {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"}, "bogus": 1,
           "spec": {"host": "abc", "hots": "typo", "extra": {"free": {"form": 1}}, "items": [{"name": "a", "x": 1}]}}
    assert schema.prune(obj, SCHEMA) == ["bogus", "spec.hots", "spec.items[0].x"]
    assert obj == {"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
                   "spec": {"host": "abc", "extra": {"free": {"form": 1}}, "items": [{"name": "a"}]}}


def test_defaults_fill_absent_properties_of_present_objects() -> None:
    obj: dict[str, Any] = {"spec": {"host": "abc", "mode": "fast", "items": [{"name": "a"}]}}
    schema.apply_defaults(obj, SCHEMA)
    assert obj == {"spec": {"host": "abc", "mode": "fast", "replicas": 1, "items": [{"name": "a", "weight": 1.5}]}}
    empty: dict[str, Any] = {}
    schema.apply_defaults(empty, SCHEMA)
    assert empty == {}  # no spec object, nothing to default into


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA},
                           "subresources": {"status": {}}}]},
}


@pytest.fixture
def widgets(api_client: Any) -> client.CustomObjectsApi:
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
    return client.CustomObjectsApi(api_client)


def _widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_custom_resource_breaking_the_schema_is_422(widgets: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as err:
        widgets.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                                _widget(host="abc", replicas=9, mode="slow"))
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert status["reason"] == "Invalid"
    assert status["message"] == ('Widget.example.com "w" is invalid: [spec.replicas: Invalid value: 9: spec.replicas '
                                 'in body should be less than or equal to 5, spec.mode: Unsupported value: "slow": '
                                 'supported values: "fast", "safe"]')
    assert [(c["reason"], c["field"]) for c in status["details"]["causes"]] == [
        ("FieldValueInvalid", "spec.replicas"), ("FieldValueNotSupported", "spec.mode")]


def test_defaults_status_subresource_and_field_validation(widgets: client.CustomObjectsApi, sandbox: Sandbox) -> None:
    created = widgets.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                                      {**_widget(host="abc"), "status": {"phase": "Up"}})
    assert created["spec"] == {"host": "abc", "replicas": 1, "mode": "safe"}
    assert created.get("status") in (None, {})  # status is the status subresource's business
    widgets.patch_namespaced_custom_object_status("example.com", "v1", "default", "widgets", "w",
                                                  {"status": {"phase": "Up"}, "spec": {"replicas": 4}})
    got = widgets.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert got["status"] == {"phase": "Up"} and got["spec"]["replicas"] == 1  # spec ignored via /status
    widgets.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w",
                                           {"spec": {"replicas": 3}, "status": {"phase": "Down"}})
    got = widgets.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert got["status"] == {"phase": "Up"} and got["spec"]["replicas"] == 3  # status ignored on the main resource
    path = "/apis/example.com/v1/namespaces/default/widgets"
    body = json.dumps({**_widget(host="abc", hots="typo"), "metadata": {"name": "w2"}})
    code, _, status = raw(sandbox.url, "POST", path + "?fieldValidation=Strict", body,
                          {"Content-Type": "application/json"})
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == ('Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
                                 'unknown field "spec.hots"')
    code, hdrs, stored = raw(sandbox.url, "POST", path + "?fieldValidation=Warn", body,
                             {"Content-Type": "application/json"})
    assert code == 201 and 'unknown field \\"spec.hots\\"' in hdrs["warning"]
    assert "hots" not in stored["spec"]
    body = json.dumps({**_widget(host="abc", hots="typo"), "metadata": {"name": "w3"}})
    code, hdrs, stored = raw(sandbox.url, "POST", path + "?fieldValidation=Ignore", body,
                             {"Content-Type": "application/json"})
    assert code == 201 and "warning" not in hdrs and "hots" not in stored["spec"]


def test_kubectl_apply_of_a_typo_in_a_custom_resource(widgets: client.CustomObjectsApi, kubeconfig: Path,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: typo}\nspec: {host: abc, hots: x}\n")
    r = kubectl(kubeconfig, "apply", "-f", str(path))
    assert r.returncode != 0 and 'unknown field "spec.hots"' in r.stderr
    path.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {replicas: 2}\n")
    r = kubectl(kubeconfig, "apply", "-f", str(path))
    assert r.returncode != 0 and 'The Widget "bad" is invalid: spec.host: Required value' in r.stderr


@pytest.mark.parametrize(("rule", "value", "holds"), [
    ("self.size <= 50 || self.color == 'red'", {"size": 60, "color": "blue"}, False),
    ("self.size <= 50 || self.color == 'red'", {"size": 60, "color": "red"}, True),
    ("has(self.a) ? self.a.size() > 1 : true", {}, True),
    ("has(self.a) ? self.a.size() > 1 : true", {"a": "x"}, False),
    ("self.items.all(i, i > 0) && !self.items.exists(i, i == 7)", {"items": [1, 2]}, True),
    ("self.name.startsWith(\"a\") && size(self.name) < 5 && self.mode in ['x', 'y']",
     {"name": "abc", "mode": "z"}, False),
    ("self.minReplicas <= self.maxReplicas", {"minReplicas": 3, "maxReplicas": 2}, False),
])
def test_cel_subset(rule: str, value: dict[str, Any], holds: bool) -> None:
    from kubesandbox import cel

    assert cel.evaluate(rule, value) is holds


def test_cel_rules_in_schemas_and_what_is_skipped() -> None:
    sch = {"type": "object", "properties": {"spec": {
        "type": "object", "properties": {"size": {"type": "integer"}, "color": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "self.size <= 50 || self.color == 'red'", "message": "big widgets are red"},
            {"rule": "self.size == oldSelf.size", "message": "transition rules need the old object"},
            {"rule": "self.color.lowerAscii() == 'red'", "message": "unsupported functions are skipped"},
            {"rule": "self.size > 1", "fieldPath": ".size", "reason": "FieldValueForbidden"}]}}}
    errs = schema.validate({"spec": {"size": 60, "color": "blue"}}, sch)
    assert [str(e) for e in errs] == ['spec: Invalid value: "object": big widgets are red']
    errs = schema.validate({"spec": {"size": 1, "color": "red"}}, sch)
    assert [str(e) for e in errs] == ["spec.size: Forbidden: failed rule: self.size > 1"]


def test_cel_rules_are_not_run_on_an_object_that_failed_the_schema(sandbox: Sandbox) -> None:
    api = sandbox.api
    crd = json.loads(json.dumps(CRD))
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"] = [{"rule": "self.replicas <= 3 || self.mode == 'fast'",
                                                "message": "many replicas need fast mode"}]
    api.create(api.rt("apiextensions.k8s.io", "v1", "customresourcedefinitions"), "", crd)
    rt = api.rt("example.com", "v1", "widgets")
    with pytest.raises(ApiError) as err:
        api.create(rt, "default", _widget(host="abc", replicas=4))
    assert err.value.details is not None
    assert [(c["reason"], c["field"]) for c in err.value.details["causes"]] == [("FieldValueInvalid", "spec")]
    with pytest.raises(ApiError) as err:
        api.create(rt, "default", _widget(host="abc", replicas="4"))
    assert err.value.details is not None
    assert [(c["reason"], c["field"]) for c in err.value.details["causes"]] == [
        ("FieldValueTypeInvalid", "spec.replicas"), ("FieldValueInvalid", "<nil>")]
