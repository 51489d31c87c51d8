"""One plan per release: Helm's live state, the desired objects from Helm's server-side dry run, the per-object
diffs, one :class:`Action`, the validation and a digest. Every diff, dry run, plan, deploy and backup uses it;
nothing reads or diffs a second time.

* The live side is Helm's stored release (status, revision, user values, the release manifest, which holds no
  hooks) plus, where a flow needs a rollback target, the history.
* The desired side is what Helm's ``upgrade --install --dry-run=server`` would store: rendered with cluster
  access (``lookup`` sees the live Secret, so bitnami's password check passes and a ``randAlphaNum`` default
  guarded by ``lookup`` keeps its live value), the cluster's Capabilities, every kind checked against discovery,
  hooks kept out exactly as in the release manifest. Only where no cluster answers (or the caller says the
  release cannot be validated yet) is the chart rendered offline, and the plan says so.
* Hooks and test hooks are never diffed: they are listed apart ("hooks that will run").
* :func:`decide` turns the live state and the change into the action (pure, table-tested): Helm's status is part
  of the truth, so a ``failed`` or ``pending-*`` release is never "unchanged".
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prjdevops.adapters.helm import ReleaseInfo, cached_by_chart, load_chart_metadata, render
from prjdevops.errors import ClusterUnreachable, DeployError, HelmOperationError
from prjdevops.manifests import ObjectDiff, diff_objects, parse_manifest
from prjdevops.values import Redactor

INSTALL, UPGRADE, UNCHANGED, DELETE = "install", "upgrade", "unchanged", "delete"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
HOOK = "helm.sh/hook"
TEST_EVENTS = ("test", "test-success", "test-failure")
SERVER, OFFLINE = "server", "offline"


# --- the decision (pure) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveState:
    """The release as Helm stores it: its newest revision."""

    revision: int
    status: str
    chart: str  # chart@version
    values: Mapping[str, Any] = field(default_factory=dict)
    manifest: str = ""
    description: str = ""


@dataclass(frozen=True)
class Changes:
    """What differs between the live release and what a deploy would apply."""

    chart_from: str = ""
    chart_to: str = ""
    objects: int = 0  # objects that differ
    values_changed: bool = False
    rendered: bool = True  # False: the desired objects could not be rendered at all


@dataclass(frozen=True)
class Action:
    kind: str  # install | upgrade | unchanged | delete
    reason: str = ""
    recover: bool = False  # the newest revision is pending-*: roll it back before deploying again

    @property
    def changes(self) -> bool:
        return self.kind != UNCHANGED


def decide(live: LiveState | None, changes: Changes) -> Action:
    """The action from Helm's release state and the desired change."""
    if live is None:
        return Action(INSTALL, "not installed")
    if live.status in PENDING:
        return Action(UPGRADE, f"last revision {live.revision} is {live.status}: roll it back to the last deployed "
                               "revision, then deploy again", recover=True)
    if live.status != "deployed":
        return Action(UPGRADE, f"last revision {live.revision} is {live.status or 'unknown'}: deploy again")
    parts = []
    if changes.chart_from and changes.chart_to and changes.chart_from != changes.chart_to:
        parts.append(f"{changes.chart_from} -> {changes.chart_to}")
    if not changes.rendered:
        parts.append("the new manifest could not be rendered")
    if changes.objects:
        parts.append(f"{changes.objects} object(s) differ")
    if changes.values_changed:
        parts.append("values differ")
    if parts:
        return Action(UPGRADE, ", ".join(parts))
    return Action(UNCHANGED, "up to date")


# --- hooks ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    """A hook a deploy runs (or ``helm test`` runs): kept out of the object diff, as out of Helm's manifest."""

    kind: str
    name: str  # rendered name, or the template it comes from when only the chart's sources were read
    events: tuple[str, ...]
    delete_policy: str = ""

    @property
    def test(self) -> bool:
        return any(e in TEST_EVENTS for e in self.events)

    def text(self) -> str:
        policy = f", delete {self.delete_policy}" if self.delete_policy else ""
        return f"{self.kind}/{self.name} on {','.join(self.events)}{policy}"


def _hook_of(obj: Mapping[str, Any]) -> Hook | None:
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if HOOK not in ann:
        return None
    events = tuple(e.strip() for e in str(ann[HOOK]).split(",") if e.strip())
    return Hook(str(obj.get("kind")), str((obj.get("metadata") or {}).get("name")), events,
                str(ann.get("helm.sh/hook-delete-policy", "")))


def split_hooks(objects: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Hook]]:
    """(release objects, hooks): Helm stores hooks apart from the release manifest."""
    plain, hooks = [], []
    for obj in objects:
        hook = _hook_of(obj)
        if hook is None:
            plain.append(obj)
        else:
            hooks.append(hook)
    return plain, hooks


