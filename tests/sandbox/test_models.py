"""Everything the sandbox serves parses with the official client's (strict) models."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import helm_python as helm
from kubernetes import client

from kubesandbox import Fault, Sandbox

from .helpers import wait_for
from .test_helm import make_chart

APIS = [client.CoreV1Api, client.AppsV1Api, client.BatchV1Api, client.NetworkingV1Api, client.PolicyV1Api,
        client.AutoscalingV2Api, client.RbacAuthorizationV1Api, client.CoordinationV1Api,
        client.ApiextensionsV1Api, client.DiscoveryV1Api, client.EventsV1Api, client.StorageV1Api]
NOT_SERVED = {"list_component_status", "list_ip_address", "list_service_cidr", "list_volume_attributes_class"}


def test_every_list_parses_with_the_official_models(api_client: Any, sandbox: Sandbox, kubeconfig: Path,
                                                    tmp_path: Path) -> None:
    sandbox.faults.add(Fault(kind="crash_loop", name_prefix="demo-web"))
    with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as cfg:
        cfg.install(str(make_chart(tmp_path)), "demo", {"serviceType": "LoadBalancer"})
    v1 = client.CoreV1Api(api_client)
    client.BatchV1Api(api_client).create_namespaced_job("default", {"metadata": {"name": "j"}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}})
    wait_for(lambda: v1.list_namespaced_event("default", field_selector="reason=BackOff").items, what="events")
    wait_for(lambda: client.BatchV1Api(api_client).read_namespaced_job("j", "default").status.succeeded,
             what="job done")
    called = 0
    for cls in APIS:
        api = cls(api_client)
        for name in dir(api):
            if not name.startswith("list_") or name.endswith(("_with_http_info", "_without_preload_content")):
                continue
            if name in NOT_SERVED:
                continue
            required = [p for p in inspect.signature(getattr(api, name)).parameters.values()
                        if p.default is inspect.Parameter.empty]
            if required and [p.name for p in required] != ["namespace"]:
                continue
            result = getattr(api, name)(*(["default"] * len(required)))
            assert result.items is not None, name
            called += 1
    assert called > 60
    pods = v1.list_namespaced_pod("default").items
    assert pods and all(p.status.container_statuses for p in pods)
