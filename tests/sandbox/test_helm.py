"""Real Helm v4 (helm_python) against the sandbox: the release lifecycle, both wait modes, CRDs."""

from __future__ import annotations

import base64
import gzip
import json
import textwrap
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from kubernetes import client

from kubesandbox import Sandbox

TEMPLATES = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ .Release.Name }}-cfg"}
data: {message: {{ .Values.message | quote }}}
---
apiVersion: v1
kind: Secret
metadata: {name: "{{ .Release.Name }}-sec"}
stringData: {password: s3cret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ .Release.Name }}-web", labels: {app: "{{ .Release.Name }}-web"}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: "{{ .Release.Name }}-web"}}
  template:
    metadata: {labels: {app: "{{ .Release.Name }}-web"}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
        ports: [{containerPort: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: "{{ .Release.Name }}-web"}
spec:
  type: {{ .Values.serviceType }}
  selector: {app: "{{ .Release.Name }}-web"}
  ports: [{port: 80, targetPort: http}]
"""


def make_chart(root: Path, name: str = "demo", extra: dict[str, str] | None = None) -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\nappVersion: '1.0'\n")
    (chart / "values.yaml").write_text("replicas: 2\nimage: nginx:1.27\nmessage: hello\nserviceType: ClusterIP\n")
    (chart / "templates" / "all.yaml").write_text(TEMPLATES)
    for rel, text in (extra or {}).items():
        (chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (chart / rel).write_text(textwrap.dedent(text))
    return chart


@pytest.fixture
def cfg(kubeconfig: Path) -> Any:
    with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as c:
        yield c


def _release_secret(sandbox: Sandbox, name: str, rev: int) -> dict[str, Any]:
    s = sandbox.store.get("", "v1", "secrets", "default", f"sh.helm.release.v1.{name}.v{rev}")
    assert s is not None, f"release secret v{rev} missing"
    return s


def test_helm_lifecycle_with_watcher_wait(cfg: Any, sandbox: Sandbox, tmp_path: Path, api_client: Any) -> None:
    chart = make_chart(tmp_path)
    rel = cfg.install(str(chart), "demo", {"serviceType": "LoadBalancer"}, wait="watcher", timeout=20)
    assert rel["status"] == "deployed" and rel["revision"] == 1
    dep = sandbox.store.get("apps", "v1", "deployments", "default", "demo-web")
    assert dep is not None and dep["status"]["readyReplicas"] == 2
    svc = sandbox.store.get("", "v1", "Service", "default", "demo-web")
    # no LB pool in this sandbox: the address stays <pending>, and Helm's watcher does not wait for one
    assert svc is not None and svc["status"]["loadBalancer"] == {}
    # Helm's storage secret arrived as protobuf and was decoded: labels, type and the gzipped release
    sec = _release_secret(sandbox, "demo", 1)
    assert sec["type"] == "helm.sh/release.v1"
    assert sec["metadata"]["labels"]["owner"] == "helm" and sec["metadata"]["labels"]["status"] == "deployed"
    stored = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(sec["data"]["release"]))))
    assert stored["name"] == "demo" and stored["version"] == 1

    up = cfg.upgrade(str(chart), "demo", {"serviceType": "LoadBalancer", "image": "nginx:1.28", "message": "v2"},
                     wait="watcher", timeout=20)
    assert up["revision"] == 2
    dep = sandbox.store.get("apps", "v1", "deployments", "default", "demo-web")
    assert dep is not None
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert dep["status"]["updatedReplicas"] == 2 and dep["metadata"]["generation"] == 2
    cmap = sandbox.store.get("", "v1", "configmaps", "default", "demo-cfg")
    assert cmap is not None and cmap["data"] == {"message": "v2"}
    assert [(h["revision"], h["status"]) for h in cfg.history("demo")] == [(1, "superseded"), (2, "deployed")]
    assert cfg.get_values("demo")["image"] == "nginx:1.28"

    cfg.rollback("demo", version=1, wait="watcher", timeout=20)
    assert [h["status"] for h in cfg.history("demo")] == ["superseded", "superseded", "deployed"]
    cmap = sandbox.store.get("", "v1", "configmaps", "default", "demo-cfg")
    assert cmap is not None and cmap["data"] == {"message": "hello"}
    status = cfg.status("demo")
    assert status["revision"] == 3 and "kind: Deployment" in status["manifest"]
    assert [r["name"] for r in cfg.list()] == ["demo"]

    cfg.uninstall("demo", wait="watcher", timeout=20)
    assert cfg.list(all_states=True) == []
    for kind in ("deployments", "replicasets", "pods"):
        group = "" if kind == "pods" else "apps"
        assert sandbox.store.list(group, "v1", kind, "default") == [], kind
    assert sandbox.store.get("", "v1", "secrets", "default", "sh.helm.release.v1.demo.v1") is None


def test_helm_legacy_wait(cfg: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    chart = make_chart(tmp_path)
    rel = cfg.install(str(chart), "legacy", {"replicas": 1}, wait="legacy", timeout=20)
    assert rel["status"] == "deployed"
    dep = sandbox.store.get("apps", "v1", "deployments", "default", "legacy-web")
    assert dep is not None and dep["status"]["availableReplicas"] == 1


def test_helm_wait_times_out_when_pods_never_get_ready(cfg: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    from kubesandbox import Fault

    sandbox.faults.add(Fault(kind="never_ready", namespace="default", name_prefix="stuck-web"))
    chart = make_chart(tmp_path)
    with pytest.raises(helm.HelmError):
        cfg.install(str(chart), "stuck", {"replicas": 1}, wait="watcher", timeout=2)
    assert [(h["revision"], h["status"]) for h in cfg.history("stuck")] == [(1, "failed")]


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
CR = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: "{{ .Release.Name }}-widget"}
spec: {size: 3}
"""


def test_helm_chart_with_crds_installs_custom_resources(cfg: Any, sandbox: Sandbox, tmp_path: Path,
                                                       api_client: Any) -> None:
    chart = make_chart(tmp_path, "withcrd", {"crds/widgets.yaml": CRD, "templates/widget.yaml": CR})
    cfg.install(str(chart), "crd", {"replicas": 1}, wait="watcher", timeout=20)
    crd = sandbox.store.get("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, "widgets.example.com")
    assert crd is not None
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert "example.com" in groups
    widget = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "crd-widget")
    assert widget["spec"] == {"size": 3}
    cfg.uninstall("crd", wait="watcher", timeout=20)
    # Helm keeps CRDs (and so the kind stays served); the release's custom resource is gone
    assert sandbox.store.get("example.com", "v1", "widgets", "default", "crd-widget") is None
