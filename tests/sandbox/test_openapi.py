"""/openapi/v3: the index, built-in documents (kube-apiserver v1.36.3's own), CRD documents; kubectl uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from kubesandbox import Sandbox, openapi

from .helpers import raw
from .test_crd_schema import CRD
from .test_kubectl import kubectl


def test_index_lists_every_served_group_version_with_a_hash(sandbox: Sandbox) -> None:
    code, _, idx = raw(sandbox.url, "GET", "/openapi/v3")
    assert code == 200
    paths = idx["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/rbac.authorization.k8s.io/v1"} <= set(paths)
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    code, hdrs, doc = raw(sandbox.url, "GET", url, headers={"Accept": "application/json"})
    assert code == 200 and hdrs["content-type"].startswith("application/json")
    assert doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    code, _, _ = raw(sandbox.url, "GET", "/openapi/v3/apis/apps/v1",
                     headers={"Accept": "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"})
    assert code == 406
    assert raw(sandbox.url, "GET", "/openapi/v3/apis/nope/v1")[0] == 404


def test_crd_documents_follow_their_crd(sandbox: Sandbox, api_client: Any) -> None:
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
    _, _, idx = raw(sandbox.url, "GET", "/openapi/v3")
    url = idx["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    _, _, doc = raw(sandbox.url, "GET", url)
    widget = doc["components"]["schemas"]["com.example.v1.Widget"]
    assert widget["properties"]["spec"]["required"] == ["host"]
    assert widget["properties"]["metadata"]["allOf"][0]["$ref"].endswith("ObjectMeta")
    patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition("widgets.example.com")
    body = api_client.sanitize_for_serialization(crd)
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["color"] = {
        "type": "string"}
    client.ApiextensionsV1Api(api_client).replace_custom_resource_definition("widgets.example.com", body)
    _, _, idx2 = raw(sandbox.url, "GET", "/openapi/v3")
    url2 = idx2["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    assert url2 != url  # a new hash for a new schema
    _, _, doc2 = raw(sandbox.url, "GET", url2)
    assert "color" in doc2["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]["properties"]


def test_kubectl_explain_built_in_and_custom_kinds(sandbox: Sandbox, api_client: Any, kubeconfig: Path) -> None:
    r = kubectl(kubeconfig, "explain", "deployment.spec.strategy.rollingUpdate.maxSurge")
    assert r.returncode == 0, r.stderr
    assert "FIELD: maxSurge <IntOrString>" in r.stdout and "The maximum number of pods" in r.stdout
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
    r = kubectl(kubeconfig, "explain", "widgets.spec")
    assert r.returncode == 0, r.stderr
    assert "host\t<string> -required-" in r.stdout and "replicas\t<integer>" in r.stdout


def test_vendored_documents_are_kube_apiserver_1_36() -> None:
    docs = openapi.builtin_docs()
    assert set(docs) >= {"api/v1", "apis/apps/v1", "apis/storage.k8s.io/v1"}
    assert "io.k8s.api.core.v1.PodSpec" in docs["api/v1"]["components"]["schemas"]
