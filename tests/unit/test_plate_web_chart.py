"""The plate-web chart, rendered and linted by real Helm through the project's adapter.

Values are passed as the *user-supplied* layer (an environment file, optionally with overrides merged on
top); Helm merges the chart's own values.yaml underneath, exactly as on a real deploy.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.adapters import helm
from prjdevops.errors import HelmOperationError

CHART = Path(__file__).resolve().parents[2] / "helm" / "applications" / "plate-web"
RELEASE = "plate-web"
ENV_FILES = {"default": None, "stg": "values-stg.yaml", "prod": "values-prod.yaml"}
ENVS = list(ENV_FILES)


def env_values(env: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The environment file's values (empty for ``default``) with ``overrides`` deep-merged on top."""
    name = ENV_FILES[env]
    base: dict[str, Any] = yaml.safe_load((CHART / name).read_text()) if name else {}
    return _merge(base, overrides or {})


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render_objects(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    rendered = helm.render(CHART, values, release=RELEASE, namespace="plate-web")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, got {len(found)}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def pod_annotations(values: Mapping[str, Any]) -> dict[str, str]:
    deployment = by_kind(render_objects(values), "Deployment")
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations


# --- lint ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_lint_strict_is_clean(env: str) -> None:
    report = helm.lint(CHART, env_values(env), strict=True)
    noisy = [m for m in report.messages if m[0] in ("error", "warning")]
    assert report.ok and not noisy, noisy


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"replicaCount": "three"}, "/replicaCount"),
        ({"replicaCount": -1}, "/replicaCount"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"tag": 1.5}}, "/image/tag"),  # an unquoted YAML tag becomes a float: 1.50 -> 1.5
        ({"image": {"tagg": "1.4.2"}}, "tagg"),  # typo inside image: additionalProperties is false
        ({"service": {"port": "http"}}, "/service/port"),
        ({"ingress": {"enabled": "yes"}}, "/ingress/enabled"),
        ({"ingress": {"hosts": "plate-web.example.internal"}}, "/ingress/hosts"),
        ({"autoscaling": {"maxReplicas": "10"}}, "/autoscaling/maxReplicas"),
        ({"pdb": {"minAvailable": "half"}}, "/pdb/minAvailable"),
        ({"secrets": {"db-password": "x"}}, "db-password"),  # not usable as an env var name
        # null deletes the chart default; without the schema's `required` this crashed render, not lint
        ({"autoscaling": None}, "autoscaling"),
    ],
)
def test_schema_rejects_bad_values_naming_the_key(values: dict[str, Any], key: str) -> None:
    report = helm.lint(CHART, env_values("prod", values), strict=True)
    assert not report.ok
    assert any(key in e for e in report.errors), report.errors


