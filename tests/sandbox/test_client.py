"""The official kubernetes client against the sandbox: CRUD, selectors, patches, subresources, errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesandbox import Sandbox

from .helpers import wait_for

APPLY = "application/apply-patch+yaml"


def cm(name: str, labels: dict[str, str] | None = None, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data or {"k": "v"}}


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def test_discovery(api_client: Any) -> None:
    versions = client.CoreApi(api_client).get_api_versions()
    assert versions.versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api_client).get_api_versions().groups}
    for name in ("apps", "batch", "networking.k8s.io", "policy", "autoscaling", "rbac.authorization.k8s.io",
                 "coordination.k8s.io", "apiextensions.k8s.io", "discovery.k8s.io", "events.k8s.io"):
        assert name in groups, name
    assert groups["autoscaling"].preferred_version.version == "v2"
    apps = {r.name: r for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert apps["deployments"].namespaced is True
    assert apps["deployments"].short_names == ["deploy"]
    assert "watch" in apps["deployments"].verbs
    assert "deployments/scale" in apps
    core = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert core["namespaces"].namespaced is False
    assert core["pods"].short_names == ["po"]
    assert core["services"].short_names == ["svc"]
    leases = {r.name: r for r in client.CoordinationV1Api(api_client).get_api_resources().resources}
    assert leases["leases"].kind == "Lease"
    assert client.VersionApi(api_client).get_code().git_version.startswith("v1.")


def test_create_get_list_selectors(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    created = v1.create_namespaced_config_map("default", cm("a", {"tier": "web", "env": "stg"}))
    v1.create_namespaced_config_map("default", cm("b", {"tier": "db"}))
    v1.create_namespaced_config_map("default", cm("c"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    got = v1.read_namespaced_config_map("a", "default")
    assert got.data == {"k": "v"} and got.metadata.uid == created.metadata.uid

    def names(**kw: Any) -> list[str]:
        return [i.metadata.name for i in v1.list_namespaced_config_map("default", **kw).items]

    assert names(label_selector="tier=web") == ["a"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(label_selector="!tier") == ["c"]
    assert names(label_selector="tier in (web,db),env!=prod") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    everywhere = v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=default")
    assert {i.metadata.name for i in everywhere.items} == {"a", "b", "c"}
    assert v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=kube-system").items == []
    page = v1.list_namespaced_config_map("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = v1.list_namespaced_config_map("default", limit=2, _continue=page.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["c"]


def test_resource_version_is_global_and_increasing(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    a = v1.create_namespaced_config_map("default", cm("a"))
    b = v1.create_namespaced_config_map("default", cm("b"))
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    listed = v1.list_namespaced_config_map("default")
    assert int(listed.metadata.resource_version) >= int(b.metadata.resource_version)


def test_errors_already_exists_not_found_conflict(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    first = v1.create_namespaced_config_map("default", cm("x"))
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("default", cm("x"))
    assert e.value.status == 409 and '"reason":"AlreadyExists"' in e.value.body.replace(" ", "")
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_config_map("nope", "default")
    assert e.value.status == 404 and 'configmaps \\"nope\\" not found' in e.value.body
    fresh = v1.replace_namespaced_config_map("x", "default", cm("x", data={"k": "2"}) | {
        "metadata": {"name": "x", "resourceVersion": first.metadata.resource_version}})
    assert fresh.data == {"k": "2"}
    stale = cm("x", data={"k": "3"})
    stale["metadata"]["resourceVersion"] = first.metadata.resource_version
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("x", "default", stale)
    assert e.value.status == 409 and "the object has been modified" in e.value.body
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("no-such-ns", cm("y"))
    assert e.value.status == 404 and 'namespaces \\"no-such-ns\\" not found' in e.value.body
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("ghost", "default", cm("ghost"))
    assert e.value.status == 404


def test_secret_string_data_becomes_base64_data(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_secret("default", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                            "stringData": {"password": "hunter2"}})
    s = v1.read_namespaced_secret("s", "default")
    assert s.type == "Opaque"
    assert s.string_data is None
    assert base64.b64decode(s.data["password"]) == b"hunter2"


def test_patches_merge_strategic_json(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    d = deployment("p")
    d["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    apps.create_namespaced_deployment("default", d)
    # strategic merge: the containers list merges by name, so "side" survives
    apps.patch_namespaced_deployment("p", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.28"}]}}}})
    got = apps.read_namespaced_deployment("p", "default")
    images = {c.name: c.image for c in got.spec.template.spec.containers}
    assert images == {"main": "nginx:1.28", "side": "busybox"}
    assert got.metadata.generation == 2
    # JSON merge patch replaces lists wholesale
    apps.patch_namespaced_deployment("p", "default", {"metadata": {"labels": {"merged": "yes"}}, "spec": {
        "template": {"spec": {"containers": [{"name": "only", "image": "nginx"}]}}}},
        _content_type="application/merge-patch+json")
    got = apps.read_namespaced_deployment("p", "default")
    assert got.metadata.labels["merged"] == "yes"
    assert [c.name for c in got.spec.template.spec.containers] == ["only"]
    # JSON patch
    apps.patch_namespaced_deployment("p", "default", [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    assert apps.read_namespaced_deployment("p", "default").spec.replicas == 3
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_deployment("p", "default", [{"op": "remove", "path": "/spec/nothere"}])
    assert e.value.status == 422


def test_server_side_apply_creates_then_updates_and_prunes(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"a": "1", "b": "2"}},
            "data": {"x": "1", "y": "2"}}
    created = v1.patch_namespaced_config_map("ssa", "default", body, field_manager="tests", _content_type=APPLY)
    assert created.data == {"x": "1", "y": "2"}
    body2 = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"a": "1"}},
             "data": {"x": "9"}}
    updated = v1.patch_namespaced_config_map("ssa", "default", body2, field_manager="tests",
                                             force=True, _content_type=APPLY)
    assert updated.data == {"x": "9"}
    assert updated.metadata.labels == {"a": "1"}
    assert updated.metadata.uid == created.metadata.uid
    # an identical apply is a no-op: the resourceVersion does not move
    again = v1.patch_namespaced_config_map("ssa", "default", body2, field_manager="tests",
                                             force=True, _content_type=APPLY)
    assert again.metadata.resource_version == updated.metadata.resource_version


def test_status_and_scale_subresources(api_client: Any, sandbox: Sandbox) -> None:
    sandbox.controllers.disable("deployment")
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment("s"))
    # a write to the main resource cannot set status...
    body = apps.read_namespaced_deployment("s", "default").to_dict()
    apps.patch_namespaced_deployment("s", "default", {"status": {"replicas": 7}})
    assert (apps.read_namespaced_deployment("s", "default").status.replicas or 0) == 0
    # ...the status subresource can, and leaves spec alone
    apps.patch_namespaced_deployment_status("s", "default", {"status": {"replicas": 7},
                                                             "spec": {"replicas": 9}})
    got = apps.read_namespaced_deployment("s", "default")
    assert got.status.replicas == 7 and got.spec.replicas == 1
    assert body["metadata"]["generation"] == got.metadata.generation
    scale = apps.read_namespaced_deployment_scale("s", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=s"
    apps.patch_namespaced_deployment_scale("s", "default", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("s", "default").spec.replicas == 4
    apps.replace_namespaced_deployment_scale("s", "default", {"metadata": {"name": "s"}, "spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("s", "default").spec.replicas == 2


def test_generation_bumps_only_on_spec_change(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment("g"))
    assert apps.read_namespaced_deployment("g", "default").metadata.generation == 1
    apps.patch_namespaced_deployment("g", "default", {"metadata": {"labels": {"x": "y"}}})
    assert apps.read_namespaced_deployment("g", "default").metadata.generation == 1
    apps.patch_namespaced_deployment("g", "default", {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("g", "default").metadata.generation == 2


def _rs_of(api_client: Any, name: str) -> list[Any]:
    return client.AppsV1Api(api_client).list_namespaced_replica_set("default", label_selector=f"app={name}").items


def test_delete_propagation(api_client: Any, sandbox: Sandbox) -> None:
    apps = client.AppsV1Api(api_client)
    v1 = client.CoreV1Api(api_client)
    for name in ("bg", "fg", "orphan"):
        apps.create_namespaced_deployment("default", deployment(name))
        wait_for(lambda n=name: v1.list_namespaced_pod("default", label_selector=f"app={n}").items,
                 what=f"pods of {name}")
    apps.delete_namespaced_deployment("bg", "default", propagation_policy="Background")
    wait_for(lambda: not _rs_of(api_client, "bg") and not v1.list_namespaced_pod(
        "default", label_selector="app=bg").items, what="background GC")

    apps.delete_namespaced_deployment("fg", "default", propagation_policy="Foreground")
    # foreground: the owner stays (with a deletionTimestamp) until its dependents are gone
    def fg_gone() -> bool:
        try:
            apps.read_namespaced_deployment("fg", "default")
            return False
        except ApiException as e:
            return e.status == 404
    wait_for(fg_gone, what="foreground deletion")
    assert not _rs_of(api_client, "fg")

    apps.delete_namespaced_deployment("orphan", "default", propagation_policy="Orphan")
    rs = _rs_of(api_client, "orphan")
    assert len(rs) == 1 and not rs[0].metadata.owner_references
    sandbox.controllers.kick()
    assert len(_rs_of(api_client, "orphan")) == 1


def test_owner_references_garbage_collection(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    owner = v1.create_namespaced_config_map("default", cm("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    child = cm("child")
    child["metadata"]["ownerReferences"] = [ref]
    v1.create_namespaced_config_map("default", child)
    v1.delete_namespaced_config_map("owner", "default")
    wait_for(lambda: not v1.list_namespaced_config_map("default", field_selector="metadata.name=child").items,
             what="child collected")


def test_namespace_lifecycle_cascades(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    names = {n.metadata.name for n in v1.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    v1.create_namespace({"metadata": {"name": "tmp"}})
    ns = v1.read_namespace("tmp")
    assert ns.status.phase == "Active" and ns.metadata.labels["kubernetes.io/metadata.name"] == "tmp"
    v1.create_namespaced_config_map("tmp", cm("inside"))
    client.AppsV1Api(api_client).create_namespaced_deployment("tmp", deployment("web"))
    v1.delete_namespace("tmp")

    def gone() -> bool:
        try:
            v1.read_namespace("tmp")
            return False
        except ApiException as e:
            return e.status == 404
    wait_for(gone, what="namespace removal")
    assert v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=tmp").items == []
    assert v1.list_pod_for_all_namespaces(field_selector="metadata.namespace=tmp").items == []


def test_terminating_namespace_refuses_new_content(api_client: Any, sandbox: Sandbox) -> None:
    sandbox.controllers.disable("namespace")
    v1 = client.CoreV1Api(api_client)
    v1.create_namespace({"metadata": {"name": "dying"}})
    v1.delete_namespace("dying")
    assert v1.read_namespace("dying").status.phase == "Terminating"
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("dying", cm("late"))
    assert e.value.status == 403 and "being terminated" in e.value.body


def test_field_selector_status_phase(api_client: Any, sandbox: Sandbox) -> None:
    v1 = client.CoreV1Api(api_client)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    v1.create_namespaced_pod("default", pod)
    wait_for(lambda: v1.list_namespaced_pod("default", field_selector="status.phase=Running").items,
             what="running pod")
    assert v1.list_namespaced_pod("default", field_selector="status.phase=Pending").items == []
    assert v1.list_namespaced_pod("default", field_selector="spec.nodeName=sandbox-node").items


def test_lease_crud_with_optimistic_locking(api_client: Any) -> None:
    coord = client.CoordinationV1Api(api_client)
    lease = coord.create_namespaced_lease("default", {"metadata": {"name": "lock"},
                                                      "spec": {"holderIdentity": "me",
                                                               "leaseDurationSeconds": 30}})
    lease.spec.holder_identity = "you"
    coord.replace_namespaced_lease("lock", "default", lease)
    lease.spec.holder_identity = "them"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as e:
        coord.replace_namespaced_lease("lock", "default", lease)
    assert e.value.status == 409
    assert coord.read_namespaced_lease("lock", "default").spec.holder_identity == "you"


def test_user_writes_are_not_lost_to_controllers(api_client: Any, sandbox: Sandbox) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment("busy", replicas=1))
    for i in range(30):
        apps.patch_namespaced_deployment("busy", "default", {"metadata": {"labels": {"n": str(i)}},
                                                             "spec": {"replicas": i % 3 + 1}})
    d = apps.read_namespaced_deployment("busy", "default")
    assert d.metadata.labels["n"] == "29" and d.spec.replicas == 3
    wait_for(lambda: (x := apps.read_namespaced_deployment("busy", "default")).status.ready_replicas == 3
             and x.status.observed_generation == x.metadata.generation, what="settles at 3 replicas")


def test_strategic_merge_directives(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment("sm"))
    apps.patch_namespaced_deployment("sm", "default", {"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate"}}})
    got = apps.read_namespaced_deployment("sm", "default")
    assert got.spec.strategy.type == "Recreate" and got.spec.strategy.rolling_update is None
    apps.patch_namespaced_deployment("sm", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "$patch": "delete"}, {"name": "new", "image": "busybox"}]}}}})
    names = [c.name for c in apps.read_namespaced_deployment("sm", "default").spec.template.spec.containers]
    assert names == ["new"]


def test_secret_over_one_mebibyte_is_refused(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_secret("default", {"metadata": {"name": "big"}, "data": {"blob": big}})
    assert e.value.status == 422 and "Too long" in e.value.body
    ok = base64.b64encode(b"x" * (512 * 1024)).decode()
    v1.create_namespaced_secret("default", {"metadata": {"name": "fine"}, "data": {"blob": ok}})
