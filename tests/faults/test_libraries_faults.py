"""The libraries deploy under faults, through the CLI: stand-in charts from a loopback chart repository, the
environment's guards on (deploy Lease), 5xx answers on the way, then a library whose pods never become Ready."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesandbox import Fault
from prjdevops.chartrepo import ChartRepository
from prjdevops.environments import load_environment
from prjdevops.ops import release
from tests.faults.conftest import assert_fired, cli, lock_free_or_expiring, one_line_error, probe, requests
from tests.integration.test_libraries import make_env

pytestmark = pytest.mark.integration



@pytest.fixture
def lib_envs(tmp_path: Path, kubeconfig: Path, repo: ChartRepository) -> Path:
    envs = make_env(tmp_path, kubeconfig, repo.url)
    doc = yaml.safe_load((envs / "local.yaml").read_text())
    doc["guards"] = {"confirm": True, "lock": True, "health_timeout": 20}
    (envs / "local.yaml").write_text(yaml.safe_dump(doc))
    return envs


def deploy(envs: Path, tmp_path: Path, *extra: str) -> Any:
    return cli(["libraries.deploy", "--env", "local", "--tier", "1", "--yes", *extra], envs,
               PRJDEVOPS_CHART_CACHE=str(tmp_path / "cache"))


def test_libraries_deploy_rides_out_5xx(lib_envs: Path, tmp_path: Path, sandbox: Any) -> None:
    refused = {(method, path): sandbox.faults.add(Fault(kind="error", status=503, path=path, method=method, count=1))
               for path, method in [("/customresourcedefinitions", "GET"), ("/secrets", "POST"),
                                    ("/deployments", "GET"), ("/leases", "POST"), ("/namespaces", "GET")]}
    sent = {key: probe(sandbox, *key) for key in refused}
    out = deploy(lib_envs, tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    for key, fid in refused.items():
        assert_fired(sandbox, fid, exactly=1)
        # what the 503 demands: the request was sent again (each kind is needed for the deploy to succeed)
        assert requests(sandbox, sent[key]) >= 2, (key, requests(sandbox, sent[key]))
    # Helm's refused requests were sent again below Helm (the loopback proxy): no release had to be run twice
    assert "transient API error" not in out.stdout, out.stdout[-3000:]
    for name in ("cert-manager", "metallb", "cluster-issuer", "metallb-config"):
        assert re.search(rf"^\s*{name}\b.*\bchanged\b", out.stdout, re.M), out.stdout
    with release.connect(load_environment("local", lib_envs)) as target:
        for name in ("cert-manager", "metallb"):
            info = target.helm.status(name, namespace=target.env.release(name).namespace)
            assert info is not None and info.status == "deployed", (name, info)
        lock_free_or_expiring(target)


def test_library_that_never_gets_ready_fails_in_one_line_and_frees_the_lock(lib_envs: Path, tmp_path: Path,
                                                                            sandbox: Any) -> None:
    sandbox.faults.add(Fault(kind="never_ready", name_prefix="metallb"))
    out = deploy(lib_envs, tmp_path, "--timeout", "3", "--continue-on-error")
    line = one_line_error(out, 1, "metallb")
    assert "failed" in line
    assert "metallb" in out.stdout and "failed" in out.stdout  # the recap names it
    with release.connect(load_environment("local", lib_envs)) as target:
        info = target.helm.status("metallb", namespace=target.env.release("metallb").namespace)
        assert info is not None and info.status == "failed"  # recoverable: the next deploy upgrades it
        lock_free_or_expiring(target)
    sandbox.faults.clear()
    again = deploy(lib_envs, tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