_HOOK_ANN = re.compile(r"^\s*[\"']?helm\.sh/hook[\"']?\s*:\s*[\"']?([a-z,\- ]+)[\"']?\s*$", re.M)
_KIND = re.compile(r"^kind:\s*(\S+)", re.M)
_POLICY = re.compile(r"^\s*[\"']?helm\.sh/hook-delete-policy[\"']?\s*:\s*[\"']?([a-z,\- ]+)", re.M)


def chart_hooks(chart: Path) -> list[Hook]:
    """The hooks a chart's templates declare, read from its sources (a folder or a ``.tgz``) without rendering:
    the server-side dry run does not return hooks, and a second render only to name them would cost a render.
    Read once per chart content (many releases of one chart in a plan)."""
    return cached_by_chart("hooks", chart, lambda: _chart_hooks(chart))


def _chart_hooks(chart: Path) -> list[Hook]:
    texts: list[tuple[str, str]] = []
    if chart.is_dir():
        for p in sorted(chart.rglob("*")):
            if p.is_file() and "templates" in p.relative_to(chart).parts and p.suffix in (".yaml", ".yml", ".tpl"):
                texts.append((str(p.relative_to(chart)), p.read_text(encoding="utf-8", errors="replace")))
    elif chart.is_file():
        with tarfile.open(chart) as tar:
            for m in tar.getmembers():
                if m.isfile() and "/templates/" in m.name and m.name.endswith((".yaml", ".yml")):
                    f = tar.extractfile(m)
                    if f is not None:
                        texts.append((m.name.split("/", 1)[1], f.read().decode("utf-8", "replace")))
    hooks = []
    for path, text in texts:
        for doc in re.split(r"(?m)^---", text):
            found = _HOOK_ANN.search(doc)
            if not found:
                continue
            kind = _KIND.search(doc)
            policy = _POLICY.search(doc)
            events = tuple(e.strip() for e in found[1].split(",") if e.strip())
            hooks.append(Hook(kind[1] if kind else "?", path, events, policy[1].strip() if policy else ""))
    return hooks


# --- the plan ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleasePlan:
    """What a deploy would do to one release, computed once and consumed by every command."""

    name: str
    namespace: str
    chart_to: str  # chart@version a deploy applies
    live: LiveState | None
    desired: tuple[dict[str, Any], ...]
    hooks: tuple[Hook, ...]
    diffs: tuple[ObjectDiff, ...]
    values_changed: bool
    action: Action
    validation: str  # "server" | "offline: why" | "not validated: why" | "failed: why"
    digest: str
    history: tuple[ReleaseInfo, ...] = ()  # oldest first, when the flow asked for it (rollback targets)
    desired_manifest: str = field(default="", repr=False, compare=False)
    live_info: ReleaseInfo | None = field(default=None, repr=False, compare=False)  # Helm's summary (backups)

    @property
    def changes(self) -> bool:
        return self.action.changes

    @property
    def status(self) -> str:
        return self.live.status if self.live else ""

    @property
    def chart_from(self) -> str:
        return self.live.chart if self.live else ""

    @property
    def rejected(self) -> bool:
        return self.validation.startswith("failed")

    @property
    def rendered_by(self) -> str:
        return SERVER if self.validation == SERVER else OFFLINE

    def summary(self) -> str:
        if self.action.kind == INSTALL:
            return f"install {self.chart_to} ({len(self.diffs)} object(s))"
        if self.action.kind == UNCHANGED:
            return f"unchanged ({self.chart_to})"
        return f"upgrade: {self.action.reason}"

    def hook_lines(self) -> list[str]:
        if not self.changes:
            return []
        run = [h for h in self.hooks if not h.test]
        tests = [h for h in self.hooks if h.test]
        out = [f"  hook    {h.text()}" for h in run]
        out += [f"  test    {h.text()} (run by helm test, not by a deploy)" for h in tests]
        return out

    def lines(self) -> list[str]:
        """Summary first: the action, the validation, objects added/changed/removed per kind, the fields that
        change in each changed object, and the hooks that will run (object diffs: ``summary.diff_lines``)."""
        from prjdevops import summary

        out = [f"{self.name} ({self.namespace}): {self.summary()}"]
        if self.validation != SERVER:
            out.append(f"  note: {self.validation}")
        out += summary.kind_table(self.diffs) + summary.field_lines(self.diffs)
        return out + self.hook_lines()


