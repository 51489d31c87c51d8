"""Admission webhooks: matching rules and selectors, and an unreachable webhook failing requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesandbox import Sandbox, admission

from .helpers import wait_for
from .test_kubectl import kubectl

REQ = admission.Request("CREATE", "apps", "v1", "deployments", "", "team", {"app": "web"})


def hook(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "check.example.com",
        "clientConfig": {"service": {"namespace": "hooks", "name": "hook", "path": "/validate"}},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                   "resources": ["deployments"]}]}
    base.update(over)
    return base


def rules(**over: Any) -> list[dict[str, Any]]:
    return [{**hook()["rules"][0], **over}]


@pytest.mark.parametrize(("webhook", "req", "matches"), [
    (hook(), REQ, True),
    (hook(rules=rules(operations=["UPDATE"])), REQ, False),
    (hook(rules=rules(operations=["*"])), REQ, True),
    (hook(rules=rules(apiGroups=[""])), REQ, False),
    (hook(rules=rules(apiGroups=["*"], apiVersions=["*"], resources=["*"])), REQ, True),
    (hook(rules=rules(apiVersions=["v1beta1"])), REQ, False),
    (hook(rules=rules(resources=["deployments/status"])), REQ, False),
    (hook(rules=rules(resources=["deployments/*"])),
     admission.Request("UPDATE", "apps", "v1", "deployments", "scale", "team", {}), True),
    (hook(rules=rules(resources=["*"])),
     admission.Request("UPDATE", "apps", "v1", "deployments", "status", "team", {}), False),
    (hook(rules=rules(resources=["*/*"])),
     admission.Request("UPDATE", "apps", "v1", "deployments", "status", "team", {}), True),
    (hook(rules=rules(scope="Cluster")), REQ, False),
    (hook(namespaceSelector={"matchLabels": {"env": "prod"}}), REQ, True),  # the namespace has env=prod
    (hook(namespaceSelector={"matchLabels": {"env": "dev"}}), REQ, False),
    (hook(namespaceSelector={"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}),
     REQ, True),
    (hook(objectSelector={"matchLabels": {"app": "web"}}), REQ, True),
    (hook(objectSelector={"matchLabels": {"app": "db"}}), REQ, False),
])
def test_webhook_matching(webhook: dict[str, Any], req: admission.Request, matches: bool) -> None:
    assert admission.webhook_matches(webhook, req, True, {"env": "prod"}) is matches


@pytest.mark.parametrize(("state", "policy", "expected"), [
    ("ready", "Fail", None),
    ("no-endpoints", "Ignore", None),
    ("no-endpoints", "Fail", 'failed calling webhook "check.example.com": failed to call webhook: Post '
                             '"https://hook.hooks.svc:443/validate?timeout=10s": no endpoints available for service '
                             '"hook"'),
    ("not-found", None, 'failed calling webhook "check.example.com": failed to call webhook: Post '
                        '"https://hook.hooks.svc:443/validate?timeout=10s": service "hook" not found'),
])
def test_unreachable_webhook_fails_under_fail_policy(state: str, policy: str | None, expected: str | None) -> None:
    webhook = hook(failurePolicy=policy) if policy else hook()
    assert admission.failures([{"webhooks": [webhook]}], REQ, True, {}, lambda ns, name: state) == expected


def test_webhook_configurations_themselves_are_exempt() -> None:
    req = admission.Request("CREATE", "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "",
                            "", {})
    webhook = hook(rules=rules(apiGroups=["*"], resources=["*"]))
    assert admission.failures([{"webhooks": [webhook]}], req, False, None, lambda ns, name: "not-found") is None


def _config(policy: str) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "cm-check"},
            "webhooks": [{"name": "cm.check.io", "failurePolicy": policy, "sideEffects": "None",
                          "admissionReviewVersions": ["v1"],
                          "clientConfig": {"service": {"namespace": "default", "name": "hook", "path": "/v"}},
                          "objectSelector": {"matchLabels": {"checked": "yes"}},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                     "resources": ["configmaps"]}]}]}


def test_requests_fail_until_the_webhook_service_is_ready(api_client: Any, sandbox: Sandbox, kubeconfig: Path,
                                                          tmp_path: Path) -> None:
    core = client.CoreV1Api(api_client)
    adm = client.AdmissionregistrationV1Api(api_client)
    adm.create_validating_webhook_configuration(_config("Fail"))
    cm = {"metadata": {"name": "c1", "labels": {"checked": "yes"}}, "data": {"a": "b"}}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm)
    assert err.value.status == 500
    status = json.loads(err.value.body)
    assert status["reason"] == "InternalError"
    assert status["message"] == ('Internal error occurred: failed calling webhook "cm.check.io": failed to call '
                                 'webhook: Post "https://hook.default.svc:443/v?timeout=10s": service "hook" not found')
    core.create_namespaced_config_map("default", {"metadata": {"name": "c0"}})  # objectSelector does not match
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2, labels: {checked: 'yes'}}\n")
    r = kubectl(kubeconfig, "apply", "-f", str(path))
    assert r.returncode != 0 and "Error from server (InternalError)" in r.stderr
    assert 'failed calling webhook "cm.check.io"' in r.stderr
    core.create_namespaced_service("default", {"metadata": {"name": "hook"}, "spec": {
        "selector": {"app": "hook"}, "ports": [{"port": 443, "targetPort": 9443}]}})
    with pytest.raises(ApiException, match="no endpoints available"):
        core.create_namespaced_config_map("default", cm)
    client.AppsV1Api(api_client).create_namespaced_deployment("default", {
        "metadata": {"name": "hook"}, "spec": {"selector": {"matchLabels": {"app": "hook"}}, "template": {
            "metadata": {"labels": {"app": "hook"}}, "spec": {"containers": [{"name": "h", "image": "hook:1"}]}}}})

    def admitted() -> bool:
        try:
            core.create_namespaced_config_map("default", cm)
        except ApiException as e:
            assert e.status == 500
            return False
        return True

    wait_for(admitted, timeout=10, what="the webhook's endpoints to be ready")
    adm.patch_validating_webhook_configuration("cm-check", {"webhooks": [{"name": "cm.check.io",
                                                                          "failurePolicy": "Ignore"}]})
    core.delete_namespaced_service("hook", "default")
    core.create_namespaced_config_map("default", {**cm, "metadata": {"name": "c3", "labels": {"checked": "yes"}}})
