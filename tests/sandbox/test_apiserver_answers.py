"""Requests in order against one sandbox, each with the answer kube-apiserver v1.36 gives (from its sources):
status, reason and the (reason, field) set of ``details.causes`` — what the parity suite compares."""

from __future__ import annotations

import json
from typing import Any

from kubesandbox import Sandbox

from .helpers import raw

NS = "/api/v1/namespaces/default"
APPS = "/apis/apps/v1/namespaces/default"
BATCH = "/apis/batch/v1/namespaces/default"
MERGE = "application/merge-patch+json"


def svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def deploy(name: str, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "app:1", **container}]}}}}


# (method, path, body, content type, status, reason, {(cause reason, field)})
ROWS: list[tuple[str, str, Any, str, int, str | None, set[tuple[str, str]]]] = [
    ("POST", f"{NS}/services", svc("fixed", clusterIP="10.96.200.200"), "", 201, None, set()),
    ("POST", f"{NS}/services", svc("fixed2", clusterIP="10.96.200.200"), "", 422, "Invalid",
     {("FieldValueInvalid", "spec.clusterIPs")}),
    ("POST", f"{NS}/services", svc("oor", clusterIP="192.0.2.10"), "", 422, "Invalid",
     {("FieldValueInvalid", "spec.clusterIPs")}),
    ("POST", f"{NS}/services", svc("nip", clusterIP="banana"), "", 422, "Invalid",
     {("FieldValueInvalid", "spec.clusterIPs[0]")}),
    ("POST", f"{NS}/services", svc("npor", type="NodePort", ports=[{"port": 80, "nodePort": 20}]), "", 422,
     "Invalid", {("FieldValueInvalid", "spec.ports[0].nodePort")}),
    ("POST", f"{NS}/services", svc("npci", ports=[{"port": 80, "nodePort": 30080}]), "", 422, "Invalid",
     {("FieldValueForbidden", "spec.ports[0].nodePort")}),
    ("PATCH", f"{NS}/services/fixed", {"spec": {"clusterIP": "10.96.123.123"}}, MERGE, 422, "Invalid",
     {("FieldValueInvalid", "spec.clusterIPs[0]")}),
    ("POST", f"{APPS}/deployments", deploy("q", resources={"requests": {"cpu": "lots"}}), "", 400, "BadRequest",
     set()),
    ("POST", f"{APPS}/deployments", deploy("d1"), "", 201, None, set()),
    ("PATCH", f"{APPS}/deployments/d1/scale", {"spec": {"replicas": -2}}, MERGE, 422, "Invalid",
     {("FieldValueInvalid", "spec.replicas")}),
    ("DELETE", f"{APPS}/deployments/d1", {"kind": "DeleteOptions", "apiVersion": "v1",
                                          "propagationPolicy": "Sideways"}, "", 422, "Invalid",
     {("FieldValueNotSupported", "propagationPolicy")}),
    ("POST", f"{BATCH}/jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {
        "template": {"metadata": {"labels": {"app": "j"}}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "m", "image": "app:1"}]}}}}, "", 201, None, set()),
    ("PATCH", f"{BATCH}/jobs/j", {"spec": {"completions": 3}}, MERGE, 422, "Invalid",
     {("FieldValueInvalid", "spec.completions")}),
    ("PATCH", f"{BATCH}/jobs/j", {"spec": {"parallelism": 2}}, MERGE, 200, None, set()),
    ("POST", f"{NS}/configmaps?fieldValidation=Strict",
     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}', "",
     400, "BadRequest", set()),
    ("POST", f"{NS}/configmaps?dryRun=Some", {"metadata": {"name": "dry"}}, "", 422, "Invalid",
     {("FieldValueNotSupported", "dryRun")}),
    ("GET", f"{NS}/configmaps?resourceVersionMatch=Exact", None, "", 422, "Invalid",
     {("FieldValueForbidden", "resourceVersionMatch")}),
    ("PATCH", f"{NS}/configmaps/nokind?fieldManager=a", {"apiVersion": "v1", "metadata": {"name": "nokind"}},
     "application/apply-patch+yaml", 400, "BadRequest", set()),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", None, "", 200, None, set()),
    ("GET", f"{NS}/configmaps?fieldSelector=data.a%3D1", None, "", 400, "BadRequest", set()),
    ("GET", f"{NS}/events?fieldSelector=involvedObject.name%3Dx", None, "", 200, None, set()),
    ("GET", f"{NS}/pods?fieldSelector=status.phase%3DRunning,spec.nodeName%3Dn", None, "", 200, None, set()),
    ("POST", "/api/v1/namespaces", {"metadata": {"name": "gone"}}, "", 201, None, set()),
    ("DELETE", "/api/v1/namespaces/gone", None, "", 200, None, set()),
    ("POST", "/api/v1/namespaces/gone/configmaps", {"metadata": {"name": "late"}}, "", 403, "Forbidden", set()),
]


def test_answers_in_order(sandbox: Sandbox) -> None:
    got = []
    for method, path, body, ctype, *_ in ROWS:
        data = body if isinstance(body, bytes) else json.dumps(body) if body is not None else None
        code, _, doc = raw(sandbox.url, method, path, data,
                           {"Content-Type": ctype or "application/json"})
        doc = doc if isinstance(doc, dict) else {}
        reason = doc.get("reason") if doc.get("kind") == "Status" else None
        causes = {(c.get("reason", ""), c.get("field", "")) for c in (doc.get("details") or {}).get("causes") or []}
        got.append((code, reason, causes))
    assert got == [(status, reason, causes) for *_, status, reason, causes in ROWS]


def test_defaults_kube_apiserver_fills_in(sandbox: Sandbox) -> None:
    api = sandbox.api
    sts = api.create(api.rt("apps", "v1", "statefulsets"), "default", {
        "metadata": {"name": "db"}, "spec": {
            "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "d", "image": "x"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    pod = api.create(api.rt("", "v1", "pods"), "default", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "x"}]}})
    assert (pod["spec"]["serviceAccountName"], pod["spec"]["enableServiceLinks"], pod["spec"]["priority"]) == (
        "default", True, 0)
    assert [t["key"] for t in pod["spec"]["tolerations"]] == ["node.kubernetes.io/not-ready",
                                                              "node.kubernetes.io/unreachable"]
    cj = api.create(api.rt("batch", "v1", "cronjobs"), "default", {"metadata": {"name": "cj"}, "spec": {
        "schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}})
    assert {k: cj["spec"][k] for k in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit",
                                       "failedJobsHistoryLimit")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    lb = api.create(api.rt("", "v1", "services"), "default", {"metadata": {"name": "lb"}, "spec": {
        "type": "LoadBalancer", "ports": [{"port": 80}]}})
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True


def test_apply_yaml_reads_booleans_as_go_yaml_does(sandbox: Sandbox) -> None:
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yb\ndata:\n  y: '1'\n  name: 'n'\n"
    code, _, doc = raw(sandbox.url, "PATCH", f"{NS}/configmaps/yb?fieldManager=a", body,
                       {"Content-Type": "application/apply-patch+yaml"})
    assert code == 201 and doc["data"] == {"true": "1", "name": "n"}  # an unquoted y is YAML 1.1's true
