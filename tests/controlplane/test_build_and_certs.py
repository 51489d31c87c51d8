"""The control plane's build cache and certificates (no Go build, no control plane needed)."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from controlplane import build
from controlplane.certs import KUBERNETES_SERVICE_IP, generate


def test_cache_is_outside_the_clone_and_keyed_by_versions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PRJDEVOPS_KUBE_BIN", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = build.binary_dir()
    assert folder.parent == tmp_path / "prjdevops" / "kube"
    assert build.KUBERNETES_VERSION in folder.name and build.ETCD_VERSION in folder.name
    assert build.KWOK_VERSION in folder.name
    monkeypatch.setenv("PRJDEVOPS_KUBE_BIN", str(tmp_path / "official"))
    assert build.binary_dir() == tmp_path / "official"


def test_a_file_that_does_not_run_counts_as_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "etcd").write_bytes(b"\x7fELF truncated")
    (tmp_path / "etcd").chmod(0o755)
    script = tmp_path / "kwok"
    script.write_text("#!/bin/sh\necho kwok version v0\n")
    script.chmod(0o755)
    assert build.missing(tmp_path) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]


def test_official_binaries_folder_is_never_built_into(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRJDEVOPS_KUBE_BIN", str(tmp_path))
    with pytest.raises(build.BuildError, match="nothing is built there"):
        build.ensure_built(log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(build.find_go() is None, reason="no Go toolchain")
def test_a_failed_build_leaves_no_half_binary(tmp_path: Path) -> None:
    module = tmp_path / "mod"
    module.mkdir()
    (module / "go.mod").write_text("module example.local/broken\n\ngo 1.22\n")
    (module / "main.go").write_text("package main\n\nfunc main() { undefined() }\n")
    out = tmp_path / "out"
    target = build.Target("broken", module, "example.local/broken")
    with pytest.raises(build.BuildError, match="undefined"):
        build.build_one(target, out, str(build.find_go()))
    assert list(out.iterdir()) == []


def test_certificates_chain_and_names(tmp_path: Path) -> None:
    pki = generate(tmp_path)
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", KUBERNETES_SERVICE_IP}
    assert {"localhost", "kubernetes.default.svc"} <= set(sans.get_values_for_type(x509.DNSName))
    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    for key in (pki.ca_key, pki.serving_key, pki.admin_key, pki.sa_key):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600

    # a real TLS handshake both ways: the server cert verifies against the CA for 127.0.0.1, and the server
    # (requiring client certs from the CA, as kube-apiserver's --client-ca-file does) accepts the admin cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.serving_cert, pki.serving_key)
    server_ctx.load_verify_locations(pki.ca_cert)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[str] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            peer = tls.getpeercert() or {}
            seen.extend(v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName")
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    client_ctx.load_cert_chain(pki.admin_cert, pki.admin_key)
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.recv(2) == b"ok"
    thread.join(5)
    listener.close()
    assert seen == ["prjdevops-admin"]


def test_components_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """A session killed by a signal (kill -9 included) must not leave etcd, kube-apiserver and the rest running: each
    component is started with the launcher's parent-death signal. Here a stand-in component (sleep) is started the
    launcher's way by a process that is then SIGKILLed."""
    import signal
    import subprocess
    import sys
    import time

    starter = ("import subprocess, sys, time; from controlplane.launcher import _die_with_parent; "
               "p = subprocess.Popen(['sleep', '600'], start_new_session=True, preexec_fn=_die_with_parent); "
               "print(p.pid, flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    os.kill(child, 0)  # running
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:  # gone, or killed and not yet reaped by init (a zombie still answers kill(0))
            os.kill(child, 0)
            if Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the component outlived the process that started it")
