"""The `pods` group: node checks inside pods through testinfra's kubectl backend, pods resolved by label selector.

The sandbox serves no `pods/exec` subresource, so against it exec fails and each check fails naming the pod. To
exercise the two other outcomes end to end (through the real testinfra backend command line), a `kubectl` stand-in on
PATH answers `exec` as containerd does for an image without /bin/sh, or runs the command on this host as a pod with a
shell would; it records its argv, so the test also checks the context, namespace and pod name testinfra passed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from prjdevops.environments import load_environment
from prjdevops.ops import release
from prjdevops.verify import runner
from tests.integration.conftest import write_env

pytestmark = pytest.mark.integration

SELECTOR = "app.kubernetes.io/name=plate-web"
KUBECTL = """#!{python}
import json, os, subprocess, sys
with open(os.environ["KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ["KUBECTL_MODE"] == "noshell":
    sys.stderr.write('error: Internal error occurred: error executing command in container: failed to exec in '
                     'container: failed to start exec "1f2e": OCI runtime exec failed: exec failed: unable to start '
                     'container process: exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown\\n')
    sys.exit(1)
sys.exit(subprocess.run(sys.argv[sys.argv.index("--") + 1:]).returncode)
"""


@pytest.fixture
def pod_env(tmp_path: Path, kubeconfig: Path) -> Path:
    env_dir = tmp_path / "environments"
    write_env(env_dir, "pods", kubeconfig, inventory=[
        {"pods": {"namespace": "plate-web", "selector": SELECTOR}, "services": ["sh"], "ports": [1]}])
    with release.connect(load_environment("pods", env_dir)) as target:
        release.deploy(target, release.prepare(target.env, "plate-web"), timeout=30)
    return env_dir


def fake_kubectl(tmp_path: Path, mode: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "kubectl"
    exe.write_text(KUBECTL.replace("{python}", shutil.which("python3") or "/usr/bin/python3"))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "KUBECTL_MODE": mode,
            "KUBECTL_LOG": str(tmp_path / "kubectl.log")}


def pod_names(kubeconfig: Path) -> list[str]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig), context="sandbox")
    try:
        return [p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod(
            "plate-web", label_selector=SELECTOR).items]
    finally:
        api.close()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs: kubectl on PATH (.ci/run installs it)")
def test_sandbox_has_no_exec_so_each_check_fails_naming_the_pod(pod_env: Path, tmp_path: Path,
                                                                kubeconfig: Path) -> None:
    [pod] = pod_names(kubeconfig)
    run = runner.run("pods", only=["pods"], reports=tmp_path / "r", environments_dir=pod_env, timeout=120)
    assert [r.check for r in run.rows] == [f"plate-web/{pod}/{c}" for c in ("services", "swap-off", "ip-forward",
                                                                             "ports")]
    assert {(r.result, r.reason.split(": kubectl exec failed")[0]) for r in run.rows} == {
        ("failed", f"pod plate-web/{pod}")}


def test_image_without_shell_is_skipped_with_the_reason(pod_env: Path, tmp_path: Path, kubeconfig: Path) -> None:
    [pod] = pod_names(kubeconfig)
    run = runner.run("pods", only=["pods"], reports=tmp_path / "r", environments_dir=pod_env, timeout=120,
                     extra_env=fake_kubectl(tmp_path, "noshell"))
    assert {(r.result, r.reason) for r in run.rows} == {
        ("skipped", f"pod plate-web/{pod}: the image has no shell (/bin/sh), node checks cannot run inside it")}
    calls = [json.loads(line) for line in (tmp_path / "kubectl.log").read_text().splitlines()]
    assert len(calls) == 1  # probed once per pod, the verdict is reused by every check
    argv = calls[0]
    assert f"--kubeconfig={kubeconfig}" in argv and "--context=sandbox" in argv
    assert argv[argv.index("-n") + 1] == "plate-web" and argv[argv.index("exec") + 1] == pod
    assert argv[argv.index("--") + 1:argv.index("--") + 3] == ["/bin/sh", "-c"]


def test_checks_run_inside_a_pod_with_a_shell(pod_env: Path, tmp_path: Path, kubeconfig: Path) -> None:
    run = runner.run("pods", only=["pods"], reports=tmp_path / "r", environments_dir=pod_env, timeout=120,
                     extra_env=fake_kubectl(tmp_path, "local"))
    got: dict[str, Any] = {r.check.rsplit("/", 1)[1]: (r.result, r.reason) for r in run.rows}
    [pod] = pod_names(kubeconfig)
    assert got["services"] == ("passed", f"sh running on pod plate-web/{pod}")
    assert got["ports"] == ("failed", f"port(s) 1 not listening on pod plate-web/{pod}")
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    assert got["ip-forward"][0] == ("passed" if forward else "failed")


def test_no_pod_matching_the_selector_fails(tmp_path: Path, kubeconfig: Path) -> None:
    env_dir = tmp_path / "environments"
    write_env(env_dir, "nopods", kubeconfig, inventory=[{"pods": {"namespace": "kube-system",
                                                                  "selector": "app=node-agent"}}])
    [row] = runner.run("nopods", only=["pods"], reports=tmp_path / "r", environments_dir=env_dir, timeout=120).rows
    assert (row.result, row.reason) == ("failed", "no running pod matches selector app=node-agent in namespace "
                                                  "kube-system")
