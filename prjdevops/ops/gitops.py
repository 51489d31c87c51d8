"""GitOps flows over Argo CD: render/validate the App-of-Apps, bootstrap, status, wait, sync, rollback by revert.

The cluster is reached through the official client's ``CustomObjectsApi`` (Applications are custom resources);
writes are server-side apply (field manager ``prjdevops``) or merge patches, as ``kubectl``/the Argo CD CLI do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prjdevops import argocd
from prjdevops.adapters.git import Git, same_repository
from prjdevops.adapters.kube import KubeClient
from prjdevops.argocd import GROUP, VERSION, AppStatus, Settings
from prjdevops.environments import known_environments, load_environment
from prjdevops.errors import ArgoCDError, ClusterError, ConfigError, DeployError, GitError
from prjdevops.model import Environment
from prjdevops.ops.guarded import Guard, Interaction, guarded
from prjdevops.ops.release import Reporter, _quiet

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
GITOPS_PATHS = ("environments", "helm")  # what a GitOps rollback reverts by default


# --- files: render and validate -------------------------------------------------------------------------------


def settings_for(env_dir: Path) -> Settings:
    return argocd.load_settings(argocd.argocd_dir(env_dir))


def _environments(env_dir: Path, settings: Settings) -> list[Environment]:
    known = known_environments(env_dir)
    missing = [n for n in settings.revisions if n not in known]
    if missing:
        raise ConfigError(f"{settings.file}: environments: no environment file for {', '.join(missing)} "
                          f"(known: {', '.join(known) or 'none'})")
    return [load_environment(n, env_dir) for n in settings.revisions]


def render_files(env_dir: Path) -> tuple[Settings, dict[Path, str]]:
    settings = settings_for(env_dir)
    root = env_dir.parent
    return settings, argocd.render(_environments(env_dir, settings), settings, root)


def write_files(env_dir: Path) -> list[Path]:
    """``argocd.render``: (re)write the generated files; returns the changed ones (relative to the repo)."""
    settings, files = render_files(env_dir)
    changed = argocd.write(settings.directory, files)
    return [settings.directory / p for p in changed]


def validate(env_dir: Path) -> argocd.Report:
    """``argocd.validate``: offline, every child app rendered through real Helm (stand-ins for repo charts)."""
    from prjdevops.adapters.helm import parse_set, render
    from prjdevops.values import load_values_file

    settings = settings_for(env_dir)

    def render_chart(chart: Path, values: dict[str, Any], release: str, namespace: str) -> None:
        render(chart, values, release=release, namespace=namespace)

    return argocd.validate(_environments(env_dir, settings), settings, env_dir.parent, render_chart=render_chart,
                           load_values=load_values_file, parse_set=parse_set)


# --- cluster reads ------------------------------------------------------------------------------------------------


def _plain(kube: KubeClient, obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = obj if isinstance(obj, dict) else kube.api_client.sanitize_for_serialization(obj)
    return data


def get_app(kube: KubeClient, settings: Settings, name: str) -> dict[str, Any]:
    obj = kube.get_or_none(f"read Application {name}", kube.custom().get_namespaced_custom_object, GROUP, VERSION,
                           settings.namespace, "applications", name)
    if obj is None:
        known = [a.name for a in list_apps(kube, settings)]
        raise ArgoCDError(f"no Application {name!r} in namespace {settings.namespace!r} "
                          f"(known: {', '.join(known) or 'none'})",
                          hint="bootstrap the root app first: invoke argocd.bootstrap --env <name>" if not known
                          else None)
    return _plain(kube, obj)


def list_apps(kube: KubeClient, settings: Settings) -> list[AppStatus]:
    """Every Application of the namespace, the root first, then by wave and name (like ``argocd app list``)."""
    result = _plain(kube, kube.call(f"list Applications in {settings.namespace}",
                                    kube.custom().list_namespaced_custom_object, GROUP, VERSION,
                                    settings.namespace, "applications"))
    apps = [argocd.parse_status(o) for o in result.get("items") or []]
    return sorted(apps, key=lambda a: (a.name != settings.root, a.wave, a.name))


def status(kube: KubeClient, settings: Settings, name: str) -> AppStatus:
    return argocd.parse_status(get_app(kube, settings, name))


# --- wait -------------------------------------------------------------------------------------------------------


def wait(kube: KubeClient, settings: Settings, name: str, *, health: bool = True, sync: bool = True,
         revision: str | None = None, timeout: float = 300, interval: float = 1.0, report: Reporter = _quiet,
         until: Callable[[AppStatus], bool] | None = None) -> AppStatus:
    """Poll the Application until it is Healthy and/or Synced (at ``revision``), reporting each change."""
    deadline = time.monotonic() + timeout
    last = ""
    want = " and ".join(w for w, on in (("Synced", sync), ("Healthy", health)) if on) or "settled"
    if revision:
        want += f" at revision {revision[:12]}"
    while True:
        st = status(kube, settings, name)
        line = argocd.state_line(st)
        left = max(0.0, deadline - time.monotonic())
        if line != last:
            report(f"  {name}: {line} ({left:.0f}s left)")
            last = line
        done = until(st) if until is not None else argocd.reached(st, health=health, sync=sync, revision=revision)
        if done:
            return st
        if left <= 0:
            detail = "; ".join(f"{r.kind}/{r.name} {r.status}" for r in st.out_of_sync[:5])
            raise ArgoCDError(f"Application {name!r} is not {want} after {timeout:.0f}s: {line}"
                              + (f" (out of sync: {detail})" if detail else ""),
                              hint=f"inspect with invoke argocd.get {name}")
        time.sleep(min(interval, left))


# --- bootstrap ----------------------------------------------------------------------------------------------------


def _apply(kube: KubeClient, doc: dict[str, Any], plural: str) -> None:
    """Server-side apply (upsert) of one namespaced object, field manager ``prjdevops``.

    The answer is not used: the official client returns None when the apply created the object (201).
    """
    meta = doc["metadata"]
    what = f"apply {doc['kind']} {meta['namespace']}/{meta['name']}"
    if doc["apiVersion"] == "v1":
        kube.call(what, kube.core().patch_namespaced_config_map, meta["name"], meta["namespace"], doc,
                  field_manager=argocd.MANAGER, force=True, _content_type=APPLY)
    else:
        kube.call(what, kube.custom().patch_namespaced_custom_object, GROUP, VERSION, meta["namespace"], plural,
                  meta["name"], doc, field_manager=argocd.MANAGER, force=True, _content_type=APPLY)


def require_argocd(kube: KubeClient, env: Environment) -> None:
    """The Application CRD must be served, or nothing here can work."""
    ext = kube.apiextensions()
    for crd in ("applications.argoproj.io", "appprojects.argoproj.io"):
        if kube.get_or_none(f"read CRD {crd}", ext.read_custom_resource_definition, crd) is None:
            raise ArgoCDError(f"Argo CD is not installed in the cluster of {env.name!r} (no {crd} CRD)",
                              hint=f"deploy the argo-cd library release first (environment {env.name})")


def documents_for(settings: Settings, env: str) -> list[dict[str, Any]]:
    """The committed AppProject + root Application of ``env`` and the argocd-cm health check, in apply order."""
    root_file = settings.directory / argocd.ROOT_FILE
    cm_file = settings.directory / argocd.CM_FILE
    for f in (root_file, cm_file):
        if not f.is_file():
            raise ConfigError(f"{f} does not exist", hint="run invoke argocd.render and commit the result")
    docs = [d for d in argocd.read_documents(root_file) if isinstance(d, dict)
            and ((d.get("metadata") or {}).get("labels") or {}).get(argocd.ENV_LABEL) == env]
    projects = [d for d in docs if d.get("kind") == "AppProject"]
    roots = [d for d in docs if d.get("kind") == "Application"]
    if len(roots) != 1:
        raise ConfigError(f"{root_file}: environment {env!r} has {len(roots)} root Applications, expected one",
                          hint="run invoke argocd.render")
    for d in roots:
        problems = argocd.check_application(d, projects=["default", *(argocd._name(p) for p in projects)],
                                            namespaces=[settings.namespace], settings=settings)
        if problems:
            raise ConfigError(f"{root_file}: Application {argocd._name(d)!r}: " + "; ".join(problems))
    cm = [d for d in argocd.read_documents(cm_file) if isinstance(d, dict)]
    return [*cm, *projects, *roots]


@dataclass
class Applied:
    kind: str
    name: str
    namespace: str


def bootstrap(kube: KubeClient, env: Environment, settings: Settings, *, io: Interaction,
              report: Reporter = _quiet) -> list[Applied]:
    """Apply the health check, the AppProject and the root app into ``argocd`` of ``env``'s cluster.

    Production guards first (cluster identity, typed confirmation) as for any change there.
    """
    settings.revision(env.name)  # the environment must be one Argo CD runs
    docs = documents_for(settings, env.name)
    with guarded(kube, env, io=io, report=report) as guard:
        require_argocd(kube, env)
        guard.confirm(f"apply the root Application {settings.root!r}")
        guard.check()
        kube.ensure_namespace(settings.namespace)
        done: list[Applied] = []
        for doc in docs:
            plural = {"Application": "applications", "AppProject": "appprojects"}.get(doc["kind"], "")
            guard.check()
            _apply(kube, doc, plural)
            meta = doc["metadata"]
            report(f"applied {doc['kind']} {meta['namespace']}/{meta['name']} (server-side, manager "
                   f"{argocd.MANAGER})")
            done.append(Applied(doc["kind"], meta["name"], meta["namespace"]))
        return done


# --- sync -----------------------------------------------------------------------------------------------------------


def sync(kube: KubeClient, env: Environment, settings: Settings, name: str, *, prune: bool = False,
         io: Interaction, timeout: float = 300, interval: float = 1.0, report: Reporter = _quiet) -> AppStatus:
    """Start a sync as the Argo CD CLI does (write ``operation``), then wait for it and for Synced + Healthy."""
    with guarded(kube, env, io=io, report=report) as guard:
        before = status(kube, settings, name)
        if before.operating:
            raise ArgoCDError(f"Application {name!r}: another operation is already in progress "
                              f"({before.phase or 'requested'})", hint=f"wait for it: invoke argocd.wait {name}")
        guard.confirm(f"sync {name}" + (" with prune" if prune else ""))
        request = uuid.uuid4().hex
        body = {"operation": argocd.sync_operation(prune=prune, request_id=request)}
        guard.check()
        kube.call(f"start sync of Application {name}", kube.custom().patch_namespaced_custom_object, GROUP,
                  VERSION, settings.namespace, "applications", name, body, _content_type=MERGE)
    report(f"sync of {name} requested" + (" (prune)" if prune else ""))

    def finished(st: AppStatus) -> bool:
        return (not st.operating and ("Request", request) in st.operation_info
                and st.phase in ("Succeeded", "Failed", "Error"))

    st = wait(kube, settings, name, health=False, sync=False, timeout=timeout, interval=interval, report=report,
              until=finished)
    if st.phase != "Succeeded":
        raise ArgoCDError(f"sync of Application {name!r} ended {st.phase}: {st.operation_message or 'no message'}",
                          hint=f"inspect with invoke argocd.get {name}")
    return wait(kube, settings, name, health=True, sync=True, timeout=timeout, interval=interval, report=report)


# --- GitOps rollback -----------------------------------------------------------------------------------------------


@dataclass
class Rollback:
    reverted: str  # the commit undone
    commit: str  # the new revert commit, pushed
    pushed_to: str
    status: AppStatus | None


# Files under environments/ and helm/ that change nothing Argo CD renders: a commit touching only these is never the
# default commit to revert.
NOT_RENDERED = (":(exclude,glob)**/*.md", ":(exclude,glob)**/README*", ":(exclude,glob)**/LICENSE*",
                ":(exclude,glob)**/.helmignore", ":(exclude,glob)**/templates/NOTES.txt")


def _paths(repo_root: Path, env_dir: Path) -> list[str]:
    """The default rollback scope: what Argo CD renders from environments/ and helm/ (as git pathspecs)."""
    out = []
    for p in (env_dir, env_dir.parent / "helm"):
        try:
            out.append(p.resolve().relative_to(repo_root.resolve()).as_posix() or ".")
        except ValueError:
            continue
    return [*(out or GITOPS_PATHS), *NOT_RENDERED]


def rollback(git: Git, kube: KubeClient | None, env: Environment, settings: Settings, env_dir: Path, *,
             commit: str | None, io: Interaction, timeout: float = 300, interval: float = 1.0,
             report: Reporter = _quiet) -> Rollback:
    """``git revert`` a commit, show it, confirm, push to the tracked branch, wait for the root app.

    Refuses a dirty work tree, an operation in progress, a branch that is ahead, behind or diverged from its
    upstream, or a branch Argo CD does not track. A conflicting revert is aborted (the tree is left as it was)
    and the conflicting files named. Never resets --hard, never force-pushes.
    """
    if kube is None:  # no cluster to guard or wait for (the revert and push only)
        return _rollback(git, None, env, settings, env_dir, Guard(env, io, report), commit=commit, timeout=timeout,
                         interval=interval, report=report)
    with guarded(kube, env, io=io, report=report) as guard:
        return _rollback(git, kube, env, settings, env_dir, guard, commit=commit, timeout=timeout,
                         interval=interval, report=report)


def _rollback(git: Git, kube: KubeClient | None, env: Environment, settings: Settings, env_dir: Path, guard: Guard,
              *, commit: str | None, timeout: float, interval: float, report: Reporter) -> Rollback:
    target_revision = settings.revision(env.name)
    top = git.toplevel()
    busy = git.operation_in_progress()
    if busy:
        raise GitError(f"a {busy} is in progress in {top}: finish or abort it first")
    dirty = git.dirty()
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise GitError(f"the work tree {top} has uncommitted changes ({shown}): commit or stash them first; "
                       "nothing was reverted")
    up = git.upstream()
    if up.remote_branch != target_revision:
        raise GitError(f"branch {up.branch!r} pushes to {up.ref}, but Argo CD follows {target_revision!r} for "
                       f"{env.name!r}: a revert there would not roll anything back")
    url = git.remote_url(up.remote)
    if url and not same_repository(url, settings.repo_url):
        report(f"note: {up.remote} is {url}, but Argo CD reads {settings.repo_url}: the wait only ends once Argo CD "
               "sees this push there")
    git.fetch(up.remote)
    ahead, behind = git.ahead_behind(up)
    if ahead and behind:
        raise GitError(f"branch {up.branch!r} has diverged from {up.ref} ({ahead} local, {behind} remote commit(s)):"
                       " reconcile it first; nothing was reverted")
    if behind:
        raise GitError(f"branch {up.branch!r} is {behind} commit(s) behind {up.ref}: pull (fast-forward) first so "
                       "the revert applies to what Argo CD runs; nothing was reverted")
    if ahead:
        raise GitError(f"branch {up.branch!r} has {ahead} unpushed commit(s): pushing the revert would publish "
                       "them too; push or drop them first; nothing was reverted")
    if commit:
        sha = git.resolve(commit)
        if not git.is_ancestor(sha):
            raise GitError(f"commit {commit} is not in the history of {up.branch!r}; nothing to revert")
    else:
        paths = _paths(top, env_dir)
        found = git.last_commit_touching(paths)
        if found is None:
            scope = ", ".join(p for p in paths if not p.startswith(":"))
            raise GitError(f"no commit changed what Argo CD renders ({scope}) on {up.branch!r}; nothing to revert")
        sha = found
    if len(git.parents(sha)) > 1:
        raise GitError(f"commit {sha[:12]} is a merge: choose the commit to undo inside it (or revert the merge "
                       "by hand with git revert -m 1); nothing was reverted")
    if len(git.parents(sha)) == 0:
        raise GitError(f"commit {sha[:12]} is the repository's first commit; reverting it would empty the repo")
    head = git.head()
    report(f"reverting {git.subject(sha)} on {up.branch} (pushes to {up.ref})")
    if not git.revert_no_commit(sha):
        files = git.conflicted()
        git.revert_abort()
        left = git.dirty()
        unchanged = git.head() == head and not left
        raise GitError(f"reverting {sha[:12]} conflicts in {', '.join(files) or 'some files'}: aborted with git "
                       f"revert --abort, " + ("the work tree is as it was" if unchanged
                                              else f"but {', '.join(left)} still differ")
                       + "; nothing was pushed", hint="revert by hand and resolve the conflicts, or pick another "
                                                      "commit with --commit")
    try:
        if not git.staged_diff().strip():
            raise GitError(f"reverting {sha[:12]} changes nothing (already reverted?); nothing was committed or "
                           "pushed")
        for line in git.staged_diff(stat=True).rstrip().splitlines():
            report(line)
        report(git.staged_diff().rstrip())
        guard.confirm("the GitOps rollback", always=True,
                      question=f"commit this revert and push it to {up.ref} ({env.name})? Type 'yes' to continue: ",
                      declined="not confirmed: the revert was abandoned and nothing was pushed")
        new = git.commit_revert()
    except BaseException:
        if git.operation_in_progress() == "revert":
            git.revert_abort()
        raise
    try:
        git.push(up)
    except GitError as e:
        raise GitError(f"{e.message}; the revert is committed locally as {new[:12]} but NOT pushed",
                       hint="pull --rebase and push it, or drop it with git reset --keep HEAD~1") from e
    report(f"pushed revert {new[:12]} to {up.ref}")
    if kube is None:
        return Rollback(sha, new, up.ref, None)
    try:
        refresh(kube, settings, settings.root)
        st = wait(kube, settings, settings.root, health=True, sync=True, revision=new, timeout=timeout,
                  interval=interval, report=report)
    except DeployError as e:
        raise type(e)(f"revert {new[:12]} is pushed to {up.ref}, but {e.message}", hint=e.hint) from e
    return Rollback(sha, new, up.ref, st)


def refresh(kube: KubeClient, settings: Settings, name: str) -> None:
    """Ask Argo CD to re-read Git now (the annotation ``argocd app get --refresh`` sets)."""
    body = {"metadata": {"annotations": {argocd.REFRESH: "normal"}}}
    try:
        kube.call(f"refresh Application {name}", kube.custom().patch_namespaced_custom_object, GROUP, VERSION,
                  settings.namespace, "applications", name, body, _content_type=MERGE)
    except ClusterError as e:
        raise ArgoCDError(f"cannot refresh Application {name!r}: {e.message}") from e


def summary_rows(apps: Sequence[AppStatus]) -> list[list[Any]]:
    return [[a.name, a.wave, a.namespace, a.project, a.sync, a.health, a.revision[:8] or "-",
             a.phase or ("Requested" if a.operation_requested else "-")] for a in apps]
