"""`invoke prod.deploy --verify`: the verify suite gates the production deploy; a failing check rolls back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prjdevops.ops import release
from prjdevops.verify import runner
from tests.integration.conftest import invoke
from tests.integration.test_production_flow import prod_env

pytestmark = pytest.mark.integration

NS = "plate-web"


def tls_secret(api_client: Any, name: str) -> None:
    from kubernetes import client

    client.CoreV1Api(api_client).create_namespaced_secret(NS, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name), type="kubernetes.io/tls",
        string_data={"tls.crt": "cert", "tls.key": "key"}))


def test_failing_verify_rolls_back_and_names_the_failed_check(env_dir: Path, kubeconfig: Path, cluster: Any,
                                                              api_client: Any, monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    reports = env_dir.parent / "reports"  # the gate's JUnit XML and log, outside the repository
    monkeypatch.setenv(runner.REPORTS_ENV, str(reports))
    env = prod_env(env_dir, kubeconfig, cluster)
    first = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--verify"], env_dir)
    # no TLS secret yet, and nothing to roll back to: the first deploy fails the gate and stays failed
    assert first.returncode == 1 and "TLS secret plate-web-tls not found" in first.stderr, first.stderr
    tls_secret(api_client, "plate-web-tls")
    again = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--verify", "--set", "image.tag=1.4.3"], env_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "verify: " in again.stdout and "0 failed" in again.stdout
    assert f"(JUnit XML {reports / 'verify-prodlike.xml'})" in again.stdout
    assert "plate-web: deployed, revision 2" in again.stdout

    new_tls = env_dir.parent / "new-tls.yaml"  # a TLS secret nobody created: the ingress check must fail
    new_tls.write_text("ingress:\n  tls:\n    - secretName: plate-web-new-tls\n"
                       "      hosts: [plate-web.example.internal]\n")
    bad = invoke(["prod.deploy", "--env", "prodlike", "--yes", "--verify", "--set", "image.tag=1.4.4",
                  "--values", str(new_tls)], env_dir)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "failed and was rolled back to revision 2" in bad.stderr
    assert (f"ingresses/{NS}/plate-web: ingress/{NS}/plate-web: TLS secret plate-web-new-tls not found in namespace "
            f"{NS}") in bad.stderr
    with release.connect(env) as target:
        now = target.helm.status("plate-web", namespace=NS)
        assert now is not None and now.status == "deployed" and now.revision == 4
        assert "plate-web-tls" in now.manifest and "plate-web-new-tls" not in now.manifest
