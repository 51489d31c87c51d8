"""The plan reads less and skips Helm's client-side OpenAPI probe, and still says exactly what Helm says.

Real Helm v4 and the official client, on the sandbox and on the real control plane (plate-web only: a Deployment,
Service, Ingress, HPA and PDB, which kwok's nodes run too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prjdevops.environments import load_environment
from prjdevops.errors import DeployError
from prjdevops.manifests import parse_manifest
from prjdevops.ops import plan as planmod
from prjdevops.ops import release
from tests.integration.conftest import write_env

pytestmark = pytest.mark.integration


def _objects(info: Any, namespace: str) -> list[dict[str, Any]]:
    return parse_manifest(info.manifest, namespace)


def _helms_own_dry_run(target: Any, prep: release.Prepared, *, exists: bool) -> Any:
    rel = prep.release
    return target.helm.upgrade_install(rel.chart, rel.name, prep.values.values, namespace=rel.namespace, wait=None,
                                       timeout=rel.timeout, dry_run="server", exists=exists)


def test_the_api_server_validates_the_fields_of_plate_webs_kinds(target: Any) -> None:
    """The check kubectl makes before Helm builds objects, read from the server's OpenAPI v3 documents: true for
    plate-web's kinds on both backends, false for a kind or group-version the server does not document."""
    prep = release.prepare(target.env, "plate-web")
    kinds = planmod.kinds_of(_objects(_helms_own_dry_run(target, prep, exists=False), "plate-web"))
    assert {k for _, _, k in kinds} >= {"Deployment", "Service", "Ingress"}, kinds
    assert target.kube.validates_fields(kinds)
    assert not target.kube.validates_fields({("apps", "v1", "NoSuchKind")})
    assert not target.kube.validates_fields({("no-such-group.example.com", "v1", "Thing")})
    assert not target.kube.validates_fields(kinds | {("", "v1", "NoSuchKind")})


def test_the_plans_dry_run_renders_what_helms_own_dry_run_renders(target: Any) -> None:
    """Install and upgrade: the plan's dry run (without the client-side probe) gives the objects Helm's own dry
    run (with it) gives, and so the same plan."""
    prep = release.prepare(target.env, "plate-web")
    info, objects = planmod.server_dry_run(target, prep, exists=False)
    assert objects == _objects(_helms_own_dry_run(target, prep, exists=False), "plate-web")
    assert info.chart == "plate-web" and objects
    release.deploy(target, prep, wait=False)
    changed = release.prepare(target.env, "plate-web", sets=["replicaCount=3"])
    info, objects = planmod.server_dry_run(target, changed, exists=True)
    assert objects == _objects(_helms_own_dry_run(target, changed, exists=True), "plate-web")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    plan = planmod.plan_release(target, changed)
    assert plan.validation == planmod.SERVER and plan.action.kind == planmod.UPGRADE
    assert [d.key[0] for d in plan.diffs] == ["Deployment"], plan.diffs


def test_a_dry_run_helm_refuses_reports_helms_own_message(tmp_path: Path, kubeconfig: Path) -> None:
    """A kind the API server does not serve: the plan's validation is Helm's own refusal, word for word."""
    chart = tmp_path / "unknown-kind"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: unknown-kind\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("{}\n")
    (chart / "templates" / "thing.yaml").write_text(
        "apiVersion: no-such-group.example.com/v1\nkind: Thing\nmetadata:\n  name: thing\n")
    envs = tmp_path / "envs"
    write_env(envs, "odd", kubeconfig, namespaces=["odd"],
              releases=[{"name": "odd", "chart": str(chart), "namespace": "odd", "timeout": 30}])
    with release.connect(load_environment("odd", envs)) as target:
        prep = release.prepare(target.env, "odd")
        plan = planmod.plan_release(target, prep)
        with pytest.raises(DeployError) as helm_says:
            _helms_own_dry_run(target, prep, exists=False)
    assert plan.rejected, plan.validation
    assert plan.validation == "failed: " + prep.redactor.text(str(helm_says.value))


def test_one_read_of_a_release_is_what_status_and_get_values_read(target: Any) -> None:
    """``helm get all`` (one read) gives the revision, status, manifest and user values that status and get values
    (two reads) give, and its description; Helm's list of every release finds the installed one and not the
    others, which are then not read at all."""
    prep = release.prepare(target.env, "plate-web", sets=["replicaCount=2"])
    release.deploy(target, prep, wait=False, description="first of two")
    release.deploy(target, prep, wait=False, description="second of two")
    info, values = target.helm.get_all("plate-web", namespace="plate-web")
    status = target.helm.status("plate-web", namespace="plate-web")
    assert (info.revision, info.status, info.manifest, info.chart, info.chart_version, info.updated) == \
        (status.revision, status.status, status.manifest, status.chart, status.chart_version, status.updated)
    assert values == target.helm.get_values("plate-web", namespace="plate-web") and values["replicaCount"] == 2
    assert info.revision == 2 and info.description == "second of two"
    assert target.helm.get_all("nothing-here", namespace="plate-web") is None

    found = planmod.read_all_live(target, [("plate-web", "plate-web"), ("nothing-here", "plate-web"),
                                           ("plate-web", "elsewhere")])
    assert found[("plate-web", "plate-web")].state() == planmod.read_live(target, "plate-web", "plate-web").state()
    assert found[("plate-web", "plate-web")].info is not None
    assert found[("nothing-here", "plate-web")].info is None and found[("plate-web", "elsewhere")].info is None
