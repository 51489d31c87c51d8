"""Helm's client-side OpenAPI check is skipped where the API server validates fields itself (adapters/helm.py):
a chart object with an unknown field is still refused, by the API server (every object Helm writes carries
``fieldValidation=Strict``), on install and on upgrade, and nothing of the refused object is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.environments import load_environment
from prjdevops.errors import HelmOperationError
from prjdevops.ops import release
from tests.integration.conftest import write_env

pytestmark = pytest.mark.integration

REFUSED = r"unknown field|not declared in schema"
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: typo-check
data:
  v: {{ .Values.v | quote }}
{{- if .Values.typo }}
dataa:
  b: "2"
{{- end }}
"""


@pytest.fixture
def typo_target(tmp_path: Path, env_dir: Path, kubeconfig: Path) -> Any:
    chart = tmp_path / "typo-chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "typo-chart", "version": "0.1.0"}))
    (chart / "values.yaml").write_text(yaml.safe_dump({"v": "1", "typo": False}))
    (chart / "templates" / "cm.yaml").write_text(TEMPLATE)
    write_env(env_dir, "typo", kubeconfig, namespaces=["typo"],
              releases=[{"name": "typo", "chart": str(chart), "namespace": "typo", "timeout": 30}])
    with release.connect(load_environment("typo", env_dir)) as target:
        yield target


def configmap(target: Any) -> Any:
    core = target.kube.core()
    return target.kube.get_or_none("read", core.read_namespaced_config_map, "typo-check", "typo")


def test_an_unknown_field_is_refused_by_the_server_on_install_and_upgrade(typo_target: Any) -> None:
    helm, chart = typo_target.helm, typo_target.env.release("typo").chart
    assert typo_target.kube.validates_writes()  # both backends: Helm's own OpenAPI check is skipped below
    with pytest.raises(HelmOperationError, match=REFUSED):
        helm.upgrade_install(chart, "typo", {"v": "1", "typo": True}, namespace="typo", wait=None, timeout=30,
                             exists=False)
    assert helm._server_checks_fields()
    assert configmap(typo_target) is None
    helm.uninstall("typo", namespace="typo")
    first = helm.upgrade_install(chart, "typo", {"v": "1", "typo": False}, namespace="typo", wait=None, timeout=30,
                                 exists=False)
    assert first.status == "deployed"
    # the plan's server-side dry run does not send objects: the server judges them when they are written
    helm.upgrade_install(chart, "typo", {"v": "2", "typo": True}, namespace="typo", wait=None, timeout=30,
                         dry_run="server", exists=True)
    with pytest.raises(HelmOperationError, match=REFUSED):
        helm.upgrade_install(chart, "typo", {"v": "2", "typo": True}, namespace="typo", wait=None, timeout=30,
                             exists=True)
    live = configmap(typo_target)
    assert live is not None and live.data == {"v": "1"}
    last = helm.status("typo", namespace="typo")
    assert last is not None and last.status == "failed" and last.revision == 2
