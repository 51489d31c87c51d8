"""Validation of built-in kinds as kube-apiserver v1.36 does it (``pkg/apis/*/validation``).

Pure functions over JSON objects: :func:`validate` returns the :class:`~.fielderrors.FieldError` list that
``ValidateX`` (create) or ``ValidateXUpdate`` (update, with ``old``) would return for the rules the sandbox
knows: object meta (names per kind, labels, annotations), pod specs (container names, ports, requests vs
limits), selectors vs template labels, rolling-update parameters, RBAC rules, Service ports, and the
immutable or forbidden updates of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Service, PVC and
immutable Secrets/ConfigMaps. Messages are the Go ones, checked against the v1.36.3 sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .fielderrors import FieldError, duplicate, forbidden, invalid, not_supported, required, too_long
from .selectors import SelectorError, match_label_selector

Obj = dict[str, Any]

# --- k8s.io/apimachinery/pkg/util/validation -------------------------------------------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _LABEL_KEY + ")?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_PERCENT = "[0-9]+%"


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + pattern + "$")


_RE = {p: _full(p) for p in (_DNS1123_LABEL, _DNS1123_SUBDOMAIN, _DNS1035_LABEL, _LABEL_KEY, _LABEL_VALUE,
                              _CONFIG_KEY, _PERCENT)}


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Go's ``RegexError`` (note the double spaces it puts before each "or")."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i:
            out += " or "
        out += f"'{ex}', "
    return out + f"regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _RE[_DNS1123_LABEL].match(value):
        if _RE[_DNS1123_SUBDOMAIN].match(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                                    "or '-', and must start and end with an alphanumeric character",
                                    _DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _RE[_DNS1123_SUBDOMAIN].match(value):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                "characters, '-' or '.', and must start and end with an alphanumeric character",
                                _DNS1123_SUBDOMAIN, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _RE[_DNS1035_LABEL].match(value):
        errs.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                                "with an alphabetic character, and end with an alphanumeric character",
                                _DNS1035_LABEL, "my-name", "abc-123"))
    return errs


def is_path_segment_name(value: str) -> list[str]:
    """RBAC names (``content.IsPathSegmentName``)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                  "alphanumeric character")


