"""fieldValidation: unknown fields in built-in kinds are refused (Strict) or dropped (Warn/Ignore)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from kubernetes import client

from kubesandbox import Sandbox

from .helpers import raw
from .test_helm import make_chart
from .test_kubectl import kubectl

TYPO = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: typo}
data: {a: "1"}
dataa: {b: "2"}
"""


def test_kubectl_strict_validation_refuses_typos(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(TYPO)
    r = kubectl(kubeconfig, "apply", "-f", str(path))
    assert r.returncode != 0
    assert 'strict decoding error: unknown field "dataa"' in r.stderr
    assert sandbox.store.get("", "v1", "configmaps", "default", "typo") is None
    r = kubectl(kubeconfig, "apply", "--validate=false", "-f", str(path))
    assert r.returncode == 0, r.stderr
    stored = sandbox.store.get("", "v1", "configmaps", "default", "typo")
    assert stored is not None and "dataa" not in stored and stored["data"] == {"a": "1"}


def test_warn_drops_unknown_fields_with_a_warning_header(sandbox: Sandbox, api_client: Any) -> None:
    code, hdrs, body = raw(sandbox.url, "POST", "/apis/apps/v1/namespaces/default/deployments",
                           '{"metadata": {"name": "w"}, "spec": {"replica": 3, "selector": {"matchLabels": '
                           '{"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": '
                           '[{"name": "c", "image": "x", "imagee": "y"}]}}}}',
                           {"Content-Type": "application/json"})
    assert code == 201
    assert '299 - "unknown field \\"spec.replica\\""' in hdrs["warning"]
    assert 'unknown field \\"spec.template.spec.containers[0].imagee\\"' in hdrs["warning"]
    dep = client.AppsV1Api(api_client).read_namespaced_deployment("w", "default")
    assert dep.spec.replicas == 1  # the typo was dropped, the default applies
    code, _, body = raw(sandbox.url, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Bogus",
                        '{"metadata": {"name": "x"}}', {"Content-Type": "application/json"})
    assert code == 422 and body["reason"] == "Invalid" and "fieldValidation" in body["message"]


def test_helm_install_of_a_chart_with_a_typo_fails(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    chart = make_chart(tmp_path, extra={"templates/typo.yaml": TYPO})
    with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as cfg, \
            pytest.raises(helm.HelmError, match="unknown field"):
        cfg.install(str(chart), "typo", {"replicas": 1})


def test_custom_resources_are_not_checked(sandbox: Sandbox, api_client: Any) -> None:
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition({
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "things", "kind": "Thing"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]}})
    obj = client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "example.com", "v1", "default", "things",
        {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "anything": {"goes": 1}})
    assert obj["anything"] == {"goes": 1}


def test_values_of_the_wrong_type_are_refused(sandbox: Sandbox, api_client: Any, kubeconfig: Path,
                                              tmp_path: Path) -> None:
    # (the official client's models refuse this before sending; other clients do send it)
    code, _, body = raw(sandbox.url, "POST", "/api/v1/namespaces/default/configmaps",
                        '{"metadata": {"name": "n"}, "data": {"port": 8080}}', {"Content-Type": "application/json"})
    assert code == 400 and "data[port]: expected string, got number" in body["message"]
    # quantities may be numbers; quoted numbers where an int is expected may not (a classic chart slip)
    code, _, body = raw(sandbox.url, "POST", "/api/v1/namespaces/default/pods", (
        '{"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", '
        '"resources": {"limits": {"cpu": 1, "memory": "64Mi"}}, "ports": [{"containerPort": 80}]}]}}'),
        {"Content-Type": "application/json"})
    assert code == 201, body
    chart = make_chart(tmp_path, extra={"templates/pod.yaml": """\
        apiVersion: v1
        kind: Pod
        metadata: {name: quoted}
        spec:
          containers: [{name: c, image: x, ports: [{containerPort: "8080"}]}]
        """})
    with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as cfg, \
            pytest.raises(helm.HelmError, match="containerPort"):
        cfg.install(str(chart), "quoted", {"replicas": 1})