def inputs_digest(chart: str, namespace: str, values: Mapping[str, Any], redactor: Redactor) -> str:
    """What a release is deployed from: chart@version, namespace and values (secrets redacted, so a digest on disk
    never carries one; a changed secret alone is not seen as a changed input)."""
    text = json.dumps({"chart": chart, "namespace": namespace, "values": values}, sort_keys=True, default=str)
    return hashlib.sha256(redactor.text(text).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LiveRead:
    """Helm's reads of one release: its newest revision and user values (and the history, when asked)."""

    info: ReleaseInfo | None
    values: Mapping[str, Any]
    history: tuple[ReleaseInfo, ...] = ()
    unreachable: str = ""  # why no cluster answered ("" when one did)

    def state(self) -> LiveState | None:
        if self.info is None:
            return None
        i = self.info
        return LiveState(i.revision, i.status, f"{i.chart}@{i.chart_version}", dict(self.values), i.manifest,
                         i.description)


def _unreachable(e: DeployError) -> str:
    """Why no cluster answered, or "" when the error is something else."""
    if isinstance(e, ClusterUnreachable):
        return e.message
    if isinstance(e, HelmOperationError) and ("unreachable" in e.detail.lower()
                                              or "connection refused" in e.detail.lower()):
        return e.detail
    return ""


def read_live(target: Any, name: str, namespace: str, *, with_history: bool = False) -> LiveRead:
    """Helm's stored state of the release: 1 read (``helm get all``: the newest revision with its manifest,
    description and user values), 2 with the history."""
    try:
        found = target.helm.get_all(name, namespace=namespace)
    except DeployError as e:
        why = _unreachable(e)
        if why:
            return LiveRead(None, {}, (), why)
        raise
    if found is None:
        return LiveRead(None, {})
    info, values = found
    history = tuple(target.helm.history(name, namespace=namespace)) if with_history else ()
    return LiveRead(info, values, history)


def read_all_live(target: Any, releases: Iterable[tuple[str, str]]) -> dict[tuple[str, str], LiveRead]:
    """Helm's stored state of many releases ``(name, namespace)``: one list of every release in every namespace
    (newest revisions, any state), then one ``get all`` for each release that exists. Where the list is refused
    (no right to list Secrets in every namespace) each release is read on its own."""
    wanted = list(dict.fromkeys(releases))
    try:
        listed = {(i.name, i.namespace) for i in target.helm.list(all_namespaces=True)}
    except DeployError as e:
        why = _unreachable(e)
        if why:
            return {key: LiveRead(None, {}, (), why) for key in wanted}
        listed = None
    return {key: read_live(target, *key) if listed is None or key in listed else LiveRead(None, {})
            for key in wanted}


def plan_release(target: Any, prep: Any, *, offline_reason: str = "", with_history: bool = False,
                 live: LiveRead | None = None) -> ReleasePlan:
    """The plan of one release (``target``: an ops.release.Target, ``prep``: its Prepared).

    ``offline_reason``: render offline and say why (e.g. its CRDs are installed by this same run first).
    ``live``: Helm's reads made already by the caller (the platform reads every release first).
    """
    rel = prep.release
    live = live or read_live(target, rel.name, rel.namespace, with_history=with_history)
    state = live.state()
    redactor = Redactor().merge(prep.redactor)
    if state is not None:
        # the live side can hold secrets this run does not know (set by an earlier run, or rotated since)
        redactor.add_secrets_of(state.values)
    chart = Path(rel.chart)
    desired_text, chart_to, validation, rendered = "", "", SERVER, True
    hooks: list[Hook] = []
    reason = offline_reason or (f"offline: no cluster answered ({live.unreachable})" if live.unreachable else "")
    if state is not None and state.status in PENDING and not reason:
        reason = f"not validated: revision {state.revision} is {state.status} (Helm refuses a dry run until it is " \
                 "rolled back)"
    parsed: list[dict[str, Any]] | None = None
    if not reason:
        try:
            info, parsed = server_dry_run(target, prep, exists=state is not None)
            desired_text, chart_to = info.manifest, f"{info.chart}@{info.chart_version}"
            hooks = chart_hooks(chart)
        except DeployError as err:
            reason = "failed: " + redactor.text(str(err))
    if reason:
        validation = reason
        try:
            rendered_docs = render(chart, prep.values.values, release=rel.name, namespace=rel.namespace,
                                   is_upgrade=state is not None)
            desired_text = "\n---\n".join(rendered_docs.values())
        except DeployError as err:
            rendered = False
            if not validation.startswith("failed"):
                validation = f"{validation}; offline render failed: {redactor.text(str(err))}"
        meta = load_chart_metadata(chart)
        chart_to = f"{meta.get('name')}@{meta.get('version')}"
    objects, rendered_hooks = split_hooks(parsed if parsed is not None and not reason
                                          else parse_manifest(desired_text, rel.namespace))
    hooks = hooks or rendered_hooks
    diffs = diff_objects(parse_manifest(state.manifest, rel.namespace) if state else [], objects, redactor)
    values_changed = state is not None and dict(state.values) != prep.values.values
    action = decide(state, Changes(state.chart if state else "", chart_to, len(diffs), values_changed, rendered))
    return ReleasePlan(
        name=rel.name, namespace=rel.namespace, chart_to=chart_to, live=state, desired=tuple(objects),
        hooks=tuple(hooks), diffs=tuple(diffs), values_changed=values_changed, action=action,
        validation=validation, digest=inputs_digest(chart_to, rel.namespace, prep.values.values, prep.redactor),
        history=live.history, desired_manifest=desired_text, live_info=live.info)


def kinds_of(objects: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """``(group, version, kind)`` of each object (pure)."""
    out = set()
    for obj in objects:
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        out.add((group, version, str(obj.get("kind", ""))))
    return out


def server_dry_run(target: Any, prep: Any, *, exists: bool) -> tuple[ReleaseInfo, list[dict[str, Any]]]:
    """Helm's ``upgrade --install --dry-run=server`` of the release, and its objects as Helm splits them.

    Helm's client runs kubectl's field-validation probe before building the objects: an OpenAPI v3 download and
    parse per group-version, per namespace handle (most of a dry run's cost), whose only outcome, where the API
    server validates fields itself, is that the client validates nothing. So the dry run is first made without
    it (``disable_openapi_validation``), and its result is kept only when the API server is known (read once
    per run, :meth:`KubeClient.validates_fields`) to validate every kind of the manifest itself; otherwise, or
    when that dry run fails, Helm's own dry run with its client-side checks is the answer."""
    rel = prep.release

    def dry_run(client_validation: bool) -> ReleaseInfo:
        info: ReleaseInfo = target.helm.upgrade_install(
            rel.chart, rel.name, prep.values.values, namespace=rel.namespace, wait=None, timeout=rel.timeout,
            dry_run="server", exists=exists, client_validation=client_validation)
        return info

    try:
        info = dry_run(False)
        objects = parse_manifest(info.manifest, rel.namespace)
        if target.kube.validates_fields(kinds_of(objects)):
            return info, objects
    except DeployError:
        pass  # Helm's own dry run below gives Helm's own verdict and message
    info = dry_run(True)
    return info, parse_manifest(info.manifest, rel.namespace)


# --- rollback targets (pure) and the health record of the tool's own deploys --------------------------------------

DEPLOYED_STATES = ("deployed", "superseded")  # Helm's states of a revision that was deployed successfully


def rollback_target(history: Iterable[ReleaseInfo], verdicts: Mapping[int, bool], *,
                    exclude: int | None = None) -> ReleaseInfo | None:
    """The newest revision that was deployed healthy: Helm recorded it deployed (or superseded by a later
    success) and the tool did not find it unhealthy (``verdicts``: revision -> healthy, for the tool's own
    deploys; a revision the tool did not deploy counts as Helm says). Never a failed or pending one."""
    for h in sorted(history, key=lambda x: x.revision, reverse=True):
        if h.revision == exclude:
            continue
        if h.status in DEPLOYED_STATES and verdicts.get(h.revision, True):
            return h
    return None


HEALTH_FILE = "health.json"


def health_file(env: Any, release: Any) -> Path:
    """Per environment and release, beside its backups (the backups folder is the tool's own state there)."""
    return Path(str(env.backup.dir)) / str(env.name) / str(release.name) / HEALTH_FILE


def load_verdicts(env: Any, release: Any, history: Iterable[ReleaseInfo]) -> dict[int, bool]:
    """The tool's recorded verdicts for the revisions in ``history``; a record only counts for the very revision
    it was written for (same number and Helm timestamp), so a reinstalled release never inherits one."""
    path = health_file(env, release)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for h in history:
        rec = data.get(str(h.revision)) if isinstance(data, dict) else None
        if isinstance(rec, dict) and rec.get("updated") == h.updated:
            out[h.revision] = bool(rec.get("healthy"))
    return out


def record_verdict(env: Any, release: Any, info: ReleaseInfo, healthy: bool, why: str = "") -> str:
    """Record whether the tool found ``info``'s revision healthy; returns "" or why it could not be written
    (best effort: a deploy never fails because of its health record)."""
    path = health_file(env, release)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        data[str(info.revision)] = {"healthy": healthy, "updated": info.updated, "why": why[:200]}
        keep = sorted(data, key=lambda k: int(k) if k.isdigit() else 0)[-50:]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: data[k] for k in keep}, indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        return f"health record {path} not written: {e.strerror or e}"
    return ""