def is_qualified_name(value: str) -> list[str]:
    """Label and annotation keys (``content.IsLabelKey``; its lengths are in bytes)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a valid label key " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _RE[_LABEL_KEY].match(name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY, "MyName", "my.name", "123-abc"))
    return errs


def is_label_value(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 63:
        errs.append("must be no more than 63 bytes")
    if not _RE[_LABEL_VALUE].match(value):
        errs.append(regex_error("a valid label must be an empty string or consist of alphanumeric characters, '-', "
                                "'_' or '.', and must start and end with an alphanumeric character",
                                _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errs


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(name: str) -> list[str]:
    errs = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_config_map_key(key: str) -> list[str]:
    errs = []
    if len(key) > 253:
        errs.append(max_len_error(253))
    if not _RE[_CONFIG_KEY].match(key):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                _CONFIG_KEY, "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


NEGATIVE = "must be greater than or equal to 0"
IMMUTABLE = "field is immutable"
TOTAL_ANNOTATION_SIZE = 256 * 1024

# --- object meta ------------------------------------------------------------------------------------------

# Which name rule each kind uses (``ValidateXName``); anything else is a DNS-1123 subdomain.
_NAME_RULES = {
    ("", "Namespace"): is_dns1123_label,
    ("", "Service"): is_dns1035_label,
    ("apps", "StatefulSet"): is_dns1123_label,
    ("rbac.authorization.k8s.io", "Role"): is_path_segment_name,
    ("rbac.authorization.k8s.io", "ClusterRole"): is_path_segment_name,
    ("rbac.authorization.k8s.io", "RoleBinding"): is_path_segment_name,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): is_path_segment_name,
}


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k, v in (labels or {}).items():
        errs.extend(invalid(path, k, m) for m in is_qualified_name(str(k)))
        errs.extend(invalid(path, v, m) for m in is_label_value(str(v)))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for k, v in (annotations or {}).items():
        errs.extend(invalid(path, k, m) for m in is_qualified_name(str(k).lower()))
        total += len(str(k).encode()) + len(str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE))
    return errs


def validate_meta(group: str, kind: str, meta: Obj, creating: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name = str(meta.get("name") or "")
    if creating:
        if not name:
            errs.append(required("metadata.name", "name or generateName is required"))
        else:
            rule = _NAME_RULES.get((group, kind), is_dns1123_subdomain)
            errs.extend(invalid("metadata.name", name, m) for m in rule(name))
    errs.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    return errs


# --- pod specs --------------------------------------------------------------------------------------------

def parse_quantity(value: Any) -> Decimal | None:
    try:
        from kubernetes import utils  # the official client's parser

        parse: Any = utils.parse_quantity
        out = parse(value)
        return out if isinstance(out, Decimal) else Decimal(out)
    except (ValueError, TypeError, ArithmeticError):
        return None


def _validate_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports or []):
        if not isinstance(port, dict):
            continue
        here = f"{path}[{i}]"
        name = port.get("name")
        if name:
            msgs = is_valid_port_name(str(name))
            if msgs:
                errs.extend(invalid(f"{here}.name", name, m) for m in msgs)
            elif name in names:
                errs.append(duplicate(f"{here}.name", name))
            else:
                names.add(str(name))
        cp = port.get("containerPort")
        if not cp:
            errs.append(required(f"{here}.containerPort"))
        elif isinstance(cp, int):
            errs.extend(invalid(f"{here}.containerPort", cp, m) for m in is_valid_port_num(cp))
        hp = port.get("hostPort")
        if isinstance(hp, int) and hp:
            errs.extend(invalid(f"{here}.hostPort", hp, m) for m in is_valid_port_num(hp))
        proto = port.get("protocol", "TCP")
        if proto not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(f"{here}.protocol", proto, ["SCTP", "TCP", "UDP"]))
    return errs


def _validate_resources(res: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(res, dict):
        return errs
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    for name, q in requests.items():
        if name not in limits:
            continue
        want, cap = parse_quantity(q), parse_quantity(limits[name])
        if want is not None and cap is not None and want > cap:
            errs.append(invalid(f"{path}.requests", str(q),
                                f"must be less than or equal to {name} limit of {limits[name]}"))
    for key in ("limits", "requests"):
        for name, q in (res.get(key) or {}).items():
            v = parse_quantity(q)
            if v is not None and v < 0:
                errs.append(invalid(f"{path}.{key}[{name}]", int(v), "must be a valid resource quantity"))
    return errs


def validate_pod_spec(spec: Any, path: str, extra_volumes: Iterable[str] = ()) -> list[FieldError]:
    """``extra_volumes``: names a mount may use besides ``spec.volumes`` (a StatefulSet's volumeClaimTemplates,
    which kube-apiserver counts as the pod's volumes)."""
    errs: list[FieldError] = []
    if not isinstance(spec, dict):
        return errs
    seen: set[str] = set()
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)} | set(extra_volumes)
    if key_missing(spec, "containers"):
        errs.append(required(f"{path}.containers"))
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            if not isinstance(c, dict):
                continue
            here = f"{path}.{key}[{i}]"
            name = c.get("name")
            if isinstance(name, str) and name:
                if name in seen:
                    errs.append(duplicate(f"{here}.name", name))
                seen.add(name)
                errs.extend(invalid(f"{here}.name", name, m) for m in is_dns1123_label(name))
            errs.extend(_validate_ports(c.get("ports"), f"{here}.ports"))
            errs.extend(_validate_resources(c.get("resources"), f"{here}.resources"))
            for j, mnt in enumerate(c.get("volumeMounts") or []):
                if isinstance(mnt, dict) and mnt.get("name") and mnt["name"] not in volumes:
                    errs.append(FieldError("FieldValueNotFound", f"{here}.volumeMounts[{j}].name", mnt["name"]))
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                pr = c.get(probe)
                if isinstance(pr, dict) and not any(pr.get(h) for h in ("exec", "httpGet", "tcpSocket", "grpc")):
                    errs.append(required(f"{here}.{probe}", "must specify a handler type"))
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in ("Always", "OnFailure", "Never"):
        errs.append(not_supported(f"{path}.restartPolicy", restart, ["Always", "OnFailure", "Never"]))
    return errs


def key_missing(obj: Obj, key: str) -> bool:
    return not obj.get(key)


