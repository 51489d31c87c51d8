"""Simulated controllers: workloads reach their ready states, services get addresses, endpoints follow pods."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from kubesandbox import Sandbox

from .helpers import wait_for


def template(app: str, restart: str = "Always", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app": app}}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta,
            "spec": {"restartPolicy": restart,
                     "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 8080,
                                                                                  "name": "http"}]}]}}


def test_deployment_rollout_replaces_replicaset(api_client: Any, sandbox: Sandbox) -> None:
    apps = client.AppsV1Api(api_client)
    body = {"metadata": {"name": "d"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"}},
                                                "template": template("d")}}
    apps.create_namespaced_deployment("default", body)

    def done() -> Any:
        d = apps.read_namespaced_deployment("d", "default")
        st = d.status
        ok = (st.observed_generation == d.metadata.generation and st.updated_replicas == 3
              and st.ready_replicas == 3 and st.available_replicas == 3 and st.replicas == 3)
        return d if ok else None

    d = wait_for(done, what="deployment available")
    conds = {c.type: (c.status, c.reason) for c in d.status.conditions}
    assert conds == {"Available": ("True", "MinimumReplicasAvailable"),
                     "Progressing": ("True", "NewReplicaSetAvailable")}
    first_rs = {r.metadata.name for r in apps.list_namespaced_replica_set("default").items}
    apps.patch_namespaced_deployment("d", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "busybox:2"}]}}}})
    d = wait_for(done, what="rollout of the new template")
    rss = apps.list_namespaced_replica_set("default").items
    assert len(rss) == 2
    new_rs = next(r for r in rss if r.metadata.name not in first_rs)
    old_rs = next(r for r in rss if r.metadata.name in first_rs)
    assert new_rs.spec.replicas == 3 and old_rs.spec.replicas == 0
    assert new_rs.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert new_rs.metadata.owner_references[0].uid == d.metadata.uid
    pods = client.CoreV1Api(api_client).list_namespaced_pod("default", label_selector="app=d").items
    wait_for(lambda: len(client.CoreV1Api(api_client).list_namespaced_pod(
        "default", label_selector="app=d").items) == 3, what="old pods gone")
    pods = client.CoreV1Api(api_client).list_namespaced_pod("default", label_selector="app=d").items
    assert {p.spec.containers[0].image for p in pods} == {"busybox:2"}
    assert all(p.metadata.labels["pod-template-hash"] in new_rs.metadata.name for p in pods)


def test_statefulset_ordered_pods_and_pvcs(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    v1 = client.CoreV1Api(api_client)
    apps.create_namespaced_stateful_set("default", {
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": template("db"),
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "1Gi"}}}}]}})
    sts = wait_for(lambda: (s := apps.read_namespaced_stateful_set("db", "default")).status.ready_replicas == 2
                   and s, what="statefulset ready")
    assert sts.status.current_revision == sts.status.update_revision
    assert sorted(p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=db").items) == [
        "db-0", "db-1"]
    pvcs = v1.list_namespaced_persistent_volume_claim("default").items
    assert sorted(p.metadata.name for p in pvcs) == ["data-db-0", "data-db-1"]
    assert {p.status.phase for p in pvcs} == {"Bound"}


def test_daemonset_runs_on_the_sandbox_node(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    v1 = client.CoreV1Api(api_client)
    assert [n.metadata.name for n in v1.list_node().items] == ["sandbox-node"]
    apps.create_namespaced_daemon_set("default", {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})
    ds = wait_for(lambda: (d := apps.read_namespaced_daemon_set("agent", "default")).status.number_ready == 1
                  and d, what="daemonset ready")
    assert ds.status.desired_number_scheduled == 1 and ds.status.updated_number_scheduled == 1
    pods = v1.list_namespaced_pod("default", label_selector="app=agent").items
    assert len(pods) == 1 and pods[0].spec.node_name == "sandbox-node"


def test_job_completes_and_failing_job_fails(api_client: Any, sandbox: Sandbox) -> None:
    batch = client.BatchV1Api(api_client)
    batch.create_namespaced_job("default", {"metadata": {"name": "ok"},
                                            "spec": {"template": template("ok", "Never")}})
    batch.create_namespaced_job("default", {"metadata": {"name": "bad"},
                                            "spec": {"backoffLimit": 1, "template": template(
                                                "bad", "Never", {"sandbox.prjdevops.io/fail": "true"})}})

    def cond(name: str, ctype: str) -> bool:
        j = batch.read_namespaced_job(name, "default")
        return any(c.type == ctype and c.status == "True" for c in j.status.conditions or [])

    wait_for(lambda: cond("ok", "Complete"), what="job complete")
    job = batch.read_namespaced_job("ok", "default")
    assert job.status.succeeded == 1 and job.status.completion_time is not None
    wait_for(lambda: cond("bad", "Failed"), what="job failed")
    assert batch.read_namespaced_job("bad", "default").status.failed == 2


def test_services_get_cluster_ips_and_load_balancer_addresses(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    svc = v1.create_namespaced_service("default", {"metadata": {"name": "a"},
                                                   "spec": {"ports": [{"port": 80}]}})
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.cluster_ip != "10.96.0.1"
    lb = v1.create_namespaced_service("default", {"metadata": {"name": "lb"},
                                                  "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    assert lb.spec.ports[0].node_port >= 30000
    # no pool and no MetalLB: nothing hands out an address (kubectl shows <pending>)
    sandbox.controllers.kick()
    time.sleep(0.3)
    assert v1.read_namespaced_service("lb", "default").status.load_balancer.ingress is None
    # a MetalLB IPAddressPool (once its CRD exists) takes over address assignment
    ext = client.ApiextensionsV1Api(api_client)
    ext.create_custom_resource_definition({
        "metadata": {"name": "ipaddresspools.metallb.io"},
        "spec": {"group": "metallb.io", "scope": "Namespaced",
                 "names": {"plural": "ipaddresspools", "kind": "IPAddressPool", "singular": "ipaddresspool"},
                 "versions": [{"name": "v1beta1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]}})
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "metallb.io", "v1beta1", "default", "ipaddresspools",
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "pool"},
         "spec": {"addresses": ["192.0.2.10-192.0.2.12"]}})
    v1.create_namespaced_service("default", {"metadata": {"name": "lb2"},
                                             "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    ips = {wait_for(lambda n=n: (v1.read_namespaced_service(n, "default").status.load_balancer.ingress
                                 or [None])[0], what="LB ip from pool").ip for n in ("lb", "lb2")}
    assert ips == {"192.0.2.10", "192.0.2.11"}


def test_sandbox_lb_pool_setting_hands_out_addresses() -> None:
    with Sandbox(port=0, lb_pool="203.0.113.0/30") as sb:
        api = sb.api
        rt = api.rt("", "v1", "services")
        api.create(rt, "default", {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer",
                                                                        "ports": [{"port": 80}]}})
        got = wait_for(lambda: ((sb.store.get("", "v1", "services", "default", "lb") or {}).get("status") or {})
                       .get("loadBalancer", {}).get("ingress"), what="LB ip from lb_pool")
        assert got == [{"ip": "203.0.113.1", "ipMode": "VIP"}]


def test_endpoints_follow_ready_pods(api_client: Any, sandbox: Sandbox) -> None:
    from kubesandbox import Fault

    v1 = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    v1.create_namespaced_service("default", {"metadata": {"name": "web"},
                                             "spec": {"selector": {"app": "web"},
                                                      "ports": [{"port": 80, "targetPort": "http"}]}})
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template("web")}})

    def ready_ips() -> list[str]:
        try:
            ep = v1.read_namespaced_endpoints("web", "default")
        except client.ApiException:
            return []
        return sorted(a.ip for s in ep.subsets or [] for a in s.addresses or [])

    ips = wait_for(lambda: len(ready_ips()) == 2 and ready_ips(), what="two endpoints")
    ep = v1.read_namespaced_endpoints("web", "default")
    assert ep.subsets[0].ports[0].port == 8080  # the named targetPort resolved
    slices = client.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web").items
    assert len(slices) == 1
    assert sorted(e.addresses[0] for e in slices[0].endpoints if e.conditions.ready) == ips
    # pods that stop being ready move to notReadyAddresses
    sandbox.faults.add(Fault(kind="never_ready", namespace="default", label_selector="app=web"))
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"metadata": {
        "annotations": {"restart": "1"}}}}})
    wait_for(lambda: any(s.not_ready_addresses for s in v1.read_namespaced_endpoints("web", "default").subsets
                         or []), what="not-ready addresses")


def test_controllers_can_be_switched_off(api_client: Any, sandbox: Sandbox) -> None:
    sandbox.controllers.disable("replicaset")
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "idle"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "idle"}}, "template": template("idle")}})
    wait_for(lambda: apps.list_namespaced_replica_set("default").items, what="replicaset")
    sandbox.controllers.kick()
    assert client.CoreV1Api(api_client).list_namespaced_pod("default").items == []
    sandbox.controllers.enable("replicaset")
    wait_for(lambda: client.CoreV1Api(api_client).list_namespaced_pod("default").items, what="pods after enable")
    assert sandbox.controllers.state()["replicaset"] is True


def test_one_malformed_object_does_not_stall_a_controller(api_client: Any, sandbox: Sandbox) -> None:
    # written through the internal API (no validation), as a bad state file could hold it
    bad = {"metadata": {"name": "bad"}, "spec": {"replicas": "many", "selector": {"matchLabels": {"app": "bad"}},
                                                 "template": template("bad")}}
    sandbox.api.create(sandbox.api.rt("apps", "v1", "deployments"), "default", bad)
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "good"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "good"}}, "template": template("good")}})
    wait_for(lambda: apps.read_namespaced_deployment("good", "default").status.ready_replicas == 1,
             what="the good deployment still rolls out")
