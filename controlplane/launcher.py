"""Start a real control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.

    with ControlPlane() as cp:
        cp.write_kubeconfig(path, context="sandbox")

Certificates are generated here; every port is a free loopback port; state and one log per component live in a
temporary folder (or ``state_dir``). kwok plays the kubelet for nodes annotated ``kwok.x-k8s.io/node=fake``: it
marks them Ready, and takes their pods to Running/Ready (Job pods to Succeeded) with its "fast" stages. Flags
follow kwokctl's binary runtime (sigs.k8s.io/kwok pkg/kwokctl/runtime/binary, components/), which runs the same
five binaries together.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from controlplane import build
from controlplane.certs import SERVICE_CIDR, Pki, generate

STAGES = Path(__file__).resolve().parent / "kwok_stages.yaml"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def _die_with_parent() -> None:
    """In a component's process, before it runs: ask Linux to SIGKILL it when the process that started it dies.
    Without it a pytest session or benchmark killed by a signal (CI stopping a run, kill -9, an OOM kill) left etcd,
    kube-apiserver, the controllers and kwok running. (The signal is sent when the starting *thread* ends: a control
    plane is started by the thread that keeps it.) Runs between fork and exec: it only calls ``prctl``, resolved
    in the parent beforehand (no import or lookup in the child, where another thread's lock may be held)."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl


class ControlPlaneError(RuntimeError):
    """A component failed to start (the message names it and quotes its log's tail)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip()[:300] for line in text[-lines:]) or "(empty log)"


@dataclass
class Component:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ControlPlaneError(f"{self.name} exited with code {self.proc.returncode} during start: "
                                    f"{log_tail(self.log)} (log: {self.log})")


@dataclass
class ControlPlane:
    """One real control plane. ``nodes`` kwok fake nodes are registered once kube-apiserver is ready."""

    state_dir: Path | None = None
    bin_dir: Path | None = None
    nodes: int = 2
    start_timeout: float = 90.0
    components: list[Component] = field(default_factory=list)
    port: int = 0
    etcd_url: str = ""
    started_seconds: float = 0.0
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _ssl: ssl.SSLContext | None = None
    pki: Pki | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> ControlPlane:
        began = time.monotonic()
        bins = self.bin_dir or build.binary_dir()
        absent = build.missing(bins)
        if absent:
            raise ControlPlaneError(f"control plane binaries missing in {bins}: {', '.join(absent)} "
                                    "(run `python -m controlplane.build`, or set PRJDEVOPS_KUBE_BIN)")
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="prjdevops-controlplane-")
            self.state_dir = Path(self._tmp.name)
        state = self.state_dir
        state.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        self.pki = pki = generate(state / "pki")
        self._ssl = ssl.create_default_context(cafile=str(pki.ca_cert))
        self._ssl.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self.port = free_port()
        admin_kubeconfig = self.write_kubeconfig(state / "admin.kubeconfig", context="admin")
        try:
            self._start_etcd(bins, state)
            self._start_apiserver(bins, state, pki)
            self._wait_ready()
            self._start(Component("kube-controller-manager", [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={admin_kubeconfig}",
                f"--authentication-kubeconfig={admin_kubeconfig}",
                f"--authorization-kubeconfig={admin_kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}", f"--cluster-signing-key-file={pki.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*", "--leader-elect=false",
            ], state / "kube-controller-manager.log"))
            self._start(Component("kube-scheduler", [
                str(bins / "kube-scheduler"),
                f"--kubeconfig={admin_kubeconfig}",
                f"--authentication-kubeconfig={admin_kubeconfig}",
                f"--authorization-kubeconfig={admin_kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            ], state / "kube-scheduler.log"))
            kwok_port = free_port()
            self._start(Component("kwok", [
                str(bins / "kwok"),
                f"--kubeconfig={admin_kubeconfig}", f"--config={STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
                "--cidr=10.244.0.0/16",  # pod IPs; kwok's default /24 runs out over a long test session
                "--node-ip=127.0.0.1", "--node-name=localhost", f"--node-port={kwok_port}",
                f"--server-address=127.0.0.1:{kwok_port}", "--node-lease-duration-seconds=40",
            ], state / "kwok.log"))
            self._register_nodes()
            self._wait_for("kube-controller-manager", "/api/v1/namespaces/default/serviceaccounts/default")
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - began
        return self

    def _start(self, comp: Component) -> None:
        # start() runs in the thread that owns the control plane for its life (the kernel's parent-death signal
        # follows the thread that started a child, see _die_with_parent)
        fh = comp.log.open("ab")
        try:
            comp.proc = subprocess.Popen(comp.argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.state_dir, start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise ControlPlaneError(f"{comp.name} could not be started: {exc}") from exc
        finally:
            fh.close()
        self.components.append(comp)

    def _start_etcd(self, bins: Path, state: Path) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._start(Component("etcd", [
            str(bins / "etcd"), "--name=node0", f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=node0=http://127.0.0.1:{peer}", "--initial-cluster-state=new",
            # a throwaway test store: fsync per write only slows every request on a shared disk
            "--unsafe-no-fsync=true", "--quota-backend-bytes=4294967296", "--log-level=warn",
        ], state / "etcd.log"))

    def _start_apiserver(self, bins: Path, state: Path, pki: Pki) -> None:
        self._start(Component("kube-apiserver", [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}", "--etcd-prefix=/registry",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true", "--enable-priority-and-fairness=false",
        ], state / "kube-apiserver.log"))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            for comp in self.components:
                comp.check_alive()
            try:
                status, body = self.request("GET", "/readyz")
                if status == 200:
                    return
                last = body if isinstance(body, str) else json.dumps(body)
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.25)
        apiserver = next(c for c in self.components if c.name == "kube-apiserver")
        raise ControlPlaneError(f"kube-apiserver not ready after {self.start_timeout:.0f} s ({last[-200:]}): "
                                f"{log_tail(apiserver.log)} (log: {apiserver.log})")

    def _register_nodes(self) -> None:
        names = [f"kwok-node-{i}" for i in range(self.nodes)]
        for name in names:
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {FAKE_NODE_ANNOTATION: "fake",
                                                           "node.alpha.kubernetes.io/ttl": "0"},
                             "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "type": "kwok"}},
                "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                           "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}},
            }
            status, body = self.request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise ControlPlaneError(f"registering node {name} failed: {status} {body}")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for comp in self.components:
                comp.check_alive()
            _, listing = self.request("GET", "/api/v1/nodes")
            ready = {n["metadata"]["name"] for n in (listing.get("items", []) if isinstance(listing, dict) else [])
                     if any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in n.get("status", {}).get("conditions", []))}
            if set(names) <= ready:
                return
            time.sleep(0.2)
        kwok = next(c for c in self.components if c.name == "kwok")
        raise ControlPlaneError(f"kwok did not make the fake nodes Ready: {log_tail(kwok.log)} (log: {kwok.log})")

    def _wait_for(self, component: str, path: str) -> None:
        """Wait until ``path`` exists (what ``component`` creates once it runs): pods need the default
        ServiceAccount of their namespace, so a cluster without it is not ready for a test."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for comp in self.components:
                comp.check_alive()
            if self.request("GET", path)[0] == 200:
                return
            time.sleep(0.2)
        comp = next(c for c in self.components if c.name == component)
        raise ControlPlaneError(f"{component} did not create {path}: {log_tail(comp.log)} (log: {comp.log})")

    def stop(self) -> None:
        """SIGTERM every component (reverse order), SIGKILL what is left after 5 s; remove a temporary state dir."""
        for comp in reversed(self.components):
            if comp.proc is not None and comp.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(comp.proc.pid, signal.SIGTERM)
        for comp in reversed(self.components):
            if comp.proc is None:
                continue
            try:
                comp.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(comp.proc.pid, signal.SIGKILL)
                comp.proc.wait()
        self.components.clear()
        if self._tmp is not None:
            if os.environ.get("PRJDEVOPS_KEEP_CONTROLPLANE_STATE"):
                self._tmp = None  # leave the logs for a post-mortem
            else:
                self._tmp.cleanup()
                self._tmp = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- access ----------------------------------------------------------------------------------------------
    def write_kubeconfig(self, path: str | os.PathLike[str], context: str = "sandbox",
                         namespace: str = "default") -> Path:
        """A self-contained kubeconfig (certificates embedded) whose cluster, user and context are ``context``."""
        assert self.pki is not None, "start() first"

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        doc = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url,
                                                       "certificate-authority-data": b64(self.pki.ca_cert)}}],
            "users": [{"name": context, "user": {"client-certificate-data": b64(self.pki.admin_cert),
                                                 "client-key-data": b64(self.pki.admin_key)}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                      "namespace": namespace}}],
            "current-context": context,
        }
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(doc, fh, sort_keys=False)
        return out

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                timeout: float = 30) -> tuple[int, Any]:
        """One HTTPS request as the admin; returns (status, parsed JSON or text)."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    # -- isolation between tests on one shared control plane ----------------------------------------------------
    CLUSTER_SCOPED = (
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        "/apis/storage.k8s.io/v1/storageclasses",
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        "/apis/networking.k8s.io/v1/ingressclasses",
        "/api/v1/persistentvolumes",
    )
    # namespaced objects a test may leave in namespaces that outlive it (the deploy lock's Lease is in kube-system)
    NAMESPACED_KEPT = (
        *(f"/api/v1/namespaces/{ns}/{kind}" for ns in ("default", "kube-system")
          for kind in ("configmaps", "secrets", "services", "serviceaccounts")),
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
    )

    # what kube-controller-manager puts in every namespace (and puts back when deleted)
    EVERY_NAMESPACE_HAS = frozenset({"kube-root-ca.crt", "default"})

    def snapshot(self) -> dict[str, set[str]]:
        """Names of the namespaces and cluster-scoped objects that exist now (what :meth:`reset` keeps)."""
        snap: dict[str, set[str]] = {"/api/v1/namespaces": self._names("/api/v1/namespaces")}
        for path in self.CLUSTER_SCOPED:
            snap[path] = self._names(path)
        for path in self.NAMESPACED_KEPT:
            snap[path] = self._names(path)
        return snap

    def _names(self, path: str) -> set[str]:
        status, body = self.request("GET", path)
        if status != 200 or not isinstance(body, dict):
            return set()
        return {item["metadata"]["name"] for item in body.get("items", [])}

    def reset(self, snap: dict[str, set[str]], timeout: float = 90) -> None:
        """Delete what was created since ``snap`` and wait until it is gone: a namespace still Terminating refuses
        the next test's objects, a CustomResourceDefinition being deleted refuses to be created again. Namespaces
        go first: the namespace controller walks every served resource, and a CRD vanishing under it makes it
        back off and retry (a namespace then stays Terminating for a long time)."""
        paths = list(snap)
        namespaced = [p for p in paths if p == "/api/v1/namespaces" or "/namespaces/" in p]
        for phase in (namespaced, [p for p in paths if p not in namespaced]):
            created = {path: self._names(path) - snap[path] - self.EVERY_NAMESPACE_HAS for path in phase}
            for path, names in created.items():
                for name in names:
                    self.request("DELETE", f"{path}/{name}", {"propagationPolicy": "Background"})
            for ns in created.get("/api/v1/namespaces", set()):
                # no kubelet here to end pods gracefully: the namespace controller would wait out each pod's
                # grace period (30 s by default) before the namespace goes; end them now, as a kubelet would
                self.request("DELETE", f"/api/v1/namespaces/{ns}/pods", {"gracePeriodSeconds": 0})
            deadline = time.monotonic() + timeout
            left = {path: names for path, names in created.items() if names}
            while left and time.monotonic() < deadline:
                left = {path: names & self._names(path) for path, names in left.items()}
                left = {path: names for path, names in left.items() if names}
                if left:
                    time.sleep(0.2)
            if left:
                raise ControlPlaneError(f"still being deleted after {timeout:.0f} s: {left}")


def main() -> int:
    """``python -m controlplane.launcher [kubeconfig]``: start one, write its kubeconfig, run until Ctrl-C."""
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "controlplane.kubeconfig").resolve()
    cp = ControlPlane()
    cp.start()
    cp.write_kubeconfig(out, context="controlplane")
    print(f"control plane ready at {cp.url} in {cp.started_seconds:.1f} s; kubeconfig {out}; logs {cp.state_dir}")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