def validate_pod_template(tmpl: Any, path: str, extra_volumes: Iterable[str] = ()) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: note its label path is ``<path>.labels`` (no ``metadata``)."""
    if not isinstance(tmpl, dict):
        return []
    meta = tmpl.get("metadata") or {}
    errs = validate_labels(meta.get("labels"), f"{path}.labels")
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_pod_spec(tmpl.get("spec"), f"{path}.spec", extra_volumes))
    return errs


def _selector_matches(selector: Any, labels: Any) -> bool:
    try:
        return match_label_selector(selector, labels or {})
    except (SelectorError, ValueError, TypeError, AttributeError):
        return True


def _empty_selector(selector: Any) -> bool:
    return isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")


def _template_labels(spec: Obj) -> Any:
    return ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


def _workload_template(spec: Obj, kind_word: str, restart_always: bool = True,
                       extra_volumes: Iterable[str] = ()) -> list[FieldError]:
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None:
        # A nil selector is required, and (as labels.Nothing()) matches no template labels either.
        errs.append(required("spec.selector"))
        errs.append(invalid("spec.template.metadata.labels", _template_labels(spec),
                            "`selector` does not match template `labels`"))
    elif isinstance(selector, dict):
        errs.extend(validate_labels(selector.get("matchLabels"), "spec.selector.matchLabels"))
        if _empty_selector(selector):
            errs.append(invalid("spec.selector", selector, f"empty selector is invalid for {kind_word}"))
        elif not _selector_matches(selector, _template_labels(spec)):
            errs.append(invalid("spec.template.metadata.labels", _template_labels(spec),
                                "`selector` does not match template `labels`"))
    tmpl = spec.get("template")
    errs.extend(validate_pod_template(tmpl, "spec.template", extra_volumes))
    restart = ((tmpl or {}).get("spec") or {}).get("restartPolicy", "Always") if isinstance(tmpl, dict) else None
    if restart_always and restart not in (None, "Always"):
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    return errs


def _nonneg(spec: Obj, key: str, path: str) -> list[FieldError]:
    v = spec.get(key)
    return [invalid(path, v, NEGATIVE)] if isinstance(v, int) and not isinstance(v, bool) and v < 0 else []


def _int_or_percent(v: Any) -> tuple[int, list[str]]:
    """(value, errors) of an IntOrString the way getIntOrPercentValue and IsValidPercent read it."""
    if isinstance(v, str):
        if not _RE[_PERCENT].match(v):
            return 0, [regex_error("a valid percent string must be a numeric string followed by an ending '%'",
                                   _PERCENT, "1%", "93%")]
        return int(v[:-1]), []
    if isinstance(v, int) and not isinstance(v, bool):
        return v, [NEGATIVE] if v < 0 else []
    return 0, []


def _deployment_strategy(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type", "RollingUpdate")
    path = "spec.strategy"
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.append(forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate") or {}
        mu, mu_errs = _int_or_percent(ru.get("maxUnavailable", "25%"))
        ms, ms_errs = _int_or_percent(ru.get("maxSurge", "25%"))
        errs.extend(invalid(f"{path}.rollingUpdate.maxUnavailable", ru.get("maxUnavailable"), m) for m in mu_errs)
        errs.extend(invalid(f"{path}.rollingUpdate.maxSurge", ru.get("maxSurge"), m) for m in ms_errs)
        if mu == 0 and ms == 0:
            errs.append(invalid(f"{path}.rollingUpdate.maxUnavailable", ru.get("maxUnavailable", 0),
                                "may not be 0 when `maxSurge` is 0"))
        if isinstance(ru.get("maxUnavailable"), str) and not mu_errs and mu > 100:
            errs.append(invalid(f"{path}.rollingUpdate.maxUnavailable", ru["maxUnavailable"],
                                "must not be greater than 100%"))
    else:
        errs.append(not_supported(path, strategy, ["Recreate", "RollingUpdate"]))
    return errs


def _deployment(spec: Obj) -> list[FieldError]:
    errs = _nonneg(spec, "replicas", "spec.replicas")
    errs.extend(_workload_template(spec, "deployment"))
    errs.extend(_deployment_strategy(spec))
    errs.extend(_nonneg(spec, "minReadySeconds", "spec.minReadySeconds"))
    errs.extend(_nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit"))
    pds = spec.get("progressDeadlineSeconds")
    if isinstance(pds, int) and pds <= int(spec.get("minReadySeconds") or 0):
        errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs


def _statefulset(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    pmp = spec.get("podManagementPolicy", "OrderedReady")
    if pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    errs.extend(_nonneg(spec, "replicas", "spec.replicas"))
    errs.extend(_nonneg(spec, "minReadySeconds", "spec.minReadySeconds"))
    svc = spec.get("serviceName")
    if isinstance(svc, str) and svc:
        errs.extend(invalid("spec.serviceName", svc, m) for m in is_dns1123_label(svc))
    # the claim templates are the pods' volumes too: a mount may name one (jenkins-home, data, ...)
    claims = [str((v.get("metadata") or {}).get("name")) for v in spec.get("volumeClaimTemplates") or []
              if isinstance(v, dict) and isinstance(v.get("metadata"), dict) and v["metadata"].get("name")]
    errs.extend(_workload_template(spec, "statefulset", extra_volumes=claims))
    for i, vct in enumerate(spec.get("volumeClaimTemplates") or []):
        if isinstance(vct, dict):
            errs.extend(_pvc_spec(vct.get("spec") or {}, f"spec.volumeClaimTemplates[{i}].spec"))
    return errs


def _daemonset(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None or (isinstance(selector, dict) and not _selector_matches(selector, _template_labels(spec))):
        errs.append(invalid("spec.template.metadata.labels", _template_labels(spec),
                            "`selector` does not match template `labels`"))
    if isinstance(selector, dict) and _empty_selector(selector):
        errs.append(invalid("spec.selector", selector, "empty selector is invalid for daemonset"))
    errs.extend(validate_pod_template(spec.get("template"), "spec.template"))
    us = spec.get("updateStrategy") or {}
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        ru = us.get("rollingUpdate") or {}
        mu, _ = _int_or_percent(ru.get("maxUnavailable", 1))
        ms, _ = _int_or_percent(ru.get("maxSurge", 0))
        path = "spec.updateStrategy.rollingUpdate"
        if mu and ms:
            errs.append(invalid(f"{path}.maxSurge", ru.get("maxSurge"),
                                "may not be set when maxUnavailable is non-zero"))
        elif not mu and not ms:
            errs.append(required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


def _job(obj: Obj, creating: bool) -> list[FieldError]:
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if creating and not spec.get("manualSelector") and isinstance(selector, dict):
        # validateGeneratedSelector: without manualSelector the selector must be the generated one.
        uid, name = str(meta.get("uid", "")), str(meta.get("name", ""))
        expected = {"controller-uid": uid, "job-name": name, "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": name}
        if not _selector_matches(selector, expected) or _empty_selector(selector):
            errs.append(invalid("spec.selector", selector, "`selector` not auto-generated"))
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        errs.extend(_nonneg(spec, key, f"spec.{key}"))
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported("spec.completionMode", mode, ["NonIndexed", "Indexed"]))
    elif mode == "Indexed" and spec.get("completions") is None:
        errs.append(required("spec.completions", "when completion mode is Indexed"))
    tmpl = spec.get("template") or {}
    if selector is None:
        errs.append(required("spec.selector"))
        errs.append(invalid("spec.template.metadata.labels", _template_labels(spec),
                            "`selector` does not match template `labels`"))
    elif isinstance(selector, dict) and not _selector_matches(selector, _template_labels(spec)):
        errs.append(invalid("spec.template.metadata.labels", _template_labels(spec),
                            "`selector` does not match template `labels`"))
    errs.extend(validate_pod_template(tmpl, "spec.template"))
    restart = (tmpl.get("spec") or {}).get("restartPolicy") if isinstance(tmpl, dict) else None
    if restart in (None, "", "Always"):
        errs.append(required("spec.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["OnFailure", "Never"]))
    return errs


_CRON_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_CRON_ITEM = r"(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?"
_CRON_FIELD = re.compile(rf"^{_CRON_ITEM}(,{_CRON_ITEM})*$")


def cron_schedule_error(schedule: str) -> str | None:
    """robfig/cron's standard parser, roughly: 5 fields or a macro (``@every`` too)."""
    s = schedule.strip()
    if s.startswith("TZ=") or s.startswith("CRON_TZ="):
        s = s.split(None, 1)[1] if " " in s else ""
    if s in _CRON_MACROS or s.startswith("@every "):
        return None
    fields = s.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for f in fields:
        if not _CRON_FIELD.match(f):
            return f'failed to parse int from {f}: strconv.Atoi: parsing "{f}": invalid syntax'
    return None


