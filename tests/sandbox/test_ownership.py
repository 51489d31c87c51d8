"""Opt-in server-side-apply conflicts: a field another manager changed cannot be re-applied without force."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from kubernetes import client, config

from kubesandbox import Sandbox

from .test_helm import make_chart
from .test_kubectl import kubectl

APPLY = "application/apply-patch+yaml"


@pytest.fixture
def strict_sandbox(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    with Sandbox(pod_ready_delay=0.05, ssa_conflicts=True) as sb:
        yield sb, sb.write_kubeconfig(tmp_path / "strict-kubeconfig")


def test_helm_upgrade_conflicts_with_a_kubectl_scale(strict_sandbox: tuple[Sandbox, Path], tmp_path: Path) -> None:
    sb, kubeconfig = strict_sandbox
    chart = make_chart(tmp_path)
    with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as cfg:
        cfg.install(str(chart), "app", {}, wait="watcher", timeout=20)
        assert kubectl(kubeconfig, "scale", "deployment/app-web", "--replicas=5").returncode == 0
        with pytest.raises(helm.HelmError, match=r'conflict with "kubectl".*\.spec\.replicas'):
            cfg.upgrade(str(chart), "app", {"message": "v2"}, timeout=20)
        # agreeing with the live value is not a conflict (the field becomes shared)
        cfg.upgrade(str(chart), "app", {"message": "v3", "replicas": 5}, wait="watcher", timeout=20)
    cmap = sb.store.get("", "v1", "configmaps", "default", "app-cfg")
    assert cmap is not None and cmap["data"] == {"message": "v3"}


def test_force_takes_ownership_and_conflicts_can_be_turned_off(
        strict_sandbox: tuple[Sandbox, Path], api_client: Any) -> None:
    _, kubeconfig = strict_sandbox
    api = config.new_client_from_config(config_file=str(kubeconfig), context="sandbox")
    v1 = client.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "one"}}
    v1.patch_namespaced_config_map("c", "default", body, field_manager="a", _content_type=APPLY)
    v1.patch_namespaced_config_map("c", "default", {"data": {"k": "two"}}, field_manager="b",
                                   _content_type="application/merge-patch+json")
    with pytest.raises(client.ApiException) as e:
        v1.patch_namespaced_config_map("c", "default", body, field_manager="a", _content_type=APPLY)
    assert e.value.status == 409 and "FieldManagerConflict" in e.value.body
    forced = v1.patch_namespaced_config_map("c", "default", body, field_manager="a", force=True,
                                            _content_type=APPLY)
    assert forced.data == {"k": "one"}
    api.close()
    # the default sandbox refuses the same sequence, as kube-apiserver does; ssa_conflicts=False accepts it
    v1 = client.CoreV1Api(api_client)
    v1.patch_namespaced_config_map("c", "default", body, field_manager="a", _content_type=APPLY)
    v1.patch_namespaced_config_map("c", "default", {"data": {"k": "two"}}, field_manager="b",
                                   _content_type="application/merge-patch+json")
    with pytest.raises(client.ApiException) as e:
        v1.patch_namespaced_config_map("c", "default", body, field_manager="a", _content_type=APPLY)
    assert e.value.status == 409
    with Sandbox(port=0, ssa_conflicts=False) as lax:
        rt = lax.api.rt("", "v1", "configmaps")
        lax.api.patch(rt, "default", "c", APPLY, json.loads(json.dumps(body)), field_manager="a")
        lax.api.patch(rt, "default", "c", "application/merge-patch+json", {"data": {"k": "two"}}, field_manager="b")
        got, _ = lax.api.patch(rt, "default", "c", APPLY, json.loads(json.dumps(body)), field_manager="a")
        assert got["data"] == {"k": "one"}
