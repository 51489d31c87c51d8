"""Sandbox benchmark: request latency through the official client and a full Helm release cycle.

Run: ``.venv/bin/python bench/sandbox.py [--requests 200]``. Targets: < 5 ms median per simple request,
< 1 s for install + upgrade + rollback + uninstall of a 5-object chart with readiness waits.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import helm_python as helm
from kubernetes import client, config

from kubesandbox import Sandbox

CHART_TEMPLATES = """\
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
apiVersion: v1
kind: ServiceAccount
metadata: {name: "{{ .Release.Name }}-sa"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ .Release.Name }}-web"}
spec:
  replicas: 2
  selector: {matchLabels: {app: "{{ .Release.Name }}-web"}}
  template:
    metadata: {labels: {app: "{{ .Release.Name }}-web"}}
    spec:
      serviceAccountName: "{{ .Release.Name }}-sa"
      containers: [{name: web, image: "{{ .Values.image }}", ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: "{{ .Release.Name }}-web"}
spec:
  selector: {app: "{{ .Release.Name }}-web"}
  ports: [{port: 80}]
"""


def median_ms(fn: object, n: int) -> tuple[float, float]:
    assert callable(fn)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pod-ready-delay", type=float, default=0.05,
                        help="simulated container start time (the Sandbox default is 0.2 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Sandbox(pod_ready_delay=args.pod_ready_delay) as sb:
        kubeconfig = sb.write_kubeconfig(Path(tmp) / "kubeconfig")
        api = config.new_client_from_config(config_file=str(kubeconfig), context="sandbox")
        v1 = client.CoreV1Api(api)
        v1.create_namespaced_config_map("default", {"metadata": {"name": "bench"}, "data": {"k": "v"}})
        get_med, get_p95 = median_ms(lambda: v1.read_namespaced_config_map("bench", "default"), args.requests)
        counter = iter(range(10**9))

        def ssa() -> None:
            v1.patch_namespaced_config_map(
                "bench", "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"},
                                     "data": {"k": str(next(counter))}},
                field_manager="bench", force=True, _content_type="application/apply-patch+yaml")

        ssa_med, ssa_p95 = median_ms(ssa, args.requests)
        api.close()

        chart = Path(tmp) / "bench-chart"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 0.1.0\n")
        (chart / "values.yaml").write_text("image: nginx:1.27\nmessage: one\n")
        (chart / "templates" / "all.yaml").write_text(CHART_TEMPLATES)
        with helm.Config(kubeconfig_path=str(kubeconfig), kube_context="sandbox", namespace="default") as cfg:
            steps: dict[str, float] = {}
            t0 = time.perf_counter()
            cfg.install(str(chart), "bench", wait="watcher", timeout=30)
            steps["install"] = time.perf_counter() - t0
            t = time.perf_counter()
            cfg.upgrade(str(chart), "bench", {"image": "nginx:1.28", "message": "two"}, wait="watcher", timeout=30)
            steps["upgrade"] = time.perf_counter() - t
            t = time.perf_counter()
            cfg.rollback("bench", version=1, wait="watcher", timeout=30)
            steps["rollback"] = time.perf_counter() - t
            t = time.perf_counter()
            cfg.uninstall("bench", wait="watcher", timeout=30)
            steps["uninstall"] = time.perf_counter() - t
            cycle = time.perf_counter() - t0
    print(f"GET configmap (official client), {args.requests} requests: median {get_med:.2f} ms, "
          f"p95 {get_p95:.2f} ms  (target < 5 ms)")
    print(f"SSA PATCH configmap (official client), {args.requests} requests: median {ssa_med:.2f} ms, "
          f"p95 {ssa_p95:.2f} ms  (target < 5 ms)")
    detail = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in steps.items())
    print(f"Helm install+upgrade+rollback+uninstall, 5 objects, wait=watcher, pod_ready_delay "
          f"{args.pod_ready_delay} s: {cycle:.2f} s "
          f"({detail})  (target < 1 s)")


if __name__ == "__main__":
    main()
