"""The libraries data: shared definitions in environments/libraries/, per-environment overrides, stand-in pins."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.environments import load_environment, project_root
from prjdevops.errors import ConfigError

SHIPPED = project_root() / "environments"
OFFICIAL = {
    "cert-manager": "https://charts.jetstack.io",
    "metallb": "https://metallb.github.io/metallb",
    "jenkins": "https://charts.jenkins.io",
    "argo-cd": "https://argoproj.github.io/argo-helm",
    "harbor": "oci://registry-1.docker.io/bitnamicharts",
}
IN_REPO = {"metallb-config": "helm/cluster-services/metallb-config",
           "cluster-issuer": "helm/cluster-services/cluster-issuer"}


@pytest.mark.parametrize("name", ["staging", "production"])
def test_remote_environments_use_official_pinned_repositories(name: str) -> None:
    env = load_environment(name, SHIPPED)
    libs = {r.name: r for r in env.releases if r.group != "applications"}
    assert set(libs) == set(OFFICIAL) | set(IN_REPO)
    for rel, repo in OFFICIAL.items():
        assert libs[rel].repo == repo
        assert libs[rel].version and libs[rel].version[0] in "v0123456789"
    for rel, chart in IN_REPO.items():
        assert libs[rel].local_chart and Path(libs[rel].chart) == project_root() / chart
    assert {r.name for r in env.group("cluster-services")} == {"cert-manager", "metallb", "metallb-config",
                                                              "cluster-issuer"}
    assert all(r.tier == 1 for r in env.group("cluster-services"))
    assert all(r.tier == 2 for r in env.group("dev-tools"))
    # everything in tier 2 needs tier 1 (through the config charts, which need the services)
    for tool in env.group("dev-tools"):
        assert set(tool.needs) == {"cluster-issuer", "metallb-config"}
    assert libs["cluster-issuer"].needs == ("cert-manager",)
    assert libs["metallb-config"].needs == ("metallb",)
    suffix = f"values-{name}.yaml"
    assert any(p.name == suffix for p in libs["metallb-config"].values_files)


def test_local_pulls_every_remote_chart_from_the_standin_mirror() -> None:
    env = load_environment("local", SHIPPED)
    assert env.libraries.standins and env.libraries.mirror == "http://127.0.0.1:8879"
    for rel in OFFICIAL:
        # an OCI chart stays OCI: same registry path on the mirror's host
        want = "oci://127.0.0.1:8879/bitnamicharts" if rel == "harbor" else "http://127.0.0.1:8879"
        assert env.release(rel).repo == want


def test_standin_charts_carry_the_pinned_names_and_versions() -> None:
    """The stand-in repository must answer the exact pull the official one would: same name, same version."""
    env = load_environment("production", SHIPPED)
    for rel in OFFICIAL:
        chart = yaml.safe_load((project_root() / "helm" / "standins" / rel / "Chart.yaml").read_text())
        assert (chart["name"], chart["version"]) == (env.release(rel).chart, env.release(rel).version)


def test_argo_cd_standin_defines_application_and_appproject_crds() -> None:
    text = (project_root() / "helm/standins/argo-cd/templates/crds.yaml").read_text()
    for kind in ("kind: Application\n", "kind: AppProject\n"):
        assert kind in text
    assert "group: argoproj.io" in text and "name: v1alpha1" in text


def _copy_envs(tmp_path: Path, libraries: dict[str, Any] | None, shared: dict[str, dict[str, Any]] | None = None
               ) -> Path:
    """An environments folder with one `t` environment; shared definitions copied or replaced."""
    root = tmp_path / "proj"
    (root / "environments").mkdir(parents=True)
    (root / "helm").symlink_to(project_root() / "helm")
    libdir = root / "environments" / "libraries"
    if shared is None:
        shutil.copytree(SHIPPED / "libraries", libdir)
    else:
        libdir.mkdir()
        for name, body in shared.items():
            (libdir / f"{name}.yaml").write_text(yaml.safe_dump(body))
    doc: dict[str, Any] = {"cluster": {"context": "x"}}
    if libraries is not None:
        doc["libraries"] = libraries
    (root / "environments" / "t.yaml").write_text(yaml.safe_dump(doc))
    return root / "environments"


def test_no_libraries_section_means_no_libraries(tmp_path: Path) -> None:
    assert load_environment("t", _copy_envs(tmp_path, None)).releases == ()


def test_overrides_disable_append_values_and_sets_and_replace_the_rest(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("controller: {serviceType: NodePort}\n")
    d = _copy_envs(tmp_path, {"releases": {
        "harbor": {"enabled": False},
        "jenkins": {"values": [str(extra)], "set": ["controller.admin.username=ops"], "timeout": 42},
    }})
    env = load_environment("t", d)
    assert env.release("harbor").enabled is False
    jenkins = env.release("jenkins")
    assert [p.name for p in jenkins.values_files] == ["values.yaml", "extra.yaml"]  # no values-t.yaml exists
    assert jenkins.set_values == ("controller.admin.username=ops",)
    assert jenkins.timeout == 42 and jenkins.version == "5.7.21"


@pytest.mark.parametrize(
    ("libraries", "shared", "fragments"),
    [
        ({"releases": {"jenkinz": {}}}, None,
         ["libraries.releases.jenkinz: no shared definition libraries/jenkinz.yaml"]),
        ({"releases": {"jenkins": {"name": "x"}}}, None, ["libraries.releases.jenkins.name: unknown key"]),
        ({"releases": {"jenkins": {"enabled": "no"}}}, None, ["libraries.releases.jenkins.enabled: must be"]),
        ({"standins": True}, None, ["libraries.standins: needs libraries.mirror"]),
        ({"mirror": 5}, None, ["libraries.mirror: must be"]),
        ({}, {"a": {"name": "b", "chart": "x", "namespace": "a", "repo": "http://r", "version": "1"}},
         ["a.yaml: name: is 'b' but the file is named a.yaml"]),
        ({}, {"a": {"name": "a", "chart": "x", "namespace": "a", "repo": "http://r"}},
         ["libraries.releases.a.version: a chart from a repository must pin its version"]),
        ({}, {"a": {"name": "a", "chart": "x", "namespace": "a", "repo": "http://r", "version": "1", "needs": ["b"]},
              "b": {"name": "b", "chart": "x", "namespace": "b", "repo": "http://r", "version": "1", "needs": ["a"]}},
         ["dependency cycle: a -> b -> a"]),
        ({}, {"a": {"name": "a", "chart": "x", "namespace": "a", "repo": "http://r", "version": "1",
                    "needs": ["ghost"]}},
         ["names unknown release 'ghost'"]),
    ],
)
def test_bad_library_data_is_reported_with_file_and_key(tmp_path: Path, libraries: dict[str, Any],
                                                         shared: dict[str, dict[str, Any]] | None,
                                                         fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_environment("t", _copy_envs(tmp_path, libraries, shared))
    for fragment in fragments:
        assert fragment in str(err.value)
