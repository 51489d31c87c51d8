"""Environment files: the shipped ones load with the right guards; broken ones report file, key and reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.environments import ENV_VAR, environments_dir, known_environments, load_environment, project_root
from prjdevops.errors import ConfigError, EnvironmentNotFound

FIXTURES = Path(__file__).parent / "fixtures"
SHIPPED = project_root() / "environments"
BROKEN = yaml.safe_load((FIXTURES / "broken_environments.yaml").read_text(encoding="utf-8"))


def _overlay(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Fixture overlay: mappings merge, anything else replaces, None removes the key (to make it missing)."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out


def _project(tmp_path: Path, env: dict[str, Any] | str, name: str = "demo") -> Path:
    """A throwaway project: environments/<name>.yaml plus charts/app with a values file; returns the env dir."""
    chart = tmp_path / "charts" / "app"
    chart.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n", encoding="utf-8")
    (chart / "values-demo.yaml").write_text("replicaCount: 1\n", encoding="utf-8")
    env_dir = tmp_path / "environments"
    env_dir.mkdir(exist_ok=True)
    text = env if isinstance(env, str) else yaml.safe_dump(env, sort_keys=False)
    (env_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
    return env_dir


# --- the shipped environments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "context", "confirm", "pattern", "check_api_server", "forbid_latest", "sandbox", "values_file"),
    [
        ("local", "sandbox", False, None, False, False, True, "values-stg.yaml"),
        ("staging", "staging", False, None, False, False, False, "values-stg.yaml"),
        ("production", "production", True, "(^|[-_.])(prod|production)($|[-_.])", True, True, False,
         "values-prod.yaml"),
    ],
)
def test_shipped_environments_load(name: str, context: str, confirm: bool, pattern: str | None,
                                   check_api_server: bool, forbid_latest: bool, sandbox: bool,
                                   values_file: str) -> None:
    env = load_environment(name, SHIPPED)
    assert env.name == name
    assert env.file == SHIPPED / f"{name}.yaml"
    assert env.cluster.context == context
    assert env.cluster.sandbox is sandbox
    assert env.guards.confirm is confirm
    assert env.guards.context_pattern == pattern
    assert env.guards.check_api_server is check_api_server
    assert env.guards.forbid_latest_tag is forbid_latest
    assert env.guards.lock is True
    (release,) = env.group("applications")  # the libraries are tested in test_libraries_config.py
    assert release.name == "plate-web"
    assert release.namespace == "plate-web"
    assert release.local_chart
    assert Path(release.chart) == project_root() / "helm/applications/plate-web"
    assert release.values_files == (Path(release.chart) / values_file,)
    assert all(f.is_file() for f in release.values_files)


def test_known_environments_lists_the_shipped_files() -> None:
    assert known_environments(SHIPPED) == ["local", "production", "staging"]


def test_production_records_its_api_server() -> None:
    env = load_environment("production", SHIPPED)
    assert env.cluster.api_server == "https://k8s.prod.example.internal:6443"
    assert env.backup.enabled and env.backup.keep == 20
    assert env.backup.dir == project_root() / "backups"


def test_local_kubeconfig_resolves_against_the_project_root() -> None:
    env = load_environment("local", SHIPPED)
    assert env.cluster.kubeconfig == project_root() / ".prjdevops/sandbox/kubeconfig"


# The guard uses re.search (prjdevops.guards.check_cluster): separators or string ends around prod/production.
@pytest.mark.parametrize(
    ("context", "matches"),
    [
        ("production", True), ("prod", True), ("prod-eu", True), ("eu-prod", True), ("gke_prod_1", True),
        ("team.production.eu", True), ("production-2", True),
        ("staging", False), ("reproduction", False), ("preprod", False), ("product", False),
        ("prodigy", False), ("PROD", False), ("", False),
    ],
)
def test_production_context_pattern(context: str, matches: bool) -> None:
    pattern = load_environment("production", SHIPPED).guards.context_pattern
    assert pattern is not None
    assert bool(re.search(pattern, context)) is matches


# --- finding environments -------------------------------------------------------------------------------


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(EnvironmentNotFound) as exc:
        load_environment("qa", SHIPPED)
    msg = str(exc.value)
    assert "unknown environment 'qa'" in msg
    assert "known environments: local, production, staging" in msg
    assert str(SHIPPED) in msg


def test_unknown_environment_in_an_empty_folder_says_none(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentNotFound, match="known environments: none"):
        load_environment("qa", tmp_path)


@pytest.mark.parametrize("name", ["Production", "../production", "prod/uction", "prod env", "", "-prod", "prod-"])
def test_invalid_environment_name(name: str) -> None:
    with pytest.raises(EnvironmentNotFound, match=r"invalid environment name"):
        load_environment(name, SHIPPED)


def test_environments_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert environments_dir() == SHIPPED
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert environments_dir() == tmp_path / "from-env"
    assert environments_dir(tmp_path / "explicit") == tmp_path / "explicit"  # explicit beats the variable
    assert environments_dir("") == tmp_path / "from-env"  # empty setting (invoke.yaml default) falls through


def test_env_var_points_load_environment_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = _project(tmp_path, BROKEN["base"])
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    env = load_environment("demo")
    assert env.file == env_dir / "demo.yaml"
    assert env.root == tmp_path
    assert env.releases[0].chart == str(tmp_path / "charts" / "app")
    with pytest.raises(EnvironmentNotFound, match="known environments: demo"):
        load_environment("staging")


# --- broken environment files ---------------------------------------------------------------------------


def test_base_fixture_is_valid(tmp_path: Path) -> None:
    env = load_environment("demo", _project(tmp_path, BROKEN["base"]))
    assert [r.name for r in env.releases] == ["app"]
    assert env.guards.health_timeout == 60
    assert env.backup.keep == 3


@pytest.mark.parametrize("case", BROKEN["cases"], ids=[c["id"] for c in BROKEN["cases"]])
def test_broken_environment(tmp_path: Path, case: dict[str, Any]) -> None:
    env_dir = _project(tmp_path, _overlay(BROKEN["base"], case["override"]))
    with pytest.raises(ConfigError) as exc:
        load_environment("demo", env_dir)
    msg = str(exc.value)
    assert msg.startswith("environment 'demo' is invalid (")
    lines = msg.splitlines()[1:]
    for key, reason in case["problems"]:
        expected = f"{env_dir / 'demo.yaml'}: {key}: "
        assert any(line.strip().startswith(expected) and reason in line for line in lines), (key, reason, msg)


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    broken = _overlay(BROKEN["base"], {
        "colour": "blue",
        "guards": {"confirm": "yes", "context_pattern": "(prod"},
        "backup": {"keep": True},
        "releases": [{"name": "app", "chart": "charts/nope", "namespace": "app", "needs": ["db"]}],
    })
    with pytest.raises(ConfigError) as exc:
        load_environment("demo", _project(tmp_path, broken))
    msg = str(exc.value)
    assert "(6 problems)" in msg
    for key in ("colour", "guards.confirm", "guards.context_pattern", "backup.keep", "releases[0].chart",
                "releases[app].needs"):
        assert f": {key}: " in msg


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- just\n- a list\n", "(top level): must be a mapping, got list"),
        ("", "cluster: is required"),
        ("name: demo\ncluster: {context: a}\ncluster: {context: b}\n", "line 3: duplicate key 'cluster'"),
        ("name: demo\ncluster: {context: [}\n", "malformed YAML at line 2"),
    ],
    ids=["top-level-list", "empty-file", "duplicate-key", "malformed"],
)
def test_broken_environment_text(tmp_path: Path, text: str, fragment: str) -> None:
    env_dir = _project(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_environment("demo", env_dir)
    assert str(env_dir / "demo.yaml") in str(exc.value)
    assert fragment in str(exc.value)


def test_release_defaults_and_repo_chart(tmp_path: Path) -> None:
    env_dir = _project(tmp_path, _overlay(BROKEN["base"], {"releases": [
        {"name": "ingress", "chart": "ingress-nginx", "repo": "https://charts.example", "version": "4.0.1",
         "namespace": "ingress", "group": "cluster-services"},
        {"name": "app", "chart": "charts/app", "namespace": "app", "needs": ["ingress"],
         "secrets": [{"path": "secrets.TOKEN", "env": "APP_TOKEN"}, {"path": "secrets.KEY", "file": "k.txt"}]},
    ]}))
    env = load_environment("demo", env_dir)
    ingress, app = env.releases
    assert not ingress.local_chart and ingress.chart == "ingress-nginx" and ingress.tier == 1
    assert app.tier == 3 and app.wait == "watcher" and app.timeout == 300 and app.enabled
    assert app.needs == ("ingress",)
    assert app.secrets[0].env == "APP_TOKEN" and app.secrets[0].file is None
    assert app.secrets[1].file == tmp_path / "k.txt"
    assert env.group("cluster-services") == (ingress,)
    assert env.release("app") is app
    with pytest.raises(ConfigError, match=r"no release 'web' \(known: ingress, app\)"):
        env.release("web")


def test_needs_on_a_broken_release_is_not_reported_as_unknown(tmp_path: Path) -> None:
    env_dir = _project(tmp_path, _overlay(BROKEN["base"], {"releases": [
        {"name": "db", "chart": "charts/app", "namespace": "db", "timeout": "long"},
        {"name": "app", "chart": "charts/app", "namespace": "app", "needs": ["db", "cache"]},
    ]}))
    with pytest.raises(ConfigError) as exc:
        load_environment("demo", env_dir)
    msg = str(exc.value)
    assert "(2 problems)" in msg
    assert "releases[1].timeout" not in msg and "releases[0].timeout: must be" in msg
    assert "names unknown release 'cache'" in msg
    assert "unknown release 'db'" not in msg


def test_a_release_with_a_bad_key_is_still_checked_for_chart_values_and_needs(tmp_path: Path) -> None:
    env_dir = _project(tmp_path, _overlay(BROKEN["base"], {"releases": [
        {"name": "app", "chart": "charts/nope", "namespace": "app", "replicas": 3, "values": ["missing.yaml"],
         "needs": ["ghost"]},
    ]}))
    with pytest.raises(ConfigError) as exc:
        load_environment("demo", env_dir)
    msg = str(exc.value)
    assert "(4 problems)" in msg
    for key, reason in (("releases[0].replicas", "unknown key"), ("releases[0].chart", "has no Chart.yaml"),
                        ("releases[0].values[0]", "does not exist"), ("releases[app].needs", "'ghost'")):
        assert f": {key}: " in msg and reason in msg, key