def _cronjob(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    name = str((obj.get("metadata") or {}).get("name", ""))
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    schedule = spec.get("schedule")
    if not schedule:
        errs.append(required("spec.schedule"))
    else:
        why = cron_schedule_error(str(schedule))
        if why:
            errs.append(invalid("spec.schedule", schedule, why))
    tz = spec.get("timeZone")
    if isinstance(tz, str):
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errs.append(invalid("spec.timeZone", tz, f"unknown time zone {tz}"))
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    return errs


def _service(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    stype = spec.get("type", "ClusterIP")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errs.append(not_supported("spec.type", stype, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
        errs.append(required("spec.ports"))
    if stype == "ExternalName":
        cname = spec.get("externalName")
        if not cname:
            errs.append(required("spec.externalName"))
        else:
            errs.extend(invalid("spec.externalName", cname, m) for m in is_dns1123_subdomain(str(cname).rstrip(".")))
    for i, ip in enumerate(spec.get("clusterIPs") or []):
        if ip and ip != "None" and not _is_ip(str(ip)):
            errs.append(invalid(f"spec.clusterIPs[{i}]", ip,
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    errs.extend(validate_labels(spec.get("selector"), "spec.selector"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        here = f"spec.ports[{i}]"
        name = p.get("name")
        if len(ports) > 1 and not name:
            errs.append(required(f"{here}.name"))
        elif name:
            errs.extend(invalid(f"{here}.name", name, m) for m in is_dns1123_label(str(name)))
            if name in names:
                errs.append(duplicate(f"{here}.name", name))
            names.add(str(name))
        port = p.get("port")
        if isinstance(port, int):
            errs.extend(invalid(f"{here}.port", port, m) for m in is_valid_port_num(port))
        tp = p.get("targetPort")
        if isinstance(tp, int) and not isinstance(tp, bool):
            errs.extend(invalid(f"{here}.targetPort", tp, m) for m in is_valid_port_num(tp))
        elif isinstance(tp, str):
            errs.extend(invalid(f"{here}.targetPort", tp, m) for m in is_valid_port_name(tp))
        np = p.get("nodePort")
        if isinstance(np, int) and np and stype == "ClusterIP":
            errs.append(forbidden(f"{here}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        proto = p.get("protocol", "TCP")
        if proto not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(f"{here}.protocol", proto, ["SCTP", "TCP", "UDP"]))
    seen_ports: set[tuple[Any, Any]] = set()
    for i, p in enumerate(ports):
        if isinstance(p, dict):
            key = (p.get("port"), p.get("protocol", "TCP"))
            if key in seen_ports:
                errs.append(FieldError("FieldValueDuplicate", f"spec.ports[{i}]",
                                       {"port": key[0], "protocol": key[1]}))
            seen_ports.add(key)
    return errs


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _pvc_spec(spec: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    modes = spec.get("accessModes") or []
    if not modes and not spec.get("dataSource") and not spec.get("dataSourceRef"):
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    supported = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
    for m in modes:
        if m not in supported:
            errs.append(not_supported(f"{path}.accessModes", m, supported))
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        errs.append(required(f"{path}.resources[storage]"))
    else:
        q = parse_quantity(storage)
        if q is not None and q <= 0:
            errs.append(invalid(f"{path}.resources[storage]", str(storage), "must be greater than zero"))
    return errs


def _policy_rules(rules: Any, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(rules or []):
        if not isinstance(rule, dict):
            continue
        path = f"rules[{i}]"
        if not rule.get("verbs"):
            errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if namespaced:
                errs.append(invalid(f"{path}.nonResourceURLs", rule["nonResourceURLs"],
                                    "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.append(invalid(f"{path}.nonResourceURLs", rule["nonResourceURLs"],
                                    "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            errs.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            errs.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errs


_SECRET_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _config(obj: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    for bag in ("data", "binaryData"):
        for key in obj.get(bag) or {}:
            errs.extend(invalid(f"{bag}[{key}]", key, m) for m in is_config_map_key(str(key)))
            if bag == "data" and key in (obj.get("binaryData") or {}):
                errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    if obj.get("kind") == "Secret":
        data = obj.get("data") or {}
        stype = obj.get("type") or "Opaque"
        for key in _SECRET_KEYS.get(stype, ()):
            if key not in data:
                errs.append(required(f"data[{key}]"))
        if stype == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
            errs.extend([required("data[username]"), required("data[password]")])
        if stype == "kubernetes.io/service-account-token" and not (
                (obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    return errs


def _rolebinding(obj: Obj, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), ["rbac.authorization.k8s.io"]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    for i, sub in enumerate(obj.get("subjects") or []):
        if not isinstance(sub, dict):
            continue
        here = f"subjects[{i}]"
        if not sub.get("name"):
            errs.append(required(f"{here}.name"))
        kind = sub.get("kind")
        if kind == "ServiceAccount":
            if sub.get("apiGroup"):
                errs.append(not_supported(f"{here}.apiGroup", sub["apiGroup"], [""]))
            if not sub.get("namespace") and not namespaced:  # a RoleBinding defaults it to its own
                errs.append(required(f"{here}.namespace"))
        elif kind in ("User", "Group"):
            if sub.get("apiGroup") != "rbac.authorization.k8s.io":
                errs.append(not_supported(f"{here}.apiGroup", sub.get("apiGroup", ""),
                                          ["rbac.authorization.k8s.io"]))
        else:
            errs.append(not_supported(f"{here}.kind", kind or "", ["ServiceAccount", "User", "Group"]))
    return errs


def _others(group: str, kind: str, obj: Obj) -> list[FieldError]:
    """PDB, HPA, Ingress, NetworkPolicy, ResourceQuota, LimitRange, PriorityClass, CRD basics."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    errs: list[FieldError] = []
    match (group, kind):
        case ("policy", "PodDisruptionBudget"):
            if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
                errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
        case ("autoscaling", "HorizontalPodAutoscaler"):
            mn, mx = spec.get("minReplicas", 1), spec.get("maxReplicas")
            if isinstance(mn, int) and mn < 1:
                errs.append(invalid("spec.minReplicas", mn, "must be greater than or equal to 1"))
            if isinstance(mx, int) and isinstance(mn, int) and mx < mn:
                errs.append(invalid("spec.maxReplicas", mx, "must be greater than or equal to `minReplicas`"))
        case ("networking.k8s.io", "Ingress"):
            for i, rule in enumerate(spec.get("rules") or []):
                host = rule.get("host") if isinstance(rule, dict) else None
                if host:
                    h = host[2:] if str(host).startswith("*.") else str(host)
                    errs.extend(invalid(f"spec.rules[{i}].host", host, m) for m in is_dns1123_subdomain(h))
                for j, pth in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
                    ptype = pth.get("pathType")
                    here = f"spec.rules[{i}].http.paths[{j}].pathType"
                    if not ptype:
                        errs.append(required(here, "pathType must be specified"))
                    elif ptype not in ("Exact", "ImplementationSpecific", "Prefix"):
                        errs.append(not_supported(here, ptype, ["Exact", "ImplementationSpecific", "Prefix"]))
        case ("networking.k8s.io", "NetworkPolicy"):
            for direction in ("ingress", "egress"):
                for i, rule in enumerate(spec.get(direction) or []):
                    for j, port in enumerate((rule or {}).get("ports") or []):
                        num = port.get("port") if isinstance(port, dict) else None
                        if isinstance(num, int):
                            errs.extend(invalid(f"spec.{direction}[{i}].ports[{j}].port", num, m)
                                        for m in is_valid_port_num(num))
        case ("", "ResourceQuota"):
            for key, q in (spec.get("hard") or {}).items():
                v = parse_quantity(q)
                if v is not None and v < 0:
                    errs.append(invalid(f"spec.hard[{key}]", str(q), "must be a valid resource quantity"))
        case ("", "LimitRange"):
            for i, lim in enumerate(spec.get("limits") or []):
                mx = (lim or {}).get("max") or {}
                if isinstance(lim, dict) and lim.get("type") == "Container" and lim.get("default"):
                    # defaulting copies default into defaultRequest (and max into default)
                    lim = {**lim, "defaultRequest": {**lim["default"], **(lim.get("defaultRequest") or {})}}
                for which, label in (("default", "default value"), ("defaultRequest", "default request value"),
                                     ("min", "min value")):
                    for res, q in ((lim or {}).get(which) or {}).items():
                        a, b = parse_quantity(q), parse_quantity(mx.get(res)) if res in mx else None
                        if a is not None and b is not None and a > b:
                            errs.append(invalid(f"spec.limits[{i}].{which}[{res}]", str(q),
                                                f"{label} {q} is greater than max value {mx[res]}"))
        case ("scheduling.k8s.io", "PriorityClass"):
            name = str((obj.get("metadata") or {}).get("name", ""))
            if name.startswith("system-") and name not in ("system-cluster-critical", "system-node-critical"):
                errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved "
                                      f"for system use only. error: {name} is not a known system priority class"))
        case ("apiextensions.k8s.io", "CustomResourceDefinition"):
            errs.extend(_crd(obj))
    return errs


def _crd(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    names = spec.get("names") or {}
    want = f"{names.get('plural', '')}.{spec.get('group', '')}"
    name = str((obj.get("metadata") or {}).get("name", ""))
    if name and name != want:
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    versions = spec.get("versions") or []
    if versions and sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
        if not any(v.get("storage") for v in versions):
            errs.append(invalid("status.storedVersions", [], "must have at least one stored version"))
    schemas = [((v.get("schema") or {}).get("openAPIV3Schema")) if isinstance(v, dict) else None for v in versions]
    # The internal version hoists a schema shared by every version to spec.validation (so do Go's paths).
    shared = len(schemas) > 0 and all(x == schemas[0] for x in schemas)
    for i, sch in enumerate(schemas[:1] if shared else schemas):
        base = "spec.validation.openAPIV3Schema" if shared else f"spec.versions[{i}].schema.openAPIV3Schema"
        if isinstance(sch, dict):
            errs.extend(_structural(sch, base, root=True))
    return errs


def _structural(sch: Obj, path: str, root: bool = False) -> list[FieldError]:
    """The structural-schema rule that every node names a type (unless int-or-string/preserving)."""
    errs: list[FieldError] = []
    for key, sub in (sch.get("properties") or {}).items():
        if isinstance(sub, dict):
            errs.extend(_structural(sub, f"{path}.properties[{key}]"))
    if isinstance(sch.get("items"), dict):
        errs.extend(_structural(sch["items"], f"{path}.items"))
    if isinstance(sch.get("additionalProperties"), dict):
        errs.extend(_structural(sch["additionalProperties"], f"{path}.additionalProperties"))
    if not sch.get("type") and not sch.get("x-kubernetes-int-or-string") and not (
            sch.get("x-kubernetes-preserve-unknown-fields") and not root):
        errs.append(required(f"{path}.type", "must not be empty at the root" if root
                             else "must not be empty for specified object fields"))
    return errs


def _spec_rules(group: str, kind: str, obj: Obj, creating: bool = True) -> list[FieldError]:
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    match (group, kind):
        case ("apps", "Deployment"):
            return _deployment(spec)
        case ("apps", "ReplicaSet"):
            errs = _nonneg(spec, "replicas", "spec.replicas")
            return errs + _workload_template(spec, "deployment")  # sic: Go's ReplicaSet message says so
        case ("apps", "StatefulSet"):
            return _statefulset(spec)
        case ("apps", "DaemonSet"):
            return _daemonset(spec)
        case ("batch", "Job"):
            return _job(obj, creating)
        case ("batch", "CronJob"):
            return _cronjob(obj)
        case ("", "Pod"):
            return validate_pod_spec(spec, "spec")
        case ("", "Service"):
            return _service(spec)
        case ("", "PersistentVolumeClaim"):
            return _pvc_spec(spec, "spec")
        case ("", "ConfigMap") | ("", "Secret"):
            return _config(obj)
        case ("rbac.authorization.k8s.io", "Role"):
            return _policy_rules(obj.get("rules"), True)
        case ("rbac.authorization.k8s.io", "ClusterRole"):
            return _policy_rules(obj.get("rules"), False)
        case ("rbac.authorization.k8s.io", "RoleBinding"):
            return _rolebinding(obj, True)
        case ("rbac.authorization.k8s.io", "ClusterRoleBinding"):
            return _rolebinding(obj, False)
    return _others(group, kind, obj)


# --- updates ----------------------------------------------------------------------------------------------

_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
STS_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                 "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                 "'minReadySeconds' are forbidden")
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def _immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    return [] if new == old else [invalid(path, new, IMMUTABLE)]


def _pvc_update(new: Obj, old: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    nspec, ospec = dict(new.get("spec") or {}), dict(old.get("spec") or {})
    if not ospec.get("volumeName"):
        ospec["volumeName"] = nspec.get("volumeName")
        if ospec["volumeName"] is None:
            ospec.pop("volumeName")
    bound = (old.get("status") or {}).get("phase") == "Bound"
    nres = dict(nspec.get("resources") or {})
    oreq = (ospec.get("resources") or {}).get("requests") or {}
    if bound and "requests" in nres:
        nreq = dict(nres["requests"] or {})
        if "storage" in oreq:
            nreq["storage"] = oreq["storage"]
        nres["requests"] = nreq
        nspec["resources"] = nres
        if "volumeAttributesClassName" in ospec:
            nspec["volumeAttributesClassName"] = ospec["volumeAttributesClassName"]
        else:
            nspec.pop("volumeAttributesClassName", None)
    if nspec != ospec:
        changed = sorted(k for k in set(nspec) | set(ospec) if nspec.get(k) != ospec.get(k))
        diff = "\n".join(f"  {k}: {go_diff(ospec.get(k))} -> {go_diff(nspec.get(k))}" for k in changed)
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                      f"volumeAttributesClassName for bound claims\n{diff}"))
    old_size = parse_quantity(oreq.get("storage", 0))
    new_size = parse_quantity(((new.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", 0))
    if old_size is not None and new_size is not None and new_size < old_size:
        errs.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    return errs


def go_diff(v: Any) -> str:
    from .fielderrors import go_value

    return go_value(v)


def _service_update(new: Obj, old: Obj) -> list[FieldError]:
    nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (nspec.get("type"), ospec.get("type")):
        return []
    if ospec.get("clusterIP") == "None" and nspec.get("clusterIP") == "None":
        return []
    olds = list(ospec.get("clusterIPs") or [])
    news = list(nspec.get("clusterIPs") or [])
    errs: list[FieldError] = []
    if len(olds) == len(news):
        errs.extend(invalid(f"spec.clusterIPs[{i}]", news, "may not change once set")
                    for i, ip in enumerate(olds) if ip != news[i])
    elif len(olds) > len(news):
        if not news:
            errs.append(invalid("spec.clusterIPs[0]", news, "primary clusterIP can not be unset"))
        elif olds[0] != news[0]:
            errs.append(invalid("spec.clusterIPs[0]", news, "may not change once set"))
    return errs


POD_UPDATABLE = ("`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                 "`spec.tolerations` (only additions to existing tolerations),"
                 "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def _pod_update(nspec: Obj, ospec: Obj) -> list[FieldError]:
    """Only images, activeDeadlineSeconds and added tolerations may change in a pod's spec."""
    def masked(spec: Obj) -> Obj:
        out = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations", "nodeName",
                                                          "terminationGracePeriodSeconds")}
        for key in ("containers", "initContainers"):
            out[key] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(key) or []
                        if isinstance(c, dict)]
        return out

    if masked(nspec) == masked(ospec):
        return []
    return [forbidden("spec", f"pod updates may not change fields other than {POD_UPDATABLE}")]


def normalize_cluster_ips(new: Obj, old: Obj | None) -> None:
    """The Service REST storage's ``normalizeClusterIPs`` (before validation, on the new object)."""
    nspec = new.get("spec")
    if not isinstance(nspec, dict):
        return
    if old is None:
        if nspec.get("clusterIP") and not nspec.get("clusterIPs"):
            nspec["clusterIPs"] = [nspec["clusterIP"]]
        return
    ospec = old.get("spec") or {}
    if ospec.get("clusterIPs") and not nspec.get("clusterIPs") and ospec.get("clusterIP") == nspec.get("clusterIP"):
        nspec["clusterIPs"] = list(ospec["clusterIPs"])
    if ospec.get("clusterIP") != nspec.get("clusterIP"):
        same = (nspec.get("clusterIPs") or []) == (ospec.get("clusterIPs") or [])
        if ospec.get("clusterIP") and not nspec.get("clusterIP"):
            if same:
                nspec.pop("clusterIPs", None)
        elif same:
            nspec["clusterIPs"] = [nspec.get("clusterIP")]


def _update_rules(group: str, kind: str, new: Obj, old: Obj) -> list[FieldError]:
    nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
    match (group, kind):
        case ("apps", "Deployment") | ("apps", "ReplicaSet") | ("apps", "DaemonSet"):
            return _immutable(nspec.get("selector"), ospec.get("selector"), "spec.selector")
        case ("apps", "StatefulSet"):
            a = {k: v for k, v in nspec.items() if k not in _STS_MUTABLE}
            b = {k: v for k, v in ospec.items() if k not in _STS_MUTABLE}
            return [] if a == b else [forbidden("spec", STS_FORBIDDEN)]
        case ("batch", "Job"):
            errs = _immutable(nspec.get("selector"), ospec.get("selector"), "spec.selector")
            if not ospec.get("suspend"):
                errs += _immutable(nspec.get("template"), ospec.get("template"), "spec.template")
            if nspec.get("completionMode", "NonIndexed") != "Indexed":
                errs = _immutable(nspec.get("completions"), ospec.get("completions"), "spec.completions") + errs
            for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
                errs += _immutable(nspec.get(key), ospec.get(key), f"spec.{key}")
            return errs
        case ("", "Service"):
            return _service_update(new, old)
        case ("", "PersistentVolumeClaim"):
            return _pvc_update(new, old)
        case ("", "Secret") | ("", "ConfigMap"):
            errs = []
            if kind == "Secret":
                errs += _immutable(new.get("type"), old.get("type"), "type")
            if old.get("immutable") is True:
                if new.get("immutable") is not True:
                    errs.append(forbidden("immutable", IMMUTABLE_WHEN_SET))
                bags = ("data",) if kind == "Secret" else ("data", "binaryData")
                for bag in bags:
                    if (new.get(bag) or {}) != (old.get(bag) or {}):
                        errs.append(forbidden(bag, IMMUTABLE_WHEN_SET))
            return errs
        case ("", "Pod"):
            return _pod_update(nspec, ospec)
        case ("rbac.authorization.k8s.io", "RoleBinding") | ("rbac.authorization.k8s.io", "ClusterRoleBinding"):
            if new.get("roleRef") != old.get("roleRef"):
                return [invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]
    return []


def validate(group: str, kind: str, obj: Obj, old: Obj | None = None) -> list[FieldError]:
    """What kube-apiserver's validation returns for a create (``old`` None) or an update of ``obj``."""
    # The order of the Go functions: meta, then spec, then the update rules (Service, Secret and ConfigMap
    # check their update rules before the spec).
    errs = validate_meta(group, kind, obj.get("metadata") or {}, creating=old is None)
    update = _update_rules(group, kind, obj, old) if old is not None else []
    if (group, kind) in (("", "Service"), ("", "Secret"), ("", "ConfigMap")):
        return errs + update + _spec_rules(group, kind, obj, old is None)
    return errs + _spec_rules(group, kind, obj, old is None) + update
