"""Argo CD App-of-Apps, the pure parts: generation, waves, validation of committed files, status parsing.

Tables come from tests/unit/fixtures/argocd_cases.yaml; Helm is a recording fake here except in
``test_the_committed_files_validate_with_real_helm`` (the repository's own environments/argocd/).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops import argocd
from prjdevops.environments import environments_dir, load_environment, project_root
from prjdevops.errors import ConfigError, DeployError, HelmOperationError
from prjdevops.model import Environment, Release

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "argocd_cases.yaml").read_text(encoding="utf-8"))
REPO_URL = "https://git.example/repo.git"


def merged(base: Any, override: Any) -> Any:
    if not isinstance(override, dict) or not isinstance(base, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for k, v in override.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merged(out.get(k), v)
    return out


def settings(tmp: Path, envs: dict[str, str] | None = None) -> argocd.Settings:
    return argocd.Settings(file=tmp / "environments" / "argocd" / "config.yaml", repo_url=REPO_URL,
                           revisions=envs or {"demo": "main"})


# --- check_application ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES["applications"], ids=[c["id"] for c in CASES["applications"]])
def test_check_application(case: dict[str, Any], tmp_path: Path) -> None:
    doc = merged(CASES["base"], case["override"])
    found = argocd.check_application(doc, projects=["default", "cocdev-platform"],
                                     namespaces=["plate-web", "cert-manager", "argocd"], settings=settings(tmp_path))
    if not case["problems"]:
        assert found == []
    for fragment in case["problems"]:
        assert any(fragment in p for p in found), (fragment, found)


# --- status -----------------------------------------------------------------------------------------------------

REACHED = {"health+sync": dict(health=True, sync=True), "health": dict(health=True, sync=False),
           "sync": dict(health=False, sync=True),
           "revision-match": dict(health=True, sync=True, revision="0123456789abcdef"),
           "revision-other": dict(health=True, sync=True, revision="fedcba9876543210")}


@pytest.mark.parametrize("case", CASES["status"], ids=[c["id"] for c in CASES["status"]])
def test_parse_status_and_reached(case: dict[str, Any]) -> None:
    st = argocd.parse_status(case["app"])
    for key, want in case["expect"].items():
        got: Any = getattr(st, key)
        if key == "out_of_sync":
            got = [f"{r.kind}/{r.name}" for r in got]
        elif key == "conditions":
            got = list(got)
        assert got == want, key
    for label, want in case["reached"].items():
        assert argocd.reached(st, **REACHED[label]) is want, label  # type: ignore[arg-type]
    data = st.to_json()  # JSON-able, with the fields `argocd app get -o json` users look for
    assert data["sync"]["status"] == st.sync and data["health"]["status"] == st.health
    assert yaml.safe_load(yaml.safe_dump(data)) == data


def test_state_line_names_operation_and_out_of_sync() -> None:
    case = next(c for c in CASES["status"] if c["id"] == "out-of-sync-resources-and-degraded")
    line = argocd.state_line(argocd.parse_status(case["app"]))
    assert line == ("sync OutOfSync, health Degraded, revision 0123456789ab, last operation Failed: one or more "
                    "objects failed to apply, 1 resource(s) out of sync")


def test_sync_operation_is_what_the_cli_writes() -> None:
    op = argocd.sync_operation(prune=True, request_id="r1")
    assert op["sync"] == {"prune": True, "syncStrategy": {"hook": {}}}
    assert op["initiatedBy"] == {"username": "prjdevops"}
    assert {"name": "Request", "value": "r1"} in op["info"]
    assert argocd.sync_operation(prune=False, request_id="r", revision="abc")["sync"]["revision"] == "abc"


# --- waves ------------------------------------------------------------------------------------------------------


def rel(name: str, tier: int, needs: tuple[str, ...] = (), enabled: bool = True) -> Release:
    return Release(name=name, chart="c", namespace="n", tier=tier, needs=needs, enabled=enabled)


@pytest.mark.parametrize(("releases", "want"), [
    pytest.param([rel("a", 1)], {"a": 1}, id="single"),
    pytest.param([rel("app", 3), rel("cm", 1)], {"cm": 1, "app": 2}, id="tiers-in-order-without-gaps"),
    pytest.param([rel("cert-manager", 1), rel("metallb", 1), rel("issuer", 1, ("cert-manager",)),
                  rel("pools", 1, ("metallb",)), rel("jenkins", 2, ("issuer", "pools")), rel("argo", 2),
                  rel("plate-web", 3)],
                 {"cert-manager": 1, "metallb": 1, "issuer": 2, "pools": 2, "jenkins": 3, "argo": 3,
                  "plate-web": 4}, id="the-platform"),
    pytest.param([rel("a", 1), rel("b", 1, ("a",)), rel("c", 1, ("b",)), rel("d", 2)],
                 {"a": 1, "b": 2, "c": 3, "d": 4}, id="chain-inside-a-tier-pushes-the-next-tier"),
    pytest.param([rel("a", 1), rel("b", 2, ("a",), enabled=False), rel("c", 2)], {"a": 1, "c": 2},
                 id="disabled-release-has-no-app"),
])
def test_waves(releases: list[Release], want: dict[str, int]) -> None:
    assert argocd.waves(releases) == want


# --- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fragment"), [
    ("environments: {demo: {targetRevision: main}}", "repoURL: is required"),
    (f"repoURL: {REPO_URL}", "environments: must map environment names"),
    (f"repoURL: {REPO_URL}\nenvironments: {{demo: {{}}}}", "environments.demo.targetRevision: must be"),
    (f"repoURL: {REPO_URL}\nenvironments: {{demo: {{targetRevision: main}}}}\ncolour: red", "colour: unknown key"),
    ("repoURL: ''\nenvironments: {demo: {targetRevision: main}}", "repoURL: must be a non-empty string"),
])
def test_bad_settings_are_named(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        argocd.load_settings(tmp_path)
    assert fragment in str(err.value) and str(tmp_path / "config.yaml") in str(err.value)


def test_missing_settings_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        argocd.load_settings(tmp_path)


# --- a project folder: render, drift, validate ------------------------------------------------------------------


def project(tmp_path: Path, releases: list[dict[str, Any]] | None = None) -> tuple[Path, Environment]:
    """<tmp>/proj: plate-web copied in, a repo chart's values file, a cert-manager stand-in, one environment."""
    root = tmp_path / "proj"
    shutil.copytree(project_root() / "helm" / "applications" / "plate-web", root / "helm/applications/plate-web")
    (root / "helm/libraries/cert-manager").mkdir(parents=True)
    (root / "helm/libraries/cert-manager/values.yaml").write_text("crds: {enabled: true}\n")
    (root / "helm/standins/cert-manager").mkdir(parents=True)
    (root / "helm/standins/cert-manager/Chart.yaml").write_text(
        "apiVersion: v2\nname: cert-manager\nversion: v1.16.2\n")
    envs = root / "environments"
    (envs / "argocd").mkdir(parents=True)
    (envs / "argocd/config.yaml").write_text(f"repoURL: {REPO_URL}\nenvironments: {{demo: {{targetRevision: main}}}}\n")
    doc = {"cluster": {"context": "demo"}, "namespaces": ["plate-web"], "releases": releases if releases is not None
           else [{"name": "cert-manager", "chart": "cert-manager", "repo": "https://charts.jetstack.io",
                  "version": "v1.16.2", "namespace": "cert-manager", "group": "cluster-services",
                  "values": ["helm/libraries/cert-manager/values.yaml"]},
                 {"name": "jenkins", "chart": "jenkins", "repo": "https://charts.jenkins.io", "version": "5.7.21",
                  "namespace": "jenkins", "group": "dev-tools", "needs": ["cert-manager"]},
                 {"name": "plate-web", "chart": "helm/applications/plate-web", "namespace": "plate-web",
                  "values": ["values-stg.yaml"], "set": ["replicaCount=2"], "needs": ["cert-manager"]}]}
    (envs / "demo.yaml").write_text(yaml.safe_dump(doc))
    return root, load_environment("demo", envs)


