"""Table tests of the built-in validation rules: exact kube-apiserver v1.36 messages and causes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesandbox import rules
from kubesandbox.fielderrors import FieldError, invalid_status

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}
    base["spec"].update(spec)
    return base


def container(**extra: Any) -> dict[str, Any]:
    return {"template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1", **extra}]}}}


def sts(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8Gi"}}}}]}}
    base["spec"].update(spec)
    return base


def with_(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    cur = out
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    if isinstance(cur, list):
        cur[int(keys[-1])] = value
    else:
        cur[keys[-1]] = value
    return out


SECRET = {"metadata": {"name": "s", "namespace": "default"}, "type": "Opaque", "immutable": True,
          "data": {"k": "dg=="}}
SERVICE = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                    "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
PVC = {"metadata": {"name": "data", "namespace": "default"},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8Gi"}},
                "storageClassName": "standard", "volumeMode": "Filesystem"},
       "status": {"phase": "Bound"}}
JOB = {"metadata": {"name": "migrate", "namespace": "default", "uid": "u1"},
       "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6, "suspend": False,
                "selector": {"matchLabels": {"controller-uid": "u1"}},
                "template": {"metadata": {"labels": {"controller-uid": "u1", "job-name": "migrate"}},
                             "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "app:1"}]}}}}

# (id, group, kind, object, old object or None, expected "field: body" strings)
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any] | None, list[str]]] = [
    ("valid deployment", "apps", "Deployment", deployment(), None, []),
    ("upper-case name", "apps", "Deployment", with_(deployment(), "metadata.name", "Web"), None,
     [f'metadata.name: Invalid value: "Web": {SUBDOMAIN_MSG}']),
    ("name over 253", "", "ConfigMap", {"metadata": {"name": "a" * 254}}, None,
     [f'metadata.name: Invalid value: "{"a" * 254}": must be no more than 253 characters']),
    ("service name over 63", "", "Service", with_(SERVICE, "metadata.name", "s" * 64), None,
     [f'metadata.name: Invalid value: "{"s" * 64}": must be no more than 63 characters']),
    ("service name starting with a digit", "", "Service", with_(SERVICE, "metadata.name", "1web"), None,
     [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']),
    ("statefulset name with dots", "apps", "StatefulSet", with_(sts(), "metadata.name", "db.main"), None,
     ['metadata.name: Invalid value: "db.main": must not contain dots']),
    # a mount of a claim template is a mount of the pod's volume (jenkins-home, postgresql's data)
    ("statefulset mounts its claim template", "apps", "StatefulSet",
     with_(sts(), "spec.template.spec.containers", [{"name": "db", "image": "postgres:16",
                                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]),
     None, []),
    ("statefulset mount of neither a volume nor a claim template", "apps", "StatefulSet",
     with_(sts(), "spec.template.spec.containers", [{"name": "db", "image": "postgres:16",
                                                    "volumeMounts": [{"name": "logs", "mountPath": "/l"}]}]),
     None, ['spec.template.spec.containers[0].volumeMounts[0].name: Not found: "logs"']),
    ("label value over 63", "", "ConfigMap", {"metadata": {"name": "c", "labels": {"a": "v" * 64}}}, None,
     [f'metadata.labels: Invalid value: "{"v" * 64}": must be no more than 63 bytes']),
    ("label value with a space", "", "ConfigMap", {"metadata": {"name": "c", "labels": {"a": "b c"}}}, None,
     [f'metadata.labels: Invalid value: "b c": {LABEL_VALUE_MSG}']),
    ("label key with two slashes", "", "ConfigMap", {"metadata": {"name": "c", "labels": {"a/b/c": "x"}}}, None,
     ["metadata.labels: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', "
      "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
      "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
      "subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ("annotations over 256 KiB", "", "ConfigMap",
     {"metadata": {"name": "c", "annotations": {"big": "x" * (256 * 1024)}}}, None,
     ["metadata.annotations: Too long: may not be more than 262144 bytes"]),
    ("port 70000", "apps", "Deployment", deployment(**container(ports=[{"containerPort": 70000}])), None,
     ["spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
      "65535, inclusive"]),
    ("port name too long", "apps", "Deployment",
     deployment(**container(ports=[{"containerPort": 80, "name": "http-metrics-port"}])), None,
     ['spec.template.spec.containers[0].ports[0].name: Invalid value: "http-metrics-port": must be no more than '
      "15 characters"]),
    ("requests above limits", "apps", "Deployment",
     deployment(**container(resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}})), None,
     ['spec.template.spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than or equal to '
      "memory limit of 512Mi"]),
    ("requests equal to limits", "apps", "Deployment",
     deployment(**container(resources={"requests": {"cpu": "0.5"}, "limits": {"cpu": "500m"}})), None, []),
    ("container name upper case", "", "Pod",
     {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "Web", "image": "x"}]}}, None,
     ["spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case "
      "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
      "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]),
    ("selector does not match", "apps", "Deployment",
     with_(deployment(), "spec.template.metadata.labels", {"app": "other"}), None,
     ['spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template '
      "`labels`"]),
    ("empty selector", "apps", "Deployment", deployment(selector={}), None,
     ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]),
    ("maxSurge 0 and maxUnavailable 0", "apps", "Deployment",
     deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}), None,
     ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]),
    ("maxUnavailable 0%", "apps", "Deployment",
     deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}),
     None, ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0']),
    ("negative replicas", "apps", "Deployment", deployment(replicas=-1), None,
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("rbac rule without verbs", "rbac.authorization.k8s.io", "Role",
     {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}, None,
     ["rules[0].verbs: Required value: verbs must contain at least one value"]),
    ("rbac rule without resources", "rbac.authorization.k8s.io", "ClusterRole",
     {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "verbs": ["get"]}]}, None,
     ["rules[0].resources: Required value: resource rules must supply at least one resource"]),
    ("rbac name with a slash", "rbac.authorization.k8s.io", "ClusterRole",
     {"metadata": {"name": "a/b"}, "rules": []}, None, ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]),
    ("service port 70000", "", "Service", with_(SERVICE, "spec.ports.0.port", 70000), None,
     ["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
    ("two service ports without names", "", "Service",
     with_(SERVICE, "spec.ports", [{"port": 80}, {"port": 81}]), None,
     ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]),
    ("configmap key with a slash", "", "ConfigMap", {"metadata": {"name": "c"}, "data": {"a/b": "x"}}, None,
     ["data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or "
      "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]),
    # --- updates ---
    ("deployment selector changed", "apps", "Deployment",
     with_(with_(deployment(), "spec.selector", {"matchLabels": {"app": "web2"}}), "spec.template.metadata.labels",
           {"app": "web2"}), deployment(),
     ['spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable']),
    ("deployment replicas changed", "apps", "Deployment", deployment(replicas=3), deployment(), []),
    ("statefulset volumeClaimTemplates changed", "apps", "StatefulSet",
     with_(sts(), "spec.volumeClaimTemplates.0.spec.resources.requests.storage", "20Gi"), sts(),
     [f"spec: Forbidden: {rules.STS_FORBIDDEN}"]),
    ("statefulset template and replicas changed", "apps", "StatefulSet",
     with_(sts(replicas=3), "spec.template.spec.containers.0.image", "postgres:17"), sts(), []),
    ("daemonset selector changed", "apps", "DaemonSet",
     {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "2"}}, "template": {
         "metadata": {"labels": {"a": "2"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}},
     {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "1"}}, "template": {
         "metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}},
     ['spec.selector: Invalid value: {"matchLabels":{"a":"2"}}: field is immutable']),
    ("job template changed", "batch", "Job", with_(JOB, "spec.template.spec.containers.0.image", "app:2"), JOB,
     ['spec.template: Invalid value: {"metadata":{"labels":{"controller-uid":"u1","job-name":"migrate"}},"spec":'
      '{"containers":[{"image":"app:2","name":"m"}],"restartPolicy":"Never"}}: field is immutable']),
    ("job completions changed", "batch", "Job", with_(JOB, "spec.completions", 3), JOB,
     ["spec.completions: Invalid value: 3: field is immutable"]),
    ("job restartPolicy Always", "batch", "Job", with_(JOB, "spec.template.spec.restartPolicy", "Always"), None,
     ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']),
    ("job selector not generated", "batch", "Job", with_(JOB, "spec.selector", {"matchLabels": {"app": "x"}}),
     None, ["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"x\"}}: `selector` not auto-generated",
            'spec.template.metadata.labels: Invalid value: {"controller-uid":"u1","job-name":"migrate"}: `selector` '
            "does not match template `labels`"]),
    ("indexed job without completions", "batch", "Job",
     with_(with_(JOB, "spec.completionMode", "Indexed"), "spec.completions", None), None,
     ["spec.completions: Required value: when completion mode is Indexed"]),
    ("cronjob bad schedule and zone", "batch", "CronJob",
     {"metadata": {"name": "c" * 53}, "spec": {"schedule": "every minute", "timeZone": "Mars/Olympus"}}, None,
     [f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters',
      'spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]',
      'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']),
    ("secret tls without key", "", "Secret",
     {"kind": "Secret", "metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "MQ=="}}, None,
     ["data[tls.key]: Required value"]),
    ("configmap key in data and binaryData", "", "ConfigMap",
     {"metadata": {"name": "c"}, "data": {"k": "1"}, "binaryData": {"k": "MQ=="}}, None,
     ['data[k]: Invalid value: "k": duplicate of key present in binaryData']),
    ("service duplicate port, bad selector, ExternalName", "", "Service",
     {"metadata": {"name": "s"}, "spec": {"type": "ExternalName", "selector": {"a": "v" * 64},
                                          "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}}, None,
     ["spec.externalName: Required value",
      f'spec.selector: Invalid value: "{"v" * 64}": must be no more than 63 bytes',
      'spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}']),
    ("rolebinding subjects and roleRef", "rbac.authorization.k8s.io", "RoleBinding",
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Thing", "name": "r"},
      "subjects": [{"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": "sa"}]}, None,
     ['roleRef.kind: Unsupported value: "Thing": supported values: "Role", "ClusterRole"',
      'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']),
    ("clusterrolebinding service account without namespace", "rbac.authorization.k8s.io", "ClusterRoleBinding",
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]},
     None, ["subjects[0].namespace: Required value"]),
    ("probe without handler and unknown mount", "", "Pod",
     {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x", "readinessProbe": {
         "periodSeconds": 5}, "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}]}}, None,
     ['spec.containers[0].volumeMounts[0].name: Not found: "nope"',
      "spec.containers[0].readinessProbe: Required value: must specify a handler type"]),
    ("pod spec change other than image", "", "Pod",
     {"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "y"}]}},
     {"metadata": {"name": "p"}, "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "x"}]}},
     [f"spec: Forbidden: pod updates may not change fields other than {rules.POD_UPDATABLE}"]),
    ("pod image change", "", "Pod",
     {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "y"}]}},
     {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}, []),
    ("pdb, hpa", "policy", "PodDisruptionBudget", {"metadata": {"name": "p"}, "spec": {
        "minAvailable": 1, "maxUnavailable": 1}}, None,
     ['spec: Invalid value: {"maxUnavailable":1,"minAvailable":1}: minAvailable and maxUnavailable cannot be both '
      "set"]),
    ("crd name and storage", "apiextensions.k8s.io", "CustomResourceDefinition",
     {"metadata": {"name": "gadgets.x.io"}, "spec": {"group": "x.io", "names": {"plural": "widgets"},
                                                       "versions": [{"name": "v1", "storage": False}]}}, None,
     ['metadata.name: Invalid value: "gadgets.x.io": must be spec.names.plural+"."+spec.group',
      'spec.versions: Invalid value: [{"name":"v1","storage":false}]: must have exactly one version marked as '
      "storage version", "status.storedVersions: Invalid value: []: must have at least one stored version"]),
    ("crd schema not structural", "apiextensions.k8s.io", "CustomResourceDefinition",
     {"metadata": {"name": "w.x.io"}, "spec": {"group": "x.io", "names": {"plural": "w"}, "versions": [
         {"name": "v1", "storage": True, "schema": {"openAPIV3Schema": {"properties": {"spec": {}}}}}]}}, None,
     ["spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified "
      "object fields", "spec.validation.openAPIV3Schema.type: Required value: must not be empty at the root"]),
    ("suspended job template changed", "batch", "Job",
     with_(with_(JOB, "spec.template.spec.containers.0.image", "app:2"), "spec.suspend", True),
     with_(JOB, "spec.suspend", True), []),
    ("service clusterIP changed", "", "Service", with_(SERVICE, "spec.clusterIPs", ["10.96.0.99"]), SERVICE,
     ['spec.clusterIPs[0]: Invalid value: ["10.96.0.99"]: may not change once set']),
    ("service type changed to NodePort", "", "Service", with_(SERVICE, "spec.type", "NodePort"), SERVICE, []),
    ("pvc shrunk", "", "PersistentVolumeClaim", with_(PVC, "spec.resources.requests.storage", "4Gi"), PVC,
     ["spec.resources.requests.storage: Forbidden: field can not be less than previous value"]),
    ("pvc grown", "", "PersistentVolumeClaim", with_(PVC, "spec.resources.requests.storage", "16Gi"), PVC, []),
    ("pvc storage class changed", "", "PersistentVolumeClaim", with_(PVC, "spec.storageClassName", "fast"), PVC,
     ['spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName '
      'for bound claims\n  storageClassName: "standard" -> "fast"']),
    ("immutable secret data changed", "", "Secret", with_(SECRET, "data", {"k": "dzI="}), SECRET,
     ["data: Forbidden: field is immutable when `immutable` is set"]),
    ("immutable secret made mutable", "", "Secret", with_(SECRET, "immutable", False), SECRET,
     ["immutable: Forbidden: field is immutable when `immutable` is set"]),
    ("immutable secret labels changed", "", "Secret",
     with_(SECRET, "metadata", {"name": "s", "labels": {"a": "b"}}), SECRET, []),
    ("secret type changed", "", "Secret", with_(with_(SECRET, "type", "kubernetes.io/tls"), "immutable", None),
     with_(SECRET, "immutable", None), ['type: Invalid value: "kubernetes.io/tls": field is immutable']),
    ("rolebinding roleRef changed", "rbac.authorization.k8s.io", "RoleBinding",
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"}},
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "y"}},
     ['roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"x"}: cannot change '
      "roleRef"]),
]


@pytest.mark.parametrize(("group", "kind", "obj", "old", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None, expected: list[str]) -> None:
    assert [str(e) for e in rules.validate(group, kind, obj, old)] == expected


def test_invalid_status_shape_one_and_several_errors() -> None:
    one = [FieldError("FieldValueInvalid", "spec.selector", {"matchLabels": {"a": "b"}}, "field is immutable")]
    message, details = invalid_status("Deployment", "apps", "web", one)
    assert message == 'Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: ' \
                      "field is immutable"
    assert details == {"name": "web", "group": "apps", "kind": "Deployment", "causes": [
        {"reason": "FieldValueInvalid", "message": 'Invalid value: {"matchLabels":{"a":"b"}}: field is immutable',
         "field": "spec.selector"}]}
    two = [*one, FieldError("FieldValueRequired", "spec.template", "", "")]
    message, details = invalid_status("Secret", "", "s", two + two[:1])  # a repeated error is listed once
    assert message == ('Secret "s" is invalid: [spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: field is '
                       "immutable, spec.template: Required value]")
    assert [c["reason"] for c in details["causes"]] == ["FieldValueInvalid", "FieldValueRequired", "FieldValueInvalid"]


@pytest.mark.parametrize(("value", "expected"), [
    ("my-name", []), ("a" * 63, []), ("a" * 64, ["must be no more than 63 characters"]),
    ("a.b", ["must not contain dots"]), ("-a", None), ("", None)])
def test_dns1123_label(value: str, expected: list[str] | None) -> None:
    got = rules.is_dns1123_label(value)
    if expected is None:
        assert len(got) == 1 and got[0].startswith("a lowercase RFC 1123 label must consist")
    else:
        assert got == expected


@pytest.mark.parametrize(("key", "ok"), [("app", True), ("app.kubernetes.io/name", True), ("A_b.c", True),
                                         ("/x", False), ("x/", False), ("Example.com/x", False), ("a" * 64, False)])
def test_qualified_name(key: str, ok: bool) -> None:
    assert (rules.is_qualified_name(key) == []) is ok


def test_missing_selector_is_required_and_matches_nothing() -> None:
    dep = deployment()
    del dep["spec"]["selector"]
    assert [str(e) for e in rules.validate("apps", "Deployment", dep)] == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`']
    assert [e.type for e in rules.validate("apps", "Deployment", dep)] == ["FieldValueRequired", "FieldValueInvalid"]
