"""The one module that talks to Helm v4 (``helm_python``, a ctypes binding to Helm's Go SDK).

Nothing else in the project imports ``helm_python``. Every Helm failure leaves this module as a
:class:`~prjdevops.errors.HelmOperationError` naming the action, release, namespace and Helm's message.
Options the Python wrapper does not expose (server-side apply, take ownership, skip CRDs, wait for jobs)
are passed to the native call here, and only here.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from prjdevops.errors import ConfigError, HelmOperationError, RecordNotStored, ReleaseNotFound, ValuesError

if TYPE_CHECKING:  # the native library loads lazily: `invoke --list` must stay fast
    import helm_python

# Helm's native library is thread-safe per Config handle but not per release; serialise per release.
_release_locks: dict[tuple[str, str], threading.Lock] = {}
_release_locks_guard = threading.Lock()

WAIT_MODES = ("watcher", "legacy", "hookOnly")
# Client-side throttling of Helm's Kubernetes client. Helm's CLI leaves QPS unset (client-go's 5 a second) with a
# burst of 100: enough for one short-lived process. The tool keeps one Helm handle per namespace for its whole run,
# so that bucket empties after a few deploys and every later request waited 200 ms (a soak cycle went from 1.3 s
# to 6 s once it had; bench/soak.py). kubectl's discovery client allows 50 a second, burst 300.
HELM_QPS = 50.0
HELM_BURST = 300
# What client-go says when the API server answered 429/5xx or could not be reached: worth another try. Helm's own
# client does not retry these (only answers carrying Retry-After), so reads are retried here and writes by the
# flows, which look at the release first (ops/release.py apply_with_recovery).
TRANSIENT = re.compile(r"\b(429|500|502|503|504)\b|too many requests|toomanyrequests|service ?unavailable|"
                       r"server is currently unable|internal ?error|connection refused|connection reset|"
                       r"unexpected eof|\beof\b|broken pipe|i/o timeout|http2: client connection lost|"
                       r"an error on the server|cluster unreachable|"
                       # Helm's watcher wait re-watches a dropped stream, but a list answered 5xx ends it at once
                       # with the resources' status Unknown (a real timeout says InProgress and "context deadline").
                       r"not ready\. status: unknown", re.I)
T = TypeVar("T")


def transient_message(message: str) -> bool:
    """True when Helm's error is a transient API failure (not a real refusal or a wait timeout)."""
    return TRANSIENT.search(message) is not None and "context deadline exceeded" not in message.lower()
RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# What Helm logs, and otherwise ignores, when it cannot store a release record (pkg/action install.go: "This is a
# tricky case. The release has been created, but the result cannot be recorded"; action.go recordRelease)
RECORD_FAILED = re.compile(r"failed to record the release|failed to update release", re.I)


class _HelmLog(logging.Handler):
    """Helm's own warnings and errors (its Go logger, through ``helm_python.enable_logging``), kept briefly and only
    where they say a release record could not be stored: Helm reports success then, and this says why. Nothing of
    it is printed (Helm's other warnings would be noise on the operator's terminal)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: collections.deque[tuple[float, str]] = collections.deque(maxlen=50)
        self._enabled = False
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if RECORD_FAILED.search(text):
            self.records.append((time.monotonic(), _clean(text)))

    def enable(self) -> None:
        """Route Helm's log into this handler (once per process; before the first Helm handle is made)."""
        with self._lock:
            if self._enabled:
                return
            self._enabled = True  # tried once: an SDK without the log bridge is not asked again
            logger = logging.getLogger("prjdevops.helm-native")
            logger.propagate = False
            logger.setLevel(logging.WARNING)
            logger.addHandler(self)
            # an SDK without the log bridge: the stored record is still checked, only without Helm's why
            with suppress(Exception):
                _helm().enable_logging(logging.WARNING, logger=logger)

    def since(self, started: float, release: str) -> str:
        """Helm's record-write failures logged since ``started`` that name ``release`` (or name no release)."""
        found = [text for at, text in list(self.records) if at >= started
                 and (release in text or "sh.helm.release" not in text)]
        return "; ".join(dict.fromkeys(found))[:400]


_helm_log = _HelmLog()


def _helm() -> Any:
    import helm_python

    return helm_python