def test_render_refuses_values_the_schema_rejects() -> None:
    with pytest.raises(HelmOperationError, match="schema"):
        helm.render(CHART, {"replicaCount": "three"}, release=RELEASE, namespace="plate-web")


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_env_file_only_sets_keys_the_chart_defines(env: str) -> None:
    # The schema allows unknown top-level keys, so a typo in an environment file would be silently ignored.
    def paths(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in tree.items():
            out.add(prefix + key)
            if isinstance(value, Mapping) and value:
                out |= paths(value, f"{prefix}{key}.")
        return out

    defaults = helm.chart_defaults(CHART)
    unknown = {p for p in paths(env_values(env)) if p not in paths(defaults)}
    # `config` and `secrets` are free-form maps of environment variables.
    unknown = {p for p in unknown if not p.startswith(("config.", "secrets."))}
    assert not unknown


# --- what each environment renders -------------------------------------------------------------------

BASE_KINDS = {"ConfigMap", "Deployment", "Service", "ServiceAccount"}


@pytest.mark.parametrize(
    ("env", "overrides", "kinds"),
    [
        ("default", {}, BASE_KINDS),
        ("stg", {}, BASE_KINDS | {"Ingress"}),
        ("prod", {}, BASE_KINDS | {"Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"}),
        ("prod", {"autoscaling": {"enabled": False}, "pdb": {"enabled": False}}, BASE_KINDS | {"Ingress"}),
        ("stg", {"serviceAccount": {"create": False}}, BASE_KINDS - {"ServiceAccount"} | {"Ingress"}),
        ("stg", {"secrets": {"DB_PASSWORD": "s3cr3t"}}, BASE_KINDS | {"Ingress", "Secret"}),
    ],
)
def test_rendered_kinds(env: str, overrides: dict[str, Any], kinds: set[str]) -> None:
    objects = render_objects(env_values(env, overrides))
    rendered = [o["kind"] for o in objects]
    assert sorted(rendered) == sorted(kinds)  # also: no kind rendered twice


@pytest.mark.parametrize(
    ("env", "overrides", "replicas"),
    [
        ("default", {}, 2),
        ("stg", {}, 1),
        ("prod", {}, None),  # the HPA owns the replica count
        ("prod", {"autoscaling": {"enabled": False}}, 3),
        ("stg", {"replicaCount": 0}, 0),  # scaled to zero is a real value, not "unset"
    ],
)
def test_deployment_replicas(env: str, overrides: dict[str, Any], replicas: int | None) -> None:
    spec = by_kind(render_objects(env_values(env, overrides)), "Deployment")["spec"]
    assert spec.get("replicas") == replicas
    assert ("replicas" in spec) == (replicas is not None)


@pytest.mark.parametrize(
    ("env", "image", "pull_policy"),
    [
        ("default", "registry.example.internal/platform/plate-web:1.4.2", "IfNotPresent"),  # appVersion
        ("stg", "registry.example.internal/platform/plate-web:latest", "Always"),
        ("prod", "registry.example.internal/platform/plate-web:1.4.2", "IfNotPresent"),
    ],
)
def test_image_per_environment(env: str, image: str, pull_policy: str) -> None:
    c = container(render_objects(env_values(env)))
    assert (c["image"], c["imagePullPolicy"]) == (image, pull_policy)


@pytest.mark.parametrize(
    ("env", "host", "tls_secret", "issuer"),
    [
        ("stg", "plate-web.stg.example.internal", "plate-web-stg-tls", "letsencrypt-staging"),
        ("prod", "plate-web.example.internal", "plate-web-tls", "letsencrypt-prod"),
    ],
)
def test_ingress_per_environment(env: str, host: str, tls_secret: str, issuer: str) -> None:
    objects = render_objects(env_values(env))
    ingress = by_kind(objects, "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == issuer
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert [r["host"] for r in spec["rules"]] == [host]
    assert spec["tls"] == [{"hosts": [host], "secretName": tls_secret}]
    backend = spec["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = by_kind(objects, "Service")
    service_port = service["spec"]["ports"][0]["port"]
    assert backend == {"name": service["metadata"]["name"], "port": {"number": service_port}}


def test_ingress_without_issuer_has_no_cert_manager_annotation() -> None:
    ingress = by_kind(render_objects(env_values("stg", {"ingress": {"clusterIssuer": ""}})), "Ingress")
    assert "cert-manager.io/cluster-issuer" not in (ingress["metadata"].get("annotations") or {})


@pytest.mark.parametrize("env", ENVS)
def test_service_routes_port_80_to_container_8080(env: str) -> None:
    objects = render_objects(env_values(env))
    service = by_kind(objects, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    [port] = service["spec"]["ports"]
    assert port["port"] == 80
    named = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert named[port["targetPort"]] == 8080
    pod_labels = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("env", ENVS)
def test_security_context_is_hardened(env: str) -> None:
    objects = render_objects(env_values(env))
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container(objects)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # a read-only root filesystem needs somewhere writable
    assert {"name": "tmp", "mountPath": "/tmp"} in container(objects)["volumeMounts"]


@pytest.mark.parametrize(
    ("probe", "path"),
    [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")],
)
@pytest.mark.parametrize("env", ENVS)
def test_probes(env: str, probe: str, path: str) -> None:
    c = container(render_objects(env_values(env)))
    assert c[probe]["httpGet"] == {"path": path, "port": "http"}
    assert c[probe]["periodSeconds"] >= 1


@pytest.mark.parametrize(
    ("env", "requests", "limits"),
    [
        ("stg", {"cpu": "50m", "memory": "64Mi"}, {"cpu": "250m", "memory": "128Mi"}),
        ("prod", {"cpu": "250m", "memory": "256Mi"}, {"cpu": "1", "memory": "512Mi"}),
    ],
)
def test_resources_per_environment(env: str, requests: dict[str, str], limits: dict[str, str]) -> None:
    resources = container(render_objects(env_values(env)))["resources"]
    assert resources == {"requests": requests, "limits": limits}


@pytest.mark.parametrize(
    ("overrides", "max_unavailable", "max_surge"),
    [({}, 0, 1), ({"strategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": "50%"}}}, 1, "50%")],
)
def test_rolling_update_strategy(overrides: dict[str, Any], max_unavailable: int,
                                 max_surge: int | str) -> None:
    strategy = by_kind(render_objects(env_values("prod", overrides)), "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge}}


def test_prod_autoscaler_and_disruption_budget() -> None:
    objects = render_objects(env_values("prod"))
    deployment = by_kind(objects, "Deployment")
    hpa = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    pdb = by_kind(objects, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 2
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # the budget must leave room to evict: minAvailable below the HPA's floor
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


@pytest.mark.parametrize("env", ENVS)
def test_standard_labels_on_every_object(env: str) -> None:
    expected_version = "latest" if env == "stg" else "1.4.2"
    for obj in render_objects(env_values(env)):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "plate-web", obj["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE, obj["kind"]
        assert labels["app.kubernetes.io/version"] == expected_version, obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]
        assert labels["helm.sh/chart"] == "plate-web-0.1.0", obj["kind"]


def test_selector_labels_exclude_changing_labels() -> None:
    # Deployment selectors are immutable: a version label in them would break every upgrade.
    selector = by_kind(render_objects(env_values("prod")), "Deployment")["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "plate-web", "app.kubernetes.io/instance": RELEASE}


# --- config and secrets ----------------------------------------------------------------------------


def test_config_map_feeds_the_container_environment() -> None:
    objects = render_objects(env_values("stg"))
    config_map = by_kind(objects, "ConfigMap")
    assert config_map["data"]["APP_ENV"] == "staging"
    assert config_map["data"]["LOG_LEVEL"] == "debug"
    assert config_map["data"]["HTTP_PORT"] == "8080"  # chart default survives the env file's partial map
    assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in container(objects)["envFrom"]


@pytest.mark.parametrize(
    ("overrides", "rolls_pods"),
    [
        ({"config": {"LOG_LEVEL": "warn"}}, True),
        ({"config": {"FEATURE_X": "on"}}, True),
        ({"replicaCount": 5}, False),
        ({"image": {"tag": "1.4.3"}}, True),  # checksum covers labels too; a new tag rolls pods anyway
        ({"resources": {"limits": {"memory": "1Gi"}}}, False),
    ],
)
def test_config_checksum_tracks_config_changes(overrides: dict[str, Any], rolls_pods: bool) -> None:
    before = pod_annotations(env_values("stg"))["checksum/config"]
    after = pod_annotations(env_values("stg", overrides))["checksum/config"]
    assert len(before) == 64  # a sha256, not an empty include
    assert (before != after) == rolls_pods


@pytest.mark.parametrize(
    ("secrets", "rendered"),
    [
        ({}, False),
        (None, False),
        ({"DB_PASSWORD": "s3cr3t", "API_TOKEN": "t0k3n"}, True),
    ],
)
def test_secret_rendered_only_when_secrets_set(secrets: dict[str, str] | None, rendered: bool) -> None:
    objects = render_objects(env_values("prod", {"secrets": secrets}))
    found = [o for o in objects if o["kind"] == "Secret"]
    env_from = container(objects)["envFrom"]
    annotations = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert bool(found) == rendered
    assert any("secretRef" in e for e in env_from) == rendered
    assert ("checksum/secret" in annotations) == rendered
    if rendered:
        [secret] = found
        assert secret["type"] == "Opaque"
        assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == secrets
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in env_from


def test_secret_change_rolls_pods() -> None:
    first = pod_annotations(env_values("prod", {"secrets": {"DB_PASSWORD": "one"}}))
    second = pod_annotations(env_values("prod", {"secrets": {"DB_PASSWORD": "two"}}))
    assert first["checksum/secret"] != second["checksum/secret"]
    assert first["checksum/config"] == second["checksum/config"]
