"""Admission webhooks, as far as an emulator can honour them.

The sandbox never calls a webhook (it cannot run the webhook's logic, and it makes no network call). What it
does: a request matched by a webhook of a Validating/MutatingWebhookConfiguration (rules: operations,
apiGroups, apiVersions, resources incl. subresources, scope; ``namespaceSelector``, ``objectSelector``)
whose ``clientConfig.service`` has no ready endpoint fails as kube-apiserver fails it when the call cannot be
made: under ``failurePolicy: Fail`` (the v1 default) a 500 ``InternalError`` "Internal error occurred:
failed calling webhook ...", under ``Ignore`` nothing. A webhook whose service has ready endpoints, or that
is reached by ``url``, admits the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .selectors import match_label_selector

Obj = dict[str, Any]

# kube-apiserver never sends these to webhooks (they would lock the cluster out of fixing its webhooks).
EXEMPT = frozenset({
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"),
})


@dataclass(frozen=True)
class Request:
    """What the admission chain knows of a request."""

    operation: str  # CREATE, UPDATE, DELETE
    group: str
    version: str
    resource: str  # plural
    subresource: str
    namespace: str  # "" for cluster-scoped objects
    labels: dict[str, str]  # the object's (new, or old for DELETE)
    old_labels: dict[str, str] | None = None


def _matches_resource(patterns: list[str], resource: str, subresource: str) -> bool:
    want = f"{resource}/{subresource}" if subresource else resource
    for pat in patterns:
        if pat == "*/*" or pat == want:
            return True
        if pat == "*" and not subresource:
            return True
        res, _, sub = pat.partition("/")
        if sub and subresource and (res in ("*", resource)) and (sub in ("*", subresource)):
            return True
    return False


def rule_matches(rule: Obj, req: Request, namespaced: bool) -> bool:
    ops = rule.get("operations") or []
    if "*" not in ops and req.operation not in ops:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and req.group not in groups:
        return False
    versions = rule.get("apiVersions") or []
    if "*" not in versions and req.version not in versions:
        return False
    scope = rule.get("scope") or "*"
    if (scope == "Cluster" and namespaced) or (scope == "Namespaced" and not namespaced):
        return False
    return _matches_resource(list(rule.get("resources") or []), req.resource, req.subresource)


def _selector_ok(selector: Any, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    try:
        return match_label_selector(selector, labels)
    except (ValueError, TypeError, AttributeError):
        return False


def webhook_matches(hook: Obj, req: Request, namespaced: bool, ns_labels: dict[str, str] | None) -> bool:
    if not any(rule_matches(r, req, namespaced) for r in hook.get("rules") or [] if isinstance(r, dict)):
        return False
    ns_sel = hook.get("namespaceSelector")
    if ns_sel:
        if req.group == "" and req.resource == "namespaces":
            labels = req.labels
        elif not namespaced:
            labels = None  # cluster-scoped objects other than namespaces are not filtered by namespace
        else:
            labels = ns_labels or {}
        if labels is not None and not _selector_ok(ns_sel, labels):
            return False
    obj_sel = hook.get("objectSelector")
    old_ok = req.old_labels is not None and _selector_ok(obj_sel, req.old_labels)
    return not obj_sel or _selector_ok(obj_sel, req.labels) or old_ok


def call_failure(hook: Obj, service_state: Callable[[str, str], str]) -> str | None:
    """Why calling ``hook`` would fail (the ``failed calling webhook`` text), or None when it can be called.

    ``service_state(namespace, name)`` answers "ready", "no-endpoints" or "not-found".
    """
    svc = (hook.get("clientConfig") or {}).get("service")
    if not isinstance(svc, dict):
        return None  # a URL webhook: the sandbox assumes it answers (and admits)
    ns, name = str(svc.get("namespace", "")), str(svc.get("name", ""))
    state = service_state(ns, name)
    if state == "ready":
        return None
    port = int(svc.get("port") or 443)
    path = str(svc.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    timeout = int(hook.get("timeoutSeconds") or 10)
    why = f'service "{name}" not found' if state == "not-found" else f'no endpoints available for service "{name}"'
    return (f'failed calling webhook "{hook.get("name", "")}": failed to call webhook: Post '
            f'"https://{name}.{ns}.svc:{port}{path}?timeout={timeout}s": {why}')


def failures(configs: list[Obj], req: Request, namespaced: bool, ns_labels: dict[str, str] | None,
             service_state: Callable[[str, str], str]) -> str | None:
    """The first failing call among the webhooks of ``configs`` that match ``req`` under ``failurePolicy: Fail``."""
    if (req.group, req.resource) in EXEMPT:
        return None
    for cfg in configs:
        for hook in cfg.get("webhooks") or []:
            if not isinstance(hook, dict) or not webhook_matches(hook, req, namespaced, ns_labels):
                continue
            why = call_failure(hook, service_state)
            if why is not None and (hook.get("failurePolicy") or "Fail") == "Fail":
                return why
    return None
