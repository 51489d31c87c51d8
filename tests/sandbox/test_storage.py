"""PersistentVolumeClaims bind only when a StorageClass applies; pods on unbound claims stay unschedulable."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from kubesandbox import Sandbox

from .helpers import wait_for

PVC = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                              "resources": {"requests": {"storage": "1Gi"}}}}


def _phase(core: client.CoreV1Api, name: str) -> str:
    return str(core.read_namespaced_persistent_volume_claim(name, "default").status.phase)


def test_default_standard_class_binds_claims(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    classes = client.StorageV1Api(api_client).list_storage_class().items
    assert [(c.metadata.name, c.metadata.annotations) for c in classes] == [
        ("standard", {"storageclass.kubernetes.io/is-default-class": "true"})]
    pvc = core.create_namespaced_persistent_volume_claim("default", PVC)
    assert pvc.spec.storage_class_name == "standard" and pvc.status.phase == "Pending"
    wait_for(lambda: _phase(core, "data") == "Bound", what="claim bound")
    bound = core.read_namespaced_persistent_volume_claim("data", "default")
    assert bound.status.capacity == {"storage": "1Gi"} and bound.spec.volume_name.startswith("pvc-")


def test_without_a_class_claims_stay_pending_and_pods_unschedulable(api_client: Any, sandbox: Sandbox) -> None:
    core = client.CoreV1Api(api_client)
    client.StorageV1Api(api_client).delete_storage_class("standard")
    core.create_namespaced_persistent_volume_claim("default", PVC)
    fast = {**PVC, "metadata": {"name": "fast"}, "spec": {**PVC["spec"], "storageClassName": "fast"}}
    core.create_namespaced_persistent_volume_claim("default", fast)
    client.AppsV1Api(api_client).create_namespaced_stateful_set("default", {
        "metadata": {"name": "db"}, "spec": {
            "serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                         "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "pg"}, "spec": PVC["spec"]}]}})

    def scheduled_condition() -> Any:
        pod = sandbox.store.get("", "v1", "pods", "default", "db-0")
        conds = ((pod or {}).get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "PodScheduled"), None)

    cond = wait_for(scheduled_condition, what="db-0 scheduling verdict")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert "pod has unbound immediate PersistentVolumeClaims" in cond["message"]
    time.sleep(0.3)
    assert _phase(core, "data") == "Pending" and _phase(core, "fast") == "Pending"
    assert _phase(core, "pg-db-0") == "Pending"
    assert core.read_namespaced_pod("db-0", "default").status.phase == "Pending"
    events = {(e.reason, e.message) for e in core.list_namespaced_event("default").items}
    assert ("FailedBinding", "no persistent volumes available for this claim and no storage class is set") in events
    assert ("ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found') in events
    # a default class created later is assigned retroactively; a named class binds its claims
    client.StorageV1Api(api_client).create_storage_class({
        "metadata": {"name": "fast", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/fast"})
    for name in ("data", "fast", "pg-db-0"):
        wait_for(lambda n=name: _phase(core, n) == "Bound", what=f"{name} bound")
    assert core.read_namespaced_persistent_volume_claim("data", "default").spec.storage_class_name == "fast"
    wait_for(lambda: core.read_namespaced_pod("db-0", "default").status.phase == "Running", what="db-0 running")
    pod = core.read_namespaced_pod("db-0", "default")
    assert [v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim] == [
        "pg-db-0"]


def test_deleted_default_class_stays_deleted_across_restarts(tmp_path: Any) -> None:
    state = tmp_path / "state.json"
    with Sandbox(port=0, state_file=state) as sb:
        rt = sb.api.rt("storage.k8s.io", "v1", "storageclasses")
        sb.api.delete(rt, "", "standard")
    with Sandbox(port=0, state_file=state) as sb:
        assert sb.store.get("storage.k8s.io", "v1", "storageclasses", "", "standard") is None
