"""422 Invalid as users meet it: the official client, kubectl and a Helm upgrade against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesandbox import Sandbox

from .test_helm import make_chart
from .test_kubectl import kubectl

STS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: "{{ .Release.Name }}-db"}
spec:
  serviceName: "{{ .Release.Name }}-db"
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:16"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: {{ .Values.size | default "8Gi" }}}}
"""


def test_official_client_gets_the_invalid_status(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "other"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1",
                                                           "ports": [{"containerPort": 70000}]}]}}}}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", body)
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Deployment" and status["details"]["group"] == "apps"
    assert [c["field"] for c in status["details"]["causes"]] == [
        "spec.template.metadata.labels", "spec.template.spec.containers[0].ports[0].containerPort",
        "spec.strategy.rollingUpdate.maxUnavailable"]
    assert status["message"].startswith('Deployment.apps "web" is invalid: [spec.template.metadata.labels: ')
    body["spec"]["template"]["metadata"]["labels"] = {"app": "web"}
    body["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    apps.create_namespaced_deployment("default", body)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", "default", {"spec": {
            "selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}})
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == (
        'Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"x"}}: '
        "field is immutable")


def test_immutable_secret_and_shrunk_pvc(api_client: Any, sandbox: Sandbox) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}, "immutable": True,
                                              "stringData": {"k": "v"}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_secret("s", "default", {"stringData": {"k": "w"}})
    assert err.value.status == 422
    assert json.loads(err.value.body)["details"]["causes"] == [
        {"reason": "FieldValueForbidden", "message": "Forbidden: field is immutable when `immutable` is set",
         "field": "data"}]
    core.patch_namespaced_secret("s", "default", {"metadata": {"labels": {"ok": "yes"}}})  # metadata may change


def test_kubectl_shows_the_invalid_message(kubeconfig: Path, tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    name = "s" * 64
    path.write_text(f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{port: 80}}]}}\n")
    r = kubectl(kubeconfig, "apply", "-f", str(path))
    assert r.returncode != 0
    assert f'The Service "{name}" is invalid: metadata.name: Invalid value: "{name}": must be no more than 63 ' \
           "characters" in r.stderr
    role = tmp_path / "role.yaml"
    role.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n"
                    "rules: [{apiGroups: [''], resources: [pods]}]\n")
    r = kubectl(kubeconfig, "apply", "-f", str(role))
    assert r.returncode != 0
    assert "rules[0].verbs: Required value: verbs must contain at least one value" in r.stderr


def test_helm_upgrade_changing_volume_claim_templates_fails(kubeconfig: Path, sandbox: Sandbox,
                                                            tmp_path: Path) -> None:
    chart = make_chart(tmp_path, extra={"templates/sts.yaml": STS})
    with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as cfg:
        cfg.install(str(chart), "pg", {"replicas": 1})
        with pytest.raises(helm.HelmError, match="updates to statefulset spec for fields other than"):
            cfg.upgrade(str(chart), "pg", {"replicas": 1, "size": "20Gi"})
        cfg.upgrade(str(chart), "pg", {"replicas": 2})  # replicas and templates may change
    sts = sandbox.store.get("apps", "v1", "statefulsets", "default", "pg-db")
    assert sts is not None
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"


def test_job_selector_is_generated_and_its_template_immutable(api_client: Any) -> None:
    batch = client.BatchV1Api(api_client)
    job = batch.create_namespaced_job("default", {
        "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "app:1"}]}}}})
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels["batch.kubernetes.io/job-name"] == "migrate"
    with pytest.raises(ApiException) as err:
        batch.patch_namespaced_job("migrate", "default", {"spec": {"template": {"spec": {"containers": [
            {"name": "m", "image": "app:2"}]}}}})
    assert err.value.status == 422
    status = json.loads(err.value.body)
    assert [(c["reason"], c["field"]) for c in status["details"]["causes"]] == [("FieldValueInvalid", "spec.template")]
    assert status["message"].startswith('Job.batch "migrate" is invalid: spec.template: Invalid value: ')
    assert status["message"].endswith(": field is immutable")