class FakeHelm:
    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any], str, str]] = []
        self.fail = fail

    def render(self, chart: Path, values: dict[str, Any], release: str, namespace: str) -> None:
        self.calls.append((chart.name, values, release, namespace))
        if chart.name == self.fail:
            raise HelmOperationError("template", release, namespace, "parse error in deployment.yaml")

    @staticmethod
    def load_values(path: Path) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        return data

    @staticmethod
    def parse_set(expr: str) -> dict[str, Any]:
        key, _, value = expr.partition("=")
        if not key:
            raise DeployError("bad --set")
        return {key: int(value) if value.isdigit() else value}


def run_validate(root: Path, env: Environment, helm: FakeHelm | None = None) -> argocd.Report:
    helm = helm or FakeHelm()
    st = argocd.load_settings(root / "environments" / "argocd")
    return argocd.validate([env], st, root, render_chart=helm.render, load_values=helm.load_values,
                           parse_set=helm.parse_set)


def rendered(root: Path, env: Environment) -> argocd.Settings:
    st = argocd.load_settings(root / "environments" / "argocd")
    argocd.write(st.directory, argocd.render([env], st, root))
    return st


def read(path: Path) -> Any:
    return argocd.read_documents(path)


def test_generated_children_root_and_health_check(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    st = rendered(root, env)
    apps = st.directory / "apps" / "demo"
    assert sorted(p.name for p in apps.iterdir()) == ["cert-manager.yaml", "jenkins.yaml", "plate-web.yaml"]
    [web] = read(apps / "plate-web.yaml")
    assert web["metadata"]["annotations"] == {argocd.WAVE: "3"}
    assert web["spec"]["source"] == {
        "repoURL": REPO_URL, "targetRevision": "main", "path": "helm/applications/plate-web",
        "helm": {"releaseName": "plate-web", "valueFiles": ["values-stg.yaml"],
                 "parameters": [{"name": "replicaCount", "value": "2"}]}}
    assert web["spec"]["destination"] == {"server": argocd.IN_CLUSTER, "namespace": "plate-web"}
    assert web["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    [cm] = read(apps / "cert-manager.yaml")
    assert cm["metadata"]["annotations"] == {argocd.WAVE: "1"}
    assert cm["spec"]["sources"] == [
        {"repoURL": "https://charts.jetstack.io", "chart": "cert-manager", "targetRevision": "v1.16.2",
         "helm": {"releaseName": "cert-manager", "valueFiles": ["$values/helm/libraries/cert-manager/values.yaml"]}},
        {"repoURL": REPO_URL, "targetRevision": "main", "ref": "values"}]
    project_doc, root_doc = read(st.directory / "app-of-apps.yaml")
    assert root_doc["metadata"]["name"] == "cocdev-platform-apps"
    assert root_doc["spec"]["source"]["path"] == "environments/argocd/apps/demo"
    assert root_doc["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert root_doc["spec"]["project"] == project_doc["metadata"]["name"] == "cocdev-platform"
    assert {d["namespace"] for d in project_doc["spec"]["destinations"]} == \
        {"plate-web", "cert-manager", "jenkins", "argocd"}
    [cmap] = read(st.directory / "argocd-cm.yaml")
    lua = cmap["data"]["resource.customizations.health.argoproj.io_Application"]
    assert "obj.status.health.status" in lua and cmap["metadata"] == {
        "name": "argocd-cm", "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}}
    assert "hs.status = obj.status.health.status\n" in (st.directory / "argocd-cm.yaml").read_text()  # a | block
    report = run_validate(root, env)
    assert report.ok, report.problems
    assert report.rendered == ["demo/cert-manager", "demo/plate-web"]
    assert report.skipped == [f"{apps / 'jenkins.yaml'}: Application 'jenkins': chart jenkins 5.7.21 from "
                              "https://charts.jenkins.io not rendered: no stand-in chart at that version and its "
                              "repository is not used offline"]


def test_validate_renders_with_layered_values(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    rendered(root, env)
    helm = FakeHelm()
    run_validate(root, env, helm)
    calls = {c[0]: c for c in helm.calls}
    assert calls["cert-manager"][1:] == ({"crds": {"enabled": True}}, "cert-manager", "cert-manager")
    values = calls["plate-web"][1]
    assert values["replicaCount"] == 2  # the parameter wins over values-stg.yaml
    assert values == {**yaml.safe_load((root / "helm/applications/plate-web/values-stg.yaml").read_text()),
                      "replicaCount": 2}


def test_render_is_stable_and_write_reports_only_changes(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    st = argocd.load_settings(root / "environments" / "argocd")
    files = argocd.render([env], st, root)
    assert files == argocd.render([env], st, root)
    assert len(argocd.write(st.directory, files)) == 5
    assert argocd.write(st.directory, files) == []
    assert argocd.drift(st.directory, files) == []


@pytest.mark.parametrize("edit", ["differs", "missing", "extra"])
def test_drift_is_a_problem_naming_the_file(tmp_path: Path, edit: str) -> None:
    root, env = project(tmp_path)
    st = rendered(root, env)
    path = st.directory / "apps" / "demo" / ("stale.yaml" if edit == "extra" else "plate-web.yaml")
    if edit == "differs":
        path.write_text(path.read_text().replace("replicaCount", "replicas"))
    elif edit == "missing":
        path.unlink()
    else:
        shutil.copy(st.directory / "apps" / "demo" / "plate-web.yaml", path)
    report = run_validate(root, env)
    assert [d.change for d in report.drifted] == [edit]
    assert any(p.startswith(f"{path}: ") and "invoke argocd.render" in p for p in report.problems), report.problems
    if edit == "differs":
        assert "-      - name: replicas\n+      - name: replicaCount" in report.drifted[0].diff
    if edit == "extra":  # a copy: its name is used twice
        assert any("name is used twice in demo" in p for p in report.problems)
    argocd.write(st.directory, argocd.render([env], st, root))
    assert run_validate(root, env).ok


def edit_app(path: Path, change: Any) -> None:
    [doc] = read(path)
    change(doc)
    path.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize(("app", "change", "fragment"), [
    ("plate-web", lambda d: d["spec"].pop("destination"), "Application 'plate-web': has no spec.destination"),
    ("plate-web", lambda d: d["spec"].update(project="platform"),
     "Application 'plate-web': names unknown project 'platform' (known: cocdev-platform, default)"),
    ("plate-web", lambda d: d["spec"]["destination"].update(namespace="payments"),
     "Application 'plate-web': spec.destination.namespace 'payments' is not a namespace of the environment"),
    ("plate-web", lambda d: d["spec"]["source"].update(path="helm/applications/plate-wbe"),
     "Application 'plate-web': source path 'helm/applications/plate-wbe' does not exist in the repository"),
    ("plate-web", lambda d: d["spec"]["source"].update(path="environments"),
     "Application 'plate-web': source path 'environments' holds no Helm chart"),
    ("plate-web", lambda d: d["spec"]["source"]["helm"].update(valueFiles=["values-qa.yaml"]),
     "Application 'plate-web': values file 'values-qa.yaml' does not exist"),
    ("plate-web", lambda d: d["spec"]["source"]["helm"].update(valueFiles=["../../../../outside.yaml"]),
     "Application 'plate-web': values file '../../../../outside.yaml' is outside the repository"),
    ("plate-web", lambda d: d["metadata"]["annotations"].update({argocd.WAVE: "1"}),
     "Application 'plate-web' (sync wave 1) needs 'cert-manager', whose wave is 1"),
    ("jenkins", lambda d: d["metadata"].update(name="cert-manager"),
     "Application 'cert-manager': name is used twice in demo"),
    ("cert-manager", lambda d: d["spec"]["sources"][0]["helm"].update(valueFiles=["$vals/x.yaml"]),
     "Application 'cert-manager': values file '$vals/x.yaml' names unknown source ref $vals"),
    ("cert-manager", lambda d: d["spec"]["sources"][0].update(targetRevision="HEAD"),
     "Application 'cert-manager': chart 'cert-manager' must pin targetRevision to a version"),
])
def test_hand_edited_child_is_named_with_file_and_app(tmp_path: Path, app: str, change: Any, fragment: str) -> None:
    root, env = project(tmp_path)
    st = rendered(root, env)
    path = st.directory / "apps" / "demo" / f"{app}.yaml"
    edit_app(path, change)
    report = run_validate(root, env)
    assert any(p.startswith(f"{path}: ") and fragment in p for p in report.problems), report.problems


def test_root_app_problems_are_named(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    st = rendered(root, env)
    path = st.directory / "app-of-apps.yaml"
    docs = read(path)
    docs[1]["spec"].pop("destination")
    docs[1]["spec"]["source"]["path"] = "environments/argocd/apps/other"
    path.write_text(yaml.safe_dump_all(docs))
    problems = run_validate(root, env).problems
    assert f"{path}: Application 'cocdev-platform-apps' (demo): has no spec.destination (server or name, and " \
           "namespace)" in problems
    assert any("source path must be 'environments/argocd/apps/demo'" in p for p in problems), problems


def test_render_failure_names_the_file_the_app_and_helms_message(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    st = rendered(root, env)
    problems = run_validate(root, env, FakeHelm(fail="plate-web")).problems
    assert problems == [f"{st.directory / 'apps/demo/plate-web.yaml'}: Application 'plate-web': chart "
                        "helm/applications/plate-web does not render with its values: helm template of release "
                        "'plate-web' in namespace 'plate-web' failed: parse error in deployment.yaml"]


def test_chart_outside_the_repository_cannot_be_an_argo_app(tmp_path: Path) -> None:
    outside = project_root() / "helm" / "applications" / "plate-web"
    root, env = project(tmp_path, [{"name": "plate-web", "chart": str(outside), "namespace": "plate-web"}])
    st = argocd.load_settings(root / "environments" / "argocd")
    with pytest.raises(ConfigError, match=r"is outside the repository .*Argo CD can only read files of the Git"):
        argocd.render([env], st, root)


def test_settings_naming_an_environment_without_a_file(tmp_path: Path) -> None:
    root, env = project(tmp_path)
    st = argocd.Settings(file=root / "environments/argocd/config.yaml", repo_url=REPO_URL,
                         revisions={"demo": "main", "qa": "main"})
    with pytest.raises(ConfigError, match="environments: qa has no environment file"):
        argocd.render([env], st, root)


def test_the_committed_files_validate_with_real_helm() -> None:
    """environments/argocd/ as committed: no drift from the environment files, every child app renders."""
    from prjdevops.ops import gitops

    report = gitops.validate(environments_dir())
    assert report.ok, "\n".join(report.problems)
    st = argocd.load_settings(environments_dir() / "argocd")
    for env in st.revisions:
        names = [p.stem for p in (st.directory / "apps" / env).glob("*.yaml")]
        assert names and all(f"{env}/{n}" in report.rendered for n in names), (names, report.skipped)
        [cm_app] = read(st.directory / "apps" / env / "cert-manager.yaml")
        [web] = read(st.directory / "apps" / env / "plate-web.yaml")
        assert int(cm_app["metadata"]["annotations"][argocd.WAVE]) < int(web["metadata"]["annotations"][argocd.WAVE])


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d["spec"].pop("destination"), "has no spec.destination"),
    (lambda d: d["spec"].update(project="platform"), "names unknown project 'platform' (known: cocdev-platform, "
                                                     "default)"),
])
def test_bootstrap_refuses_a_bad_root_app_naming_it(tmp_path: Path, change: Any, fragment: str) -> None:
    from prjdevops.ops import gitops

    root, env = project(tmp_path)
    st = rendered(root, env)
    path = st.directory / "app-of-apps.yaml"
    docs = read(path)
    change(docs[1])
    path.write_text(yaml.safe_dump_all(docs))
    with pytest.raises(ConfigError) as err:
        gitops.documents_for(st, "demo")
    assert str(err.value).startswith(f"{path}: Application 'cocdev-platform-apps': ") and fragment in str(err.value)


def test_bootstrap_documents_in_apply_order(tmp_path: Path) -> None:
    from prjdevops.ops import gitops

    root, env = project(tmp_path)
    st = rendered(root, env)
    assert [(d["kind"], d["metadata"]["name"]) for d in gitops.documents_for(st, "demo")] == [
        ("ConfigMap", "argocd-cm"), ("AppProject", "cocdev-platform"), ("Application", "cocdev-platform-apps")]
    with pytest.raises(ConfigError, match="environment 'prod' has 0 root Applications"):
        gitops.documents_for(st, "prod")


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://git.example.internal/cocdev/prj-devops.git", "git@git.example.internal:cocdev/prj-devops.git", True),
    ("https://git.example.internal/cocdev/prj-devops", "ssh://git@git.example.internal/cocdev/prj-devops.git/", True),
    ("https://GIT.example.internal/cocdev/prj-devops.git", "https://git.example.internal/cocdev/prj-devops.git", True),
    ("/tmp/origin.git", "/tmp/origin.git", True),
    ("https://git.example.internal/cocdev/prj-devops.git", "https://git.example.internal/cocdev/other.git", False),
    ("ssh://git@host:2222/x/y.git", "ssh://git@host/x/y.git", False),
])
def test_same_repository(a: str, b: str, same: bool) -> None:
    from prjdevops.adapters.git import same_repository

    assert same_repository(a, b) is same


@pytest.mark.parametrize(("app", "status", "message"), [
    pytest.param({}, "Progressing", "", id="no-status-yet"),
    pytest.param({"status": {"sync": {"status": "Synced"}}}, "Progressing", "", id="no-health-yet"),
    pytest.param({"status": {"health": {"status": "Healthy"}}}, "Healthy", "", id="healthy"),
    pytest.param({"status": {"health": {"status": "Degraded", "message": "0/1 ready"}}}, "Degraded", "0/1 ready",
                 id="degraded-with-message"),
    pytest.param({"status": {"health": {"status": "Missing"}}}, "Missing", "", id="missing"),
])
def test_the_health_check_lua_as_argocd_runs_it(app: dict[str, Any], status: str, message: str) -> None:
    """The argocd-cm Lua in a Lua 5.1 runtime (Argo CD's gopher-lua is 5.1): a child app's own health."""
    from lupa import lua51

    lua = lua51.LuaRuntime()
    check = lua.eval(f"function(obj)\n{argocd.HEALTH_LUA}\nend")
    hs = check(lua.table_from({"apiVersion": argocd.API_VERSION, "kind": "Application", **app}, recursive=True))
    assert (hs["status"], hs["message"]) == (status, message)
