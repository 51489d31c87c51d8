"""/usr/bin/kubectl against the sandbox (argv lists, explicit --kubeconfig)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kubesandbox import Fault, Sandbox

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(),
                                reason="needs: kubectl on PATH (a Kubernetes client binary; .ci/run installs it)")

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:IMAGE
        ports: [{containerPort: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {tier: front}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {tier: back}
data: {a: "1"}
"""


def kubectl(kubeconfig: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    # a discovery cache per test (next to its kubeconfig), not in the user's ~/.kube
    cache = kubeconfig.parent / "kube-cache"
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def write(tmp_path: Path, image: str = "1.27") -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST.replace("IMAGE", image))
    return path


def test_apply_rollout_get_delete(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    r = kubectl(kubeconfig, "apply", "-f", str(write(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert "deployment.apps/web created" in r.stdout and "configmap/settings created" in r.stdout
    r = kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=20s")
    assert r.returncode == 0, r.stderr
    assert 'deployment "web" successfully rolled out' in r.stdout
    # a new template: a new ReplicaSet replaces the pods
    r = kubectl(kubeconfig, "apply", "-f", str(write(tmp_path, "1.28")))
    assert r.returncode == 0 and "deployment.apps/web configured" in r.stdout, r.stderr
    r = kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=20s")
    assert r.returncode == 0, r.stderr
    pods = yaml.safe_load(kubectl(kubeconfig, "get", "pods", "-l", "app=web", "-o", "yaml").stdout)["items"]
    assert len(pods) == 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    r = kubectl(kubeconfig, "get", "deploy,svc,cm", "-l", "tier=front", "-o", "name")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == ["deployment.apps/web", "service/web"]
    dep = yaml.safe_load(kubectl(kubeconfig, "get", "deployment", "web", "-o", "yaml").stdout)
    assert dep["status"]["readyReplicas"] == 2 and dep["metadata"]["generation"] == 2
    assert {c["type"]: c["reason"] for c in dep["status"]["conditions"]}["Progressing"] == "NewReplicaSetAvailable"
    r = kubectl(kubeconfig, "delete", "-f", str(write(tmp_path, "1.28")))
    assert r.returncode == 0, r.stderr
    assert 'deployment.apps "web" deleted' in r.stdout
    r = kubectl(kubeconfig, "get", "deployment", "web")
    assert r.returncode != 0 and "NotFound" in r.stderr


def test_apply_server_side(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    path = write(tmp_path)
    r = kubectl(kubeconfig, "apply", "--server-side", "-f", str(path))
    assert r.returncode == 0, r.stderr
    assert "deployment.apps/web serverside-applied" in r.stdout
    r = kubectl(kubeconfig, "apply", "--server-side", "-f", str(write(tmp_path, "1.29")))
    assert r.returncode == 0, r.stderr
    dep = sandbox.store.get("apps", "v1", "deployments", "default", "web")
    assert dep is not None and dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.29"
    assert kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=20s").returncode == 0


def test_rollout_status_fails_on_progress_deadline(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(Fault(kind="never_ready", namespace="default", label_selector="app=web"))
    doc = MANIFEST.replace("IMAGE", "1.27").replace("replicas: 2", "replicas: 1\n  progressDeadlineSeconds: 1")
    path = tmp_path / "slow.yaml"
    path.write_text(doc)
    assert kubectl(kubeconfig, "apply", "-f", str(path)).returncode == 0
    r = kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=15s")
    assert r.returncode != 0
    assert "exceeded its progress deadline" in r.stderr
    events = yaml.safe_load(kubectl(kubeconfig, "get", "events", "-o", "yaml").stdout)["items"]
    assert any(e["reason"] == "Unhealthy" and "Readiness probe failed" in e["message"] for e in events)


def test_get_prints_server_side_columns(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    assert kubectl(kubeconfig, "apply", "-f", str(write(tmp_path))).returncode == 0
    assert kubectl(kubeconfig, "rollout", "status", "deployment/web", "--timeout=20s").returncode == 0
    pods = kubectl(kubeconfig, "get", "pods", "-o", "wide").stdout.splitlines()
    assert pods[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert all(line.split()[1:3] == ["1/1", "Running"] and "sandbox-node" in line for line in pods[1:])
    svc = kubectl(kubeconfig, "get", "svc", "web").stdout.splitlines()
    assert svc[0].split()[:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    assert svc[1].split()[1] == "ClusterIP" and svc[1].split()[2].startswith("10.96.")
    dep = kubectl(kubeconfig, "get", "deploy", "web").stdout.splitlines()
    assert dep[1].split()[:4] == ["web", "2/2", "2", "2"]


CREATE_COMMANDS = [
    ["create", "deployment", "d", "--image=nginx:1.27", "--replicas=2", "--port=80"],
    ["create", "deployment", "zero", "--image=nginx:1.27", "--replicas=0"],
    ["create", "job", "j", "--image=busybox", "--", "echo", "hi"],
    ["create", "cronjob", "cj", "--image=busybox", "--schedule=*/1 * * * *"],
    ["create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"],
    ["create", "serviceaccount", "sa"],
    ["create", "role", "r", "--verb=get", "--resource=pods"],
    ["create", "clusterrole", "cr", "--verb=get,list", "--resource=deployments.apps"],
    ["create", "rolebinding", "rb", "--role=r", "--serviceaccount=default:sa"],
    ["create", "ingress", "ing", "--rule=foo.com/bar=svc1:8080", "--class=nginx"],
    ["create", "poddisruptionbudget", "pdb", "--selector=app=x", "--min-available=1"],
    ["create", "priorityclass", "pc", "--value=1000", "--description=hi"],
    ["create", "quota", "q", "--hard=pods=10,cpu=2"],
    ["create", "configmap", "cm", "--from-literal=a=b"],
    ["create", "secret", "generic", "sec", "--from-literal=k=v"],
]
CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding", "PriorityClass", "Namespace"}


def _missing_or_different(want: object, got: object, path: str = "") -> list[str]:
    """Leaves of ``want`` that ``got`` lacks or holds differently (server defaults may add more)."""
    if isinstance(want, dict):
        out = []
        for k, v in want.items():
            if v in ({}, None, []):
                continue
            if not isinstance(got, dict) or k not in got:
                out.append(f"{path}.{k} missing")
            else:
                out += _missing_or_different(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return [f"{path}: {want!r} != {got!r}"]
        return [d for i, (a, b) in enumerate(zip(want, got, strict=True))
                for d in _missing_or_different(a, b, f"{path}[{i}]")]
    return [] if want == got else [f"{path}: {want!r} != {got!r}"]


@pytest.mark.parametrize("args", CREATE_COMMANDS, ids=lambda a: "-".join(a[1:3]))
def test_kubectl_create_protobuf_bodies_decode_like_the_client_renders_them(
        kubeconfig: Path, sandbox: Sandbox, args: list[str]) -> None:
    # kubectl create sends typed protobuf; the oracle is the JSON the same command renders client-side
    cut = args.index("--") if "--" in args else len(args)
    dry = kubectl(kubeconfig, *args[:cut], "--dry-run=client", "-o", "json", *args[cut:])
    assert dry.returncode == 0, dry.stderr
    want = json.loads(dry.stdout)
    r = kubectl(kubeconfig, *args)
    assert r.returncode == 0, r.stderr
    kind, name = want["kind"], want["metadata"]["name"]
    group = want["apiVersion"].rpartition("/")[0]
    got = sandbox.store.get(group, "v1", kind, None if kind in CLUSTER_KINDS else "default", name)
    assert got is not None
    for obj in (want, got):
        obj.pop("status", None)
        for k in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            obj["metadata"].pop(k, None)
    assert _missing_or_different(want, got) == []


def test_kubectl_created_deployment_rolls_out(kubeconfig: Path, sandbox: Sandbox) -> None:
    assert kubectl(kubeconfig, "create", "deployment", "made", "--image=nginx", "--replicas=2").returncode == 0
    r = kubectl(kubeconfig, "rollout", "status", "deployment/made", "--timeout=20s")
    assert r.returncode == 0, r.stderr
    r = kubectl(kubeconfig, "expose", "deployment", "made", "--port=80", "--target-port=8080")
    assert r.returncode == 0, r.stderr
    svc = sandbox.store.get("", "v1", "services", "default", "made")
    assert svc is not None and svc["spec"]["selector"] == {"app": "made"}
    assert svc["spec"]["ports"][0]["targetPort"] == 8080


def test_auth_reviews_always_allow(kubeconfig: Path, sandbox: Sandbox) -> None:
    r = kubectl(kubeconfig, "auth", "can-i", "delete", "deployments", "-n", "kube-system")
    assert (r.returncode, r.stdout.strip()) == (0, "yes"), r.stderr
    r = kubectl(kubeconfig, "auth", "whoami")
    assert r.returncode == 0 and "sandbox-admin" in r.stdout, r.stderr


CERT_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {plural: certificates, singular: certificate, kind: Certificate, shortNames: [cert]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Secret, type: string, jsonPath: .spec.secretName}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls}
spec: {secretName: web-tls-secret}
status:
  conditions: [{type: Issuing, status: "False"}, {type: Ready, status: "True"}]
"""


def test_custom_resources_print_their_crd_columns(kubeconfig: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "cert.yaml"
    path.write_text(CERT_CRD)
    r = kubectl(kubeconfig, "apply", "-f", str(path))
    if r.returncode != 0:  # the CR's kind is not known until discovery is refreshed; kubectl retries
        r = kubectl(kubeconfig, "apply", "-f", str(path))
    assert r.returncode == 0, r.stderr
    lines = kubectl(kubeconfig, "get", "cert").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "SECRET", "AGE"]
    assert lines[1].split()[:3] == ["web-tls", "True", "web-tls-secret"]