@dataclass(frozen=True)
class LintReport:
    """Outcome of ``helm lint``: messages with severity names; ``ok`` when nothing is an error."""

    chart: str
    messages: tuple[tuple[str, str, str], ...]  # (severity, path, message)

    @property
    def errors(self) -> list[str]:
        return [f"{p}: {m}" for sev, p, m in self.messages if sev == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class ReleaseInfo:
    """A release revision as Helm reports it (summary; manifest only where asked)."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    chart_version: str
    app_version: str
    updated: str
    description: str = ""
    manifest: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


_SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


def helm_version() -> str:
    """The Helm Go SDK version compiled into the native library (e.g. ``v4.2.3``)."""
    return str(_helm().helm_sdk_version())


def validate_release_name(name: str) -> None:
    """Helm's own release-name rule (DNS-1123 label, at most 53 characters)."""
    if len(name) > 53 or not RELEASE_NAME.match(name):
        raise ConfigError(
            f"invalid release name {name!r}: use at most 53 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )


def parse_set(expression: str) -> dict[str, Any]:
    """Parse one ``--set key=value`` expression with Helm's own parser.

    Errors name the key only: the value may be a secret.
    """
    helm = _helm()
    key = expression.split("=", 1)[0]
    if "=" not in expression or not key.strip():
        raise ValuesError(f"--set for key {key!r} does not parse: expected key=value (e.g. image.tag=1.2.3)")
    try:
        parsed: dict[str, Any] = helm.parse_set_string(expression)
    except helm.HelmError as e:
        raise ValuesError(f"--set for key {key!r} does not parse: {_redact_value(_first_line(e), expression)}") from e
    if not parsed:
        raise ValuesError(f"--set for key {key!r} does not parse: Helm read nothing from it (check brackets and dots)")
    return parsed


def _redact_value(message: str, expression: str) -> str:
    value = expression.split("=", 1)[1] if "=" in expression else ""
    return message.replace(value, "***") if len(value) >= 3 else message


_chart_cache: dict[tuple[str, tuple[Any, ...]], Any] = {}
_chart_cache_lock = threading.Lock()
_CHART_CACHE_SIZE = 256


def chart_stamp(chart: Path) -> tuple[Any, ...]:
    """What a chart's content is known by: an archive's path, size and modification time; a folder's, every file's
    (a plan of many releases of one chart loads it once, and an edited chart is loaded again)."""
    path = Path(chart).resolve()
    if not path.is_dir():
        try:
            st = path.stat()
        except OSError:
            return (str(path), None)
        return (str(path), st.st_size, st.st_mtime_ns)
    files = []
    for f in sorted(path.rglob("*")):
        try:
            st = f.stat()
        except OSError:
            continue
        if f.is_file():
            files.append((str(f.relative_to(path)), st.st_size, st.st_mtime_ns))
    return (str(path), tuple(files))


def cached_by_chart(what: str, chart: Path, load: Callable[[], T]) -> T:
    """``load()`` once per chart content (:func:`chart_stamp`); callers get their own copy. Failures are not
    cached."""
    import copy

    key = (what, chart_stamp(chart))
    with _chart_cache_lock:
        if key in _chart_cache:
            return copy.deepcopy(_chart_cache[key])  # type: ignore[no-any-return]
    value = load()
    with _chart_cache_lock:
        if len(_chart_cache) >= _CHART_CACHE_SIZE:
            _chart_cache.clear()
        _chart_cache[key] = value
    return copy.deepcopy(value)


def _chart_attr(chart_dir: Path, attr: str) -> dict[str, Any]:
    helm = _helm()

    def load() -> dict[str, Any]:
        try:
            with helm.Chart.load(chart_dir) as chart:
                data: dict[str, Any] = getattr(chart, attr)
                return data
        except helm.HelmError as e:
            raise ConfigError(f"chart {chart_dir} cannot be loaded: {_first_line(e)}") from e

    return cached_by_chart(attr, chart_dir, load)


def load_chart_metadata(chart_dir: Path) -> dict[str, Any]:
    """The chart's Chart.yaml as Helm reads it."""
    return _chart_attr(chart_dir, "metadata")


def chart_value_keys(chart_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the chart's defaults with its subcharts' coalesced in, its values.schema.json or None): what keys a
    user may set. One chart load."""
    helm = _helm()

    def load() -> tuple[dict[str, Any], dict[str, Any] | None]:
        try:
            with helm.Chart.load(chart_dir) as chart:
                schema = chart.schema
                merged: dict[str, Any] = chart.merge_values({})
                return merged, schema if isinstance(schema, dict) else None
        except helm.HelmError as e:
            raise ConfigError(f"chart {chart_dir} cannot be loaded: {_first_line(e)}") from e

    return cached_by_chart("value keys", chart_dir, load)


def chart_defaults(chart_dir: Path) -> dict[str, Any]:
    """The chart's own ``values.yaml`` as Helm reads it."""
    return _chart_attr(chart_dir, "values")


def lint(chart_dir: Path, values: Mapping[str, Any] | None = None, *, strict: bool = True,
         namespace: str | None = None) -> LintReport:
    """``helm lint [--strict]`` with the given (already layered) values."""
    helm = _helm()
    try:
        report = helm.lint(chart_dir, dict(values or {}), strict=strict, namespace=namespace)
    except helm.HelmError as e:
        raise ConfigError(f"chart {chart_dir} cannot be linted: {_first_line(e)}") from e
    messages = tuple(
        (_SEVERITY.get(int(m.get("severity", 0)), "unknown"), str(m.get("path", "")), str(m.get("error", "")))
        for m in report.get("messages") or []
    )
    return LintReport(chart=str(chart_dir), messages=messages)


_SCHEMA_LINE = re.compile(r"^- at '(?P<path>[^']*)': (?P<reason>.*)$")


def schema_problems(chart_dir: Path, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Check values against the chart's values.schema.json: ``[(dotted.key, reason)]``, empty when valid."""
    helm = _helm()
    try:
        with helm.Chart.load(chart_dir) as chart:
            chart.validate_schema(dict(values))
    except helm.HelmValuesError as e:
        problems = []
        for line in str(e).splitlines():
            m = _SCHEMA_LINE.match(line.strip())
            if m:
                problems.append((m["path"].strip("/").replace("/", ".") or "(top level)", m["reason"]))
        return problems or [("(values)", _first_line(e))]
    except helm.HelmError as e:
        raise ConfigError(f"chart {chart_dir} cannot be loaded: {_first_line(e)}") from e
    return []


def render(chart_dir: Path, values: Mapping[str, Any], *, release: str, namespace: str,
           is_upgrade: bool = False) -> dict[str, str]:
    """Render the chart offline (no cluster): template path -> manifest text; empty templates dropped."""
    helm = _helm()
    try:
        with helm.Chart.load(chart_dir) as chart:
            rendered: dict[str, str] = chart.render(dict(values), name=release, namespace=namespace,
                                                    is_install=not is_upgrade, is_upgrade=is_upgrade)
    except helm.HelmError as e:
        raise HelmOperationError("template", release, namespace, _clean(str(e))) from e
    return {path: text for path, text in sorted(rendered.items())
            if text.strip() and not path.endswith("NOTES.txt")}


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _info(data: Mapping[str, Any], namespace: str) -> ReleaseInfo:
    """Build a ReleaseInfo from Helm's JSON summary (field names differ between actions)."""
    info = data.get("info") or {}
    chart = data.get("chart") or {}
    meta = chart.get("metadata") if isinstance(chart, Mapping) else None
    meta = meta or {}
    chart_name = str(meta.get("name") or data.get("chart_name") or (chart if isinstance(chart, str) else ""))
    return ReleaseInfo(
        name=str(data.get("name", "")),
        namespace=str(data.get("namespace") or namespace),
        revision=int(data.get("version") or data.get("revision") or 0),
        status=str(info.get("status") or data.get("status") or ""),
        chart=chart_name,
        chart_version=str(meta.get("version") or data.get("chart_version") or ""),
        app_version=str(meta.get("appVersion") or data.get("app_version") or ""),
        updated=str(info.get("last_deployed") or data.get("deployed_at") or data.get("updated") or ""),
        description=str(info.get("description") or data.get("description") or ""),
        manifest=str(data.get("manifest") or ""),
        raw=data,
    )


class HelmClient:
    """Release actions against one cluster (kubeconfig + context), Helm's default ``secret`` storage."""

    def __init__(self, *, kubeconfig: Path | None, context: str | None, namespace: str = "default",
                 via: Callable[[], tuple[Path, str]] | None = None,
                 server_validates: Callable[[], bool] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        # ``via``: the kubeconfig and context Helm's own client should use instead (the retrying loopback proxy),
        # made on the first action; the loopback guard still checks the environment's own context.
        self._via = via
        self._via_config: tuple[Path, str] | None = None
        # ``server_validates``: whether the API server checks every object's fields itself (asked once). Then Helm's
        # client-side "OpenAPI validation" is skipped: with a server that supports ``fieldValidation`` it validates
        # nothing (kubectl's ParamVerifyingSchema only downloads and parses the server's OpenAPI documents, ~1.6 MB
        # for api/v1, to learn that it does), while every object Helm writes carries ``fieldValidation=Strict``, so
        # a typo is refused either way (tests/integration/test_production_flow.py). It costs two parses per install
        # or upgrade (dry runs too): about a second each under load.
        self._server_validates = server_validates
        self._skip_openapi_check: bool | None = None
        self._configs: dict[str, helm_python.Config] = {}
        self._retired: list[helm_python.Config] = []
        self._busy = 0  # actions in flight on this client's handles
        self._guard = threading.Lock()
        from prjdevops.adapters.kube import RetryPolicy

        self.retry = RetryPolicy.from_env()
        _helm_log.enable()

    def _read(self, fn: Callable[[], T]) -> T:
        """A Helm read (idempotent), retried on transient API failures with the Kubernetes adapter's policy."""
        from prjdevops.adapters.kube import with_retries

        helm = _helm()
        result, _ = with_retries(fn, policy=self.retry, retry_on=lambda e: isinstance(e, helm.HelmError)
                                 and not isinstance(e, helm.HelmNotFoundError) and transient_message(str(e)))
        return result

    # --- plumbing ---------------------------------------------------------------------------------

    def _config(self, namespace: str) -> helm_python.Config:
        # Helm binds its release storage to the Config's namespace: one handle per namespace.
        with self._guard:
            cfg = self._configs.get(namespace)
            if cfg is None:
                self._check_loopback()
                helm = _helm()
                kubeconfig, context = self.kubeconfig, self.context
                if self._via is not None:
                    if self._via_config is None:
                        self._via_config = self._via()
                    kubeconfig, context = self._via_config
                cfg = helm.Config(kubeconfig_path=kubeconfig, kube_context=context, namespace=namespace,
                                  storage_driver="secret", qps=HELM_QPS, burst_limit=HELM_BURST)
                self._configs[namespace] = cfg
            return cfg

    def _check_loopback(self) -> None:
        """The same loopback-only guard as the Kubernetes adapter (Helm talks to the API server by itself)."""
        from prjdevops.adapters.kube import check_loopback_only, loopback_only, read_context
        from prjdevops.model import Cluster

        if loopback_only():
            info = read_context(Cluster(context=self.context or "", kubeconfig=self.kubeconfig))
            check_loopback_only(info.server, info.name)

    def reset(self, namespace: str) -> None:
        """Start the namespace's next action on a fresh handle: Helm's clients cache a failed discovery or
        OpenAPI download ("failed to download openapi") and would fail every later write the same way. The old
        handle may still be in use by another thread: it is closed once no action is in flight (a long-running
        process such as the soak would otherwise keep every retired handle's clients and caches)."""
        with self._guard:
            cfg = self._configs.pop(namespace, None)
            if cfg is not None:
                self._retired.append(cfg)
        self._close_retired()

    def _close_retired(self) -> None:
        with self._guard:
            if self._busy:
                return
            retired, self._retired = self._retired, []
        for cfg in retired:
            cfg.close()

    def close(self) -> None:
        with self._guard:
            for cfg in [*self._configs.values(), *self._retired]:
                cfg.close()
            self._configs.clear()
            self._retired.clear()

    def __enter__(self) -> HelmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _action(self, action: str, release: str, namespace: str) -> Iterator[None]:
        helm = _helm()
        key = (namespace, release)
        with _release_locks_guard:
            lock = _release_locks.setdefault(key, threading.Lock())
        with self._guard:
            self._busy += 1
        with lock:
            try:
                yield
            except helm.HelmNotFoundError as e:
                raise ReleaseNotFound(action, release, namespace, _first_line(e)) from e
            except helm.HelmError as e:
                detail = _clean(str(e))
                why = self._upstream_failure() if "unable to handle the request" in detail else None
                if why:  # the retrying proxy could not reach the API server: say that, not client-go's 503 text
                    detail = f"kubernetes cluster unreachable: {why}"
                raise HelmOperationError(action, release, namespace, detail, hint=_hint_for(detail)) from e
            finally:
                with self._guard:
                    self._busy -= 1
                self._close_retired()

    def _upstream_failure(self) -> str | None:
        """Why the retrying proxy Helm talks through last failed to reach the API server, if it did."""
        explain = getattr(self._via, "__self__", None)
        last = getattr(explain, "last_failure", None)
        return last() if callable(last) else None

    # --- reads ------------------------------------------------------------------------------------

    def check_reachable(self) -> None:
        helm = _helm()
        try:
            self._config(self.namespace).check_reachable()
        except helm.HelmError as e:
            from prjdevops.errors import ClusterUnreachable

            raise ClusterUnreachable(
                f"Kubernetes API not reachable for context {self.context!r}: {_first_line(e)}",
                hint="check the kubeconfig/context of this environment, or start the sandbox: invoke sandbox.up",
            ) from e

    def status(self, release: str, *, namespace: str | None = None,
               revision: int | None = None) -> ReleaseInfo | None:
        """The release's current (or given) revision with manifest, or None when not installed."""
        ns = namespace or self.namespace
        data = self._read_release("status", release, ns, lambda: self._config(ns).status(release, revision=revision))
        return None if data is None else _info(data, ns)

    def _read_release(self, action: str, release: str, ns: str, read: Callable[[], Any]) -> Any | None:
        """A read of one release through Helm; None when Helm says the release does not exist."""
        helm = _helm()
        try:
            with self._action(action, release, ns):
                return self._read(read)
        except ReleaseNotFound:
            return None
        except HelmOperationError as e:
            if isinstance(e.__cause__, helm.HelmError) and "not found" in str(e.__cause__).lower():
                return None
            raise

    def history(self, release: str, *, namespace: str | None = None) -> list[ReleaseInfo]:
        """Every stored revision, oldest first; empty when the release does not exist."""
        ns = namespace or self.namespace
        try:
            with self._action("history", release, ns):
                entries = self._read(lambda: self._config(ns).history(release))
        except ReleaseNotFound:
            return []
        except HelmOperationError as e:
            if "not found" in e.detail.lower():
                return []
            raise
        return sorted((_info(x, ns) for x in entries), key=lambda r: r.revision)

    def list(self, *, namespace: str | None = None, all_namespaces: bool = False) -> list[ReleaseInfo]:
        ns = namespace or self.namespace
        with self._action("list", "*", ns):
            entries = self._read(lambda: self._config(ns).list(all_states=True, all_namespaces=all_namespaces))
        return [_info(x, ns) for x in entries]

    def get_all(self, release: str, *, namespace: str | None = None) -> tuple[ReleaseInfo, dict[str, Any]] | None:
        """``helm get all``: the newest revision (summary with manifest and description) and its user-supplied
        values in one read; None when the release does not exist. The same revision ``status`` and
        ``get_values`` return, read once."""
        ns = namespace or self.namespace
        data = self._read_release("get all", release, ns, lambda: self._config(ns).get_all(release))
        if data is None:
            return None
        summary = dict(data.get("summary") or {})
        # the summary is status's (same ``updated`` as status and history); the description is in ``info``
        summary.setdefault("description", (data.get("info") or {}).get("description") or "")
        return _info(summary, ns), dict(data.get("config") or {})

    def get_values(self, release: str, *, namespace: str | None = None, revision: int | None = None,
                   all_values: bool = False) -> dict[str, Any]:
        ns = namespace or self.namespace
        with self._action("get values", release, ns):
            values = self._read(lambda: self._config(ns).get_values(release, revision=revision,
                                                                    all_values=all_values))
        return dict(values or {})

    def get_manifest(self, release: str, *, namespace: str | None = None, revision: int | None = None) -> str:
        info = self.status(release, namespace=namespace, revision=revision)
        if info is None:
            ns = namespace or self.namespace
            raise ReleaseNotFound("get manifest", release, ns, "release not found")
        return info.manifest

    # --- writes -----------------------------------------------------------------------------------

    def upgrade_install(self, chart_dir: Path | str, release: str, values: Mapping[str, Any], *,
                        namespace: str | None = None, wait: str | None = "watcher", timeout: int = 300,
                        create_namespace: bool = True, description: str | None = None,
                        dry_run: str | None = None, chart_version: str | None = None,
                        repo_url: str | None = None, cancel: Any = None,
                        exists: bool | None = None, client_validation: bool = True) -> ReleaseInfo:
        """``helm upgrade --install``: install when absent, upgrade otherwise (never both). ``exists``: the caller
        read the release already (its plan), so Helm's history is not read again to choose.

        ``client_validation=False`` (server-side dry runs only): Helm's ``disable_openapi_validation``. Helm's
        client then skips kubectl's field-validation probe (an OpenAPI v3 download and parse per group-version
        and per namespace handle, most of a dry run's cost); the caller must know the API server validates the
        fields itself (:meth:`KubeClient.validates_fields`), where the probe finds exactly that and Helm validates
        nothing on the client either way."""
        ns = namespace or self.namespace
        if wait is not None and wait not in WAIT_MODES:
            raise ConfigError(f"unknown wait mode {wait!r}; use one of {', '.join(WAIT_MODES)}")
        if not client_validation and dry_run != "server":
            raise ConfigError("client-side validation can only be skipped for a server-side dry run")
        if exists is None:
            exists = bool(self.history(release, namespace=ns))
        action = "upgrade" if exists else "install"
        common: dict[str, Any] = dict(namespace=ns, timeout=timeout, wait=wait, dry_run=dry_run,
                                      description=description, chart_repo_url=repo_url,
                                      chart_version=chart_version, context=cancel,
                                      plain_http=bool(repo_url and repo_url.startswith("http://")))
        chart = str(chart_dir)
        skip_check = self._server_checks_fields()
        started = time.monotonic()
        with self._action(action, release, ns):
            cfg = self._config(ns)
            if skip_check or not client_validation:
                data = _write_without_openapi_check(cfg, exists, chart, release, dict(values), common,
                                                    max_history=20 if exists else None,
                                                    create_namespace=create_namespace if not exists else None)
            elif exists:
                data = cfg.upgrade(chart, release, dict(values), max_history=20, **common)
            else:
                data = cfg.install(chart, release, dict(values), create_namespace=create_namespace, **common)
        info = _info(data, ns)
        if dry_run is None:  # Helm's write returned without an error: was the record of its outcome stored?
            stored = self.status(release, namespace=ns)
            if stored is None or stored.revision != info.revision or stored.status != info.status:
                found = (f"the newest stored revision is {stored.revision} {stored.status}" if stored is not None
                         else "no revision is stored")
                raise _not_stored(action, release, ns, started,
                                  f"Helm applied revision {info.revision} and reported it {info.status}, but its "
                                  f"record was not stored: {found}")
        return info

    def _server_checks_fields(self) -> bool:
        if self._skip_openapi_check is None:
            try:
                self._skip_openapi_check = bool(self._server_validates and self._server_validates())
            except Exception:  # not known: keep Helm's own check (it is only slower)
                return False
        return self._skip_openapi_check

    def rollback(self, release: str, *, revision: int | None = None, namespace: str | None = None,
                 wait: str | None = "watcher", timeout: int = 300) -> ReleaseInfo:
        """Roll back to ``revision`` (default: the previous one); returns the new current revision."""
        ns = namespace or self.namespace
        started = time.monotonic()
        with self._action("rollback", release, ns):
            self._config(ns).rollback(release, version=revision, wait=wait, timeout=timeout)
        info = self.status(release, namespace=ns)
        if info is None:
            raise ReleaseNotFound("rollback", release, ns, "release vanished after rollback")
        if info.status != "deployed":  # a successful rollback stores its new revision deployed
            raise _not_stored("rollback", release, ns, started,
                              f"Helm rolled back to revision {revision or 'the previous one'} without an error, but "
                              f"the newest stored revision is {info.revision} {info.status}")
        return info

    def uninstall(self, release: str, *, namespace: str | None = None, wait: str | None = None,
                  timeout: int = 300) -> bool:
        """Remove the release; False when there was nothing to remove."""
        ns = namespace or self.namespace
        if not self.history(release, namespace=ns):
            return False
        with self._action("uninstall", release, ns):
            self._config(ns).uninstall(release, ignore_not_found=True, wait=wait, timeout=timeout)
        return True


def _write_without_openapi_check(cfg: Any, exists: bool, chart: str, release: str, values: dict[str, Any],
                                  common: dict[str, Any], *, max_history: int | None,
                                  create_namespace: bool | None) -> Any:
    """``Config.upgrade``/``Config.install`` with ``--disable-openapi-validation`` (Helm's DisableOpenAPIValidation),
    an option the Python wrapper does not expose: the same native entry point and argument layout as the wrapper's
    own methods, one more option. Falls back to the wrapper's method if its layout ever changes."""
    from helm_python import _native

    options = {"namespace": common["namespace"], "timeout_seconds": common["timeout"], "wait": common["wait"],
               "dry_run": common["dry_run"], "description": common["description"],
               "chart_repo_url": common["chart_repo_url"], "chart_version": common["chart_version"],
               "plain_http": common["plain_http"] or None, "max_history": max_history,
               "create_namespace": create_namespace or None, "disable_openapi_validation": True}
    try:
        handle, ref = cfg._chart_args(chart)
        context = cfg._context_arg(common["context"])
        raw = cfg._raw()
    except AttributeError:
        if exists:
            return cfg.upgrade(chart, release, values, max_history=max_history, **common)
        return cfg.install(chart, release, values, create_namespace=bool(create_namespace), **common)
    payload = _native.call_string("helm_upgrade" if exists else "helm_install", raw, context, handle, ref, release,
                                  json.dumps(values),
                                  json.dumps({k: v for k, v in options.items() if v is not None}))
    return json.loads(payload)


def _not_stored(action: str, release: str, ns: str, started: float, found: str) -> RecordNotStored:
    """Helm reported a write done whose outcome is not in its stored record (it logs a failed final record write and
    reports success anyway: the release is then left ``pending-*``, and every later Helm write to it is refused);
    with what Helm logged about it since ``started``."""
    why = _helm_log.since(started, release)
    return RecordNotStored(action, release, ns, found + (f" (Helm logged: {why})" if why else ""),
                           hint="the release is left pending: roll it back with --recover (the tool does it itself "
                                "while it holds the deploy lease)")


def new_cancel_token() -> Any:
    """A Helm cancellation context: ``token.cancel()`` from any thread aborts a running install/upgrade."""
    return _helm().HelmContext()


def _clean(message: str) -> str:
    """Helm's messages can span lines; keep them on one line for the user."""
    return " ".join(part.strip() for part in message.strip().splitlines() if part.strip())


def _hint_for(message: str) -> str | None:
    low = message.lower()
    if "connection refused" in low or "no such host" in low or "i/o timeout" in low:
        return "the Kubernetes API is unreachable: check the environment's context, or run invoke sandbox.up"
    if "another operation" in low and "in progress" in low:
        return "a previous run left the release pending: rerun with --recover"
    if "context deadline exceeded" in low or "timed out" in low:
        return "workloads did not become ready in time: see the pods above, or raise --timeout"
    return None


def to_json(info: ReleaseInfo) -> dict[str, Any]:
    """A ReleaseInfo as plain JSON-able data (manifest omitted)."""
    data: dict[str, Any] = json.loads(json.dumps({
        "name": info.name, "namespace": info.namespace, "revision": info.revision, "status": info.status,
        "chart": info.chart, "chart_version": info.chart_version, "app_version": info.app_version,
        "updated": info.updated, "description": info.description,
    }))
    return data


# --- chart sources: packaging, repository indexes, pulls with a version cache (libraries) ------------------

_pull_locks: dict[Path, threading.Lock] = {}
_pull_locks_guard = threading.Lock()


def package_chart(chart_dir: Path, destination: Path) -> Path:
    """``helm package``: the chart as ``<name>-<version>.tgz`` in ``destination``."""
    helm = _helm()
    destination.mkdir(parents=True, exist_ok=True)
    try:
        return Path(helm.package(chart_dir, destination=destination))
    except helm.HelmError as e:
        raise ConfigError(f"chart {chart_dir} cannot be packaged: {_first_line(e)}") from e


def generate_repo_index(directory: Path, *, base_url: str | None = None) -> dict[str, Any]:
    """``helm repo index``: write ``directory/index.yaml`` for every ``.tgz`` there; returns the index."""
    helm = _helm()
    try:
        index: dict[str, Any] = helm.repo_index_generate(directory, base_url=base_url)
    except helm.HelmError as e:
        raise ConfigError(f"cannot index chart repository folder {directory}: {_first_line(e)}") from e
    return index


def is_oci(repo: str) -> bool:
    return repo.startswith("oci://")


def chart_reference(chart: str, repo: str) -> str:
    """How a user would name the chart: ``oci://host/path/chart`` or ``<repo URL> chart``."""
    return f"{repo.rstrip('/')}/{chart}" if is_oci(repo) else f"{chart} from {repo}"


def _cache_slug(repo: str) -> str:
    # one folder per repository, readable: https://charts.jetstack.io -> charts.jetstack.io
    body = re.sub(r"^[a-z]+://", "", repo.rstrip("/"))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", body) or "repo"


def cached_chart_path(cache_dir: Path, chart: str, repo: str, version: str) -> Path:
    return cache_dir / _cache_slug(repo) / f"{chart}-{version}.tgz"


def _loopback(repo: str) -> bool:
    host = re.sub(r"^[a-z]+://", "", repo).split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def pull_chart(chart: str, *, repo: str, version: str, cache_dir: Path, release: str = "") -> tuple[Path, bool]:
    """Fetch ``chart`` at ``version`` from an HTTP chart repository or an ``oci://`` registry with real Helm.

    Archives are cached by repository and version (a pinned version never changes), so the second pull of the
    same version reads the cache. Returns ``(archive, pulled)``; ``pulled`` is False on a cache hit.
    """
    from prjdevops.errors import ChartSourceError

    helm = _helm()
    target = cached_chart_path(cache_dir, chart, repo, version)
    with _pull_locks_guard:
        lock = _pull_locks.setdefault(target, threading.Lock())
    with lock:
        if target.is_file():
            return target, False
        target.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pull-") as tmp:
            try:
                if is_oci(repo):
                    # plain HTTP only for a registry on this machine (the stand-in); remote ones use TLS
                    helm.pull(chart_reference(chart, repo), version=version, destination=tmp,
                              plain_http=_loopback(repo))
                else:
                    helm.pull(chart, repo_url=repo, version=version, destination=tmp)
            except helm.HelmError as e:
                who = f"release {release!r}: " if release else ""
                raise ChartSourceError(
                    f"{who}cannot pull chart {chart!r} version {version} from {repo}: {_clean(str(e))}",
                    hint=_pull_hint(str(e), repo)) from e
            archives = sorted(Path(tmp).glob("*.tgz"))
            if len(archives) != 1:
                raise ChartSourceError(f"pulling chart {chart!r} {version} from {repo} gave {len(archives)} "
                                       "archives, expected one")
            archives[0].replace(target)  # atomic: a concurrent reader never sees half a file
    return target, True


def _pull_hint(message: str, repo: str) -> str | None:
    low = message.lower()
    if "not found" in low:
        return "check the chart name and pinned version against the repository's index"
    if "connection refused" in low or "no such host" in low or "cannot be reached" in low or "timeout" in low:
        if _loopback(repo):
            return ("the local stand-in chart repository is not running: start it with invoke libraries.serve, "
                    "or set libraries.standins: true in the environment")
        return "the chart repository is unreachable from here: check the URL, proxy and network"
    return None


def chart_crd_kinds(chart: Path) -> list[tuple[str, str]]:
    """``(group, kind)`` of every CRD in the chart's ``crds/`` folder (installed before its templates)."""
    import yaml

    helm = _helm()

    def load() -> list[tuple[str, str]]:
        try:
            with helm.Chart.load(chart) as loaded:
                files = loaded.crds
        except helm.HelmError as e:
            raise ConfigError(f"chart {chart} cannot be loaded: {_first_line(e)}") from e
        kinds: list[tuple[str, str]] = []
        for f in files:
            for doc in yaml.safe_load_all(str(f.get("data") or "")):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc.get("spec") or {}
                    kinds.append((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
        return kinds

    return cached_by_chart("crd kinds", chart, load)
