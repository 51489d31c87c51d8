"""Argo CD App-of-Apps against the sandbox, with real git.

The Argo CD CRDs come from the argo-cd stand-in chart (rendered by real Helm). The tests play the Argo CD
application controller (``FakeArgoCD``): a thread that reads each Application's ``.operation``, writes
``.status`` (sync, revision, health, operationState) and follows the "Git" revision of a bare repository that
serves as ``origin``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops import argocd
from prjdevops.adapters.git import Git
from prjdevops.adapters.kube import KubeClient
from prjdevops.environments import load_environment, project_root
from prjdevops.errors import ArgoCDError, GuardRefused
from prjdevops.model import Environment
from prjdevops.ops import gitops
from prjdevops.ops.production import Interaction
from tests.integration.conftest import invoke, write_env

pytestmark = pytest.mark.integration

NS = "argocd"
ROOT = "cocdev-platform-apps"
YES = Interaction(yes=True)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Project:
    origin: Path  # bare repository: what Argo CD reads
    work: Path  # the operator's clone
    env_dir: Path
    kubeconfig: Path

    @property
    def env_file(self) -> Path:
        return self.env_dir / "itest.yaml"

    def env(self) -> Environment:
        return load_environment("itest", self.env_dir)

    def settings(self) -> argocd.Settings:
        return gitops.settings_for(self.env_dir)

    def origin_head(self) -> str:
        return git(self.origin, "rev-parse", "refs/heads/main")

    def clone(self, name: str) -> Path:
        other = self.origin.parent / name
        subprocess.run(["git", "clone", "-q", str(self.origin), str(other)], check=True, capture_output=True)
        git(other, "config", "user.name", "Other Operator")
        git(other, "config", "user.email", "other@example.invalid")
        return other

    def change_replicas(self, repo: Path, replicas: int, message: str) -> str:
        """A GitOps change: the environment's set: line (regenerated Argo CD files committed with it)."""
        env_file = repo / "environments" / "itest.yaml"
        doc = yaml.safe_load(env_file.read_text())
        doc["releases"][0]["set"] = [f"replicaCount={replicas}"]
        env_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        gitops.write_files(repo / "environments")
        return commit_all(repo, message)


def make_project(tmp_path: Path, kubeconfig: Path, **env_overrides: Any) -> Project:
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "config", "user.name", "Test Operator")  # local to the test repository, never global
    git(work, "config", "user.email", "operator@example.invalid")
    shutil.copytree(project_root() / "helm" / "applications" / "plate-web", work / "helm/applications/plate-web")
    env_dir = work / "environments"
    write_env(env_dir, "itest", kubeconfig, releases=[
        {"name": "plate-web", "chart": "helm/applications/plate-web", "namespace": "plate-web",
         "values": ["values-stg.yaml"], "timeout": 30}], **env_overrides)
    (env_dir / "argocd").mkdir()
    (env_dir / "argocd" / "config.yaml").write_text(
        f"repoURL: {origin}\nenvironments: {{itest: {{targetRevision: main}}}}\n")
    gitops.write_files(env_dir)
    commit_all(work, "platform: plate-web on itest")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "-u", "origin", "main")
    return Project(origin=origin, work=work, env_dir=env_dir, kubeconfig=kubeconfig)


def install_argocd_crds(api_client: Any) -> None:
    """The Application/AppProject CRDs as the argo-cd stand-in chart ships them (rendered by real Helm)."""
    from kubernetes import client

    from prjdevops.adapters.helm import render

    out = render(project_root() / "helm" / "standins" / "argo-cd", {}, release="argo-cd", namespace=NS)
    crds = [d for text in out.values() for d in yaml.safe_load_all(text)
            if d and d.get("kind") == "CustomResourceDefinition"]
    assert {c["metadata"]["name"] for c in crds} >= {"applications.argoproj.io", "appprojects.argoproj.io"}
    ext = client.ApiextensionsV1Api(api_client)
    for crd in crds:
        ext.create_custom_resource_definition(crd)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeArgoCD:
    """Plays Argo CD's application controller against the sandbox (status written, operations consumed)."""

    api_client: Any
    revision: Callable[[], str]  # what "Git" holds now (the origin's branch head)
    outcome: dict[str, tuple[str, str]] = field(default_factory=dict)  # app -> (phase, message) for its syncs
    health: dict[str, str] = field(default_factory=dict)  # app -> health it reports (default Healthy)
    out_of_sync: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # app -> resources reported
    follow_git: bool = True  # automated sync: move to the new revision (through Progressing) when Git changes
    operations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> FakeArgoCD:
        from kubernetes import client

        self.api = client.CustomObjectsApi(self.api_client)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.03):
            try:
                apps = self.api.list_namespaced_custom_object(argocd.GROUP, argocd.VERSION, NS, "applications")
            except Exception:  # the CRD or namespace may not exist yet
                continue
            for app in apps.get("items") or []:
                self._reconcile(app)

    def _status(self, name: str, status: dict[str, Any]) -> None:
        self.api.patch_namespaced_custom_object_status(argocd.GROUP, argocd.VERSION, NS, "applications", name,
                                                       {"status": status},
                                                       _content_type="application/merge-patch+json")

    def _reconcile(self, app: dict[str, Any]) -> None:
        name = app["metadata"]["name"]
        status = app.get("status") or {}
        head = self.revision()
        resources = self.out_of_sync.get(name, [])
        sync_state = {"status": "OutOfSync" if resources else "Synced", "revision": head}
        op = app.get("operation")
        if op:
            self.operations.append((name, op))
            phase, message = self.outcome.get(name, ("Succeeded", "successfully synced (all tasks run)"))
            self._status(name, {
                "operationState": {"operation": op, "phase": phase, "message": message, "startedAt": now(),
                                   "finishedAt": now(), "syncResult": {"revision": head}},
                "sync": sync_state, "health": {"status": self.health.get(name, "Healthy")},
                "resources": resources})
            # Argo CD clears the request once it has recorded the operation's state
            self.api.patch_namespaced_custom_object(argocd.GROUP, argocd.VERSION, NS, "applications", name,
                                                    {"operation": None},
                                                    _content_type="application/merge-patch+json")
            return
        if not self.follow_git:
            return
        current = (status.get("sync") or {}).get("revision")
        if current != head:
            self._status(name, {"sync": {"status": "OutOfSync", "revision": head}, "health": {"status": "Progressing"},
                                "operationState": {"phase": "Running", "message": "syncing", "startedAt": now()}})
        elif current == head and (status.get("health") or {}).get("status") != self.health.get(name, "Healthy"):
            self._status(name, {"sync": sync_state, "health": {"status": self.health.get(name, "Healthy")},
                                "resources": resources,
                                "operationState": {"phase": "Succeeded", "message": "successfully synced",
                                                   "startedAt": now(), "finishedAt": now(),
                                                   "syncResult": {"revision": head}}})


@pytest.fixture
def project(tmp_path: Path, kubeconfig: Path) -> Project:
    return make_project(tmp_path, kubeconfig)


@pytest.fixture
def kube(project: Project) -> Iterator[KubeClient]:
    with KubeClient(project.env().cluster) as k:
        yield k


@pytest.fixture
def argo(api_client: Any, project: Project) -> Iterator[FakeArgoCD]:
    install_argocd_crds(api_client)
    with FakeArgoCD(api_client, revision=project.origin_head) as fake:
        yield fake


def bootstrapped(kube: KubeClient, project: Project, *, settle: bool = True) -> list[str]:
    """Bootstrap, then let the fake controller finish its first reconcile of the root app (it passes through a
    Running operation, as Argo CD does): a sync requested meanwhile is rightly refused as "in progress"."""
    from kubernetes import client

    lines: list[str] = []
    gitops.bootstrap(kube, project.env(), project.settings(), io=YES, report=lines.append)
    api = client.CustomObjectsApi(kube.api_client)
    deadline = time.monotonic() + (15 if settle else 0)
    while time.monotonic() < deadline:
        app = api.get_namespaced_custom_object(argocd.GROUP, argocd.VERSION, NS, "applications", ROOT)
        if ((app.get("status") or {}).get("operationState") or {}).get("phase") not in (None, "Running"):
            break  # reconciled: the first operation ended
        time.sleep(0.05)
    return lines


# --- bootstrap -------------------------------------------------------------------------------------------------


def test_bootstrap_applies_health_check_project_and_root_app(project: Project, kube: KubeClient,
                                                             api_client: Any) -> None:
    from kubernetes import client

    install_argocd_crds(api_client)
    lines = bootstrapped(kube, project, settle=False)  # no controller here
    assert lines == [f"applied {k} argocd/{n} (server-side, manager prjdevops)"
                     for k, n in [("ConfigMap", "argocd-cm"), ("AppProject", "cocdev-platform"),
                                  ("Application", ROOT)]]
    co = client.CustomObjectsApi(api_client)
    app = co.get_namespaced_custom_object(argocd.GROUP, argocd.VERSION, NS, "applications", ROOT)
    [_, committed] = argocd.read_documents(project.settings().directory / "app-of-apps.yaml")
    assert app["spec"] == committed["spec"]
    assert app["spec"]["source"]["path"] == "environments/argocd/apps/itest"
    cm = client.CoreV1Api(api_client).read_namespaced_config_map("argocd-cm", NS)
    assert cm.data[argocd.HEALTH_KEY] == argocd.HEALTH_LUA
    # idempotent (server-side apply upserts), and keys other managers own in argocd-cm stay
    client.CoreV1Api(api_client).patch_namespaced_config_map("argocd-cm", NS, {"data": {"url": "https://argo"}})
    bootstrapped(kube, project)
    cm = client.CoreV1Api(api_client).read_namespaced_config_map("argocd-cm", NS)
    assert cm.data == {argocd.HEALTH_KEY: argocd.HEALTH_LUA, "url": "https://argo"}


def test_bootstrap_without_argocd_installed_says_so(project: Project, kube: KubeClient, api_client: Any) -> None:
    from kubernetes import client

    with pytest.raises(ArgoCDError, match="Argo CD is not installed in the cluster of 'itest' "
                                          r"\(no applications.argoproj.io CRD\)"):
        bootstrapped(kube, project)
    assert NS not in [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]


def test_bootstrap_runs_the_production_guards_first(tmp_path: Path, kubeconfig: Path, api_client: Any) -> None:
    from kubernetes import client

    install_argocd_crds(api_client)
    proj = make_project(tmp_path, kubeconfig, guards={"confirm": True, "context_pattern": "^prod"})
    with KubeClient(proj.env().cluster) as k, pytest.raises(GuardRefused, match="does not match the required"):
        gitops.bootstrap(k, proj.env(), proj.settings(), io=YES, report=print)
    doc = yaml.safe_load(proj.env_file.read_text())
    doc["guards"] = {"confirm": True}
    proj.env_file.write_text(yaml.safe_dump(doc))
    with KubeClient(proj.env().cluster) as k, pytest.raises(GuardRefused, match="no terminal to ask"):
        gitops.bootstrap(k, proj.env(), proj.settings(), io=Interaction(yes=False, is_tty=False), report=print)
    with KubeClient(proj.env().cluster) as k, pytest.raises(GuardRefused, match="not confirmed"):
        gitops.bootstrap(k, proj.env(), proj.settings(), io=Interaction(is_tty=True, ask=lambda _: "no"),
                         report=print)
    assert NS not in [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]


# --- status, wait, sync -----------------------------------------------------------------------------------------


def test_status_lists_and_gets_apps_like_the_argocd_cli(project: Project, kube: KubeClient, argo: FakeArgoCD) -> None:
    argo.health[ROOT] = "Degraded"
    argo.out_of_sync[ROOT] = [{"group": "argoproj.io", "kind": "Application", "namespace": NS, "name": "plate-web",
                               "status": "OutOfSync", "health": {"status": "Missing"}}]
    bootstrapped(kube, project)
    st = gitops.wait(kube, project.settings(), ROOT, health=False, sync=False, revision=project.origin_head(),
                     timeout=10, interval=0.05)
    assert (st.sync, st.health, st.revision) == ("OutOfSync", "Degraded", project.origin_head())
    assert [f"{r.kind}/{r.name}" for r in st.out_of_sync] == ["Application/plate-web"]
    assert [a.name for a in gitops.list_apps(kube, project.settings())] == [ROOT]
    proc = invoke(["argocd.status", "--env", "itest", "--app", ROOT, "--json"], project.env_dir)
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)
    assert data["name"] == ROOT and data["sync"]["status"] == "OutOfSync" and data["health"]["status"] == "Degraded"
    assert data["outOfSync"][0]["name"] == "plate-web" and data["operation"]["phase"] == "Succeeded"
    table = invoke(["argocd.status", "--env", "itest"], project.env_dir)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "WAVE", "NAMESPACE", "PROJECT", "SYNC", "HEALTH", "REVISION", "LAST", "OP"]
    assert row.split()[:6] == [ROOT, "0", NS, "cocdev-platform", "OutOfSync", "Degraded"]
    one = invoke(["argocd.get", ROOT, "--env", "itest"], project.env_dir)
    assert "out of sync: Application/plate-web" in one.stdout and "Health Status: Degraded" in one.stdout


def test_unknown_app_names_the_known_ones(project: Project, kube: KubeClient, argo: FakeArgoCD) -> None:
    bootstrapped(kube, project)
    with pytest.raises(ArgoCDError, match=f"no Application 'plate' in namespace 'argocd' \\(known: {ROOT}\\)"):
        gitops.status(kube, project.settings(), "plate")


def test_wait_reports_progress_and_times_out_naming_the_state(project: Project, kube: KubeClient,
                                                             argo: FakeArgoCD) -> None:
    argo.health[ROOT] = "Degraded"
    bootstrapped(kube, project)
    lines: list[str] = []
    with pytest.raises(ArgoCDError) as err:
        gitops.wait(kube, project.settings(), ROOT, timeout=1.0, interval=0.05, report=lines.append)
    assert f"Application '{ROOT}' is not Synced and Healthy after 1s: sync Synced, health Degraded" in str(err.value)
    assert lines and all(line.startswith(f"  {ROOT}: ") for line in lines)
    argo.health[ROOT] = "Healthy"
    gitops.sync(kube, project.env(), project.settings(), ROOT, io=YES, timeout=10, interval=0.05)
    st = gitops.wait(kube, project.settings(), ROOT, timeout=10, interval=0.05)
    assert (st.sync, st.health) == ("Synced", "Healthy")


def test_sync_sets_the_operation_and_waits(project: Project, kube: KubeClient, argo: FakeArgoCD) -> None:
    bootstrapped(kube, project)
    lines: list[str] = []
    st = gitops.sync(kube, project.env(), project.settings(), ROOT, prune=True, io=YES, timeout=10, interval=0.05,
                     report=lines.append)
    assert (st.sync, st.health, st.phase) == ("Synced", "Healthy", "Succeeded")
    [(name, op)] = argo.operations
    assert name == ROOT and op["sync"]["prune"] is True and op["initiatedBy"] == {"username": "prjdevops"}
    assert lines[0] == f"sync of {ROOT} requested (prune)"
    proc = invoke(["argocd.sync", ROOT, "--env", "itest", "--timeout", "20"], project.env_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f"{ROOT}: synced to {project.origin_head()[:12]}, Healthy")
    assert argo.operations[-1][1]["sync"]["prune"] is False


def test_failed_sync_is_an_error_with_argocds_message(project: Project, kube: KubeClient, argo: FakeArgoCD) -> None:
    bootstrapped(kube, project)
    argo.outcome[ROOT] = ("Failed", "one or more objects failed to apply, reason: admission webhook denied")
    with pytest.raises(ArgoCDError, match=f"sync of Application '{ROOT}' ended Failed: one or more objects failed to "
                                          "apply, reason: admission webhook denied"):
        gitops.sync(kube, project.env(), project.settings(), ROOT, io=YES, timeout=10, interval=0.05)


def test_sync_refuses_while_an_operation_is_in_progress(project: Project, kube: KubeClient, api_client: Any) -> None:
    install_argocd_crds(api_client)  # no controller: the operation stays requested
    bootstrapped(kube, project, settle=False)
    with pytest.raises(ArgoCDError, match="is not settled after 1s"):
        gitops.sync(kube, project.env(), project.settings(), ROOT, io=YES, timeout=1, interval=0.05)
    with pytest.raises(ArgoCDError, match="another operation is already in progress"):
        gitops.sync(kube, project.env(), project.settings(), ROOT, io=YES, timeout=1, interval=0.05)


# --- GitOps rollback, with the cluster ------------------------------------------------------------------------------


def test_rollback_reverts_pushes_and_waits_for_the_root_app(project: Project, kube: KubeClient,
                                                            argo: FakeArgoCD) -> None:
    bootstrapped(kube, project)
    bad = project.change_replicas(project.work, 5, "plate-web: 5 replicas")
    git(project.work, "push", "-q")
    gitops.wait(kube, project.settings(), ROOT, revision=bad, timeout=10, interval=0.05)
    before = (project.work / "environments/argocd/apps/itest/plate-web.yaml").read_text()
    lines: list[str] = []
    out = gitops.rollback(Git(project.work), kube, project.env(), project.settings(), project.env_dir, commit=None,
                          io=YES, timeout=10, interval=0.05, report=lines.append)
    assert out.reverted == bad and out.commit == project.origin_head() == git(project.work, "rev-parse", "HEAD")
    assert out.status is not None and (out.status.sync, out.status.health, out.status.revision) == \
        ("Synced", "Healthy", out.commit)
    assert git(project.origin, "log", "-1", "--format=%s", "main") == 'Revert "plate-web: 5 replicas"'
    assert "replicaCount" not in yaml.safe_load((project.work / "environments/itest.yaml").read_text())["releases"][0] \
        .get("set", [""])[0]
    after = (project.work / "environments/argocd/apps/itest/plate-web.yaml").read_text()
    assert "replicaCount" in before and "replicaCount" not in after
    text = "\n".join(lines)
    assert "reverting " in lines[0] and "plate-web: 5 replicas" in lines[0]
    assert "-  - replicaCount=5" in text  # the revert's diff is shown before anything is pushed
    assert f"pushed revert {out.commit[:12]} to origin/main" in text
    assert any(f"revision {out.commit[:12]}" in line and "health Healthy" in line for line in lines)
    assert git(project.work, "status", "--porcelain") == ""


def test_rollback_cli_with_an_explicit_commit(project: Project, kube: KubeClient, argo: FakeArgoCD) -> None:
    bootstrapped(kube, project)
    bad = project.change_replicas(project.work, 4, "plate-web: 4 replicas")
    git(project.work, "push", "-q")
    proc = invoke(["argocd.rollback", "--env", "itest", "--commit", bad[:10], "--timeout", "20"], project.env_dir)
    assert proc.returncode == 1 and "no terminal to ask" in proc.stderr and "--yes" in proc.stderr
    assert project.origin_head() == bad == git(project.work, "rev-parse", "HEAD")  # nothing committed or pushed
    assert git(project.work, "status", "--porcelain") == ""
    proc = invoke(["argocd.rollback", "--env", "itest", "--commit", bad[:10], "--yes", "--timeout", "20"],
                  project.env_dir)
    assert proc.returncode == 0, proc.stderr
    assert f"rolled back {bad[:12]}" in proc.stdout and "is Synced and Healthy" in proc.stdout
    assert git(project.origin, "log", "-1", "--format=%s", "main") == 'Revert "plate-web: 4 replicas"'


def test_wait_cli_shows_progress_and_fails_in_one_line(project: Project, kube: KubeClient, argo: FakeArgoCD) -> None:
    bootstrapped(kube, project)
    proc = invoke(["argocd.wait", ROOT, "--env", "itest", "--timeout", "20"], project.env_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.rstrip().splitlines()
    assert lines[-1] == f"{ROOT}: Synced, Healthy at {project.origin_head()[:12]}"
    assert all(line.startswith(f"  {ROOT}: sync ") for line in lines[:-1]) and len(lines) >= 2
    argo.health[ROOT] = "Degraded"
    gitops.wait(kube, project.settings(), ROOT, health=False, sync=False,
                until=lambda st: st.health == "Degraded", timeout=10, interval=0.05)
    proc = invoke(["argocd.wait", ROOT, "--env", "itest", "--health", "--timeout", "1"], project.env_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: Application '{ROOT}' is not Healthy after 1s: sync Synced, health Degraded, revision "
        f"{project.origin_head()[:12]}, last operation Succeeded: successfully synced (inspect with invoke "
        f"argocd.get {ROOT})"]


def test_sync_runs_the_environments_guards(tmp_path: Path, kubeconfig: Path, api_client: Any) -> None:
    install_argocd_crds(api_client)
    proj = make_project(tmp_path, kubeconfig)
    with KubeClient(proj.env().cluster) as k:
        bootstrapped(k, proj)
        doc = yaml.safe_load(proj.env_file.read_text())
        doc["guards"] = {"confirm": True}
        proj.env_file.write_text(yaml.safe_dump(doc))
        with pytest.raises(GuardRefused, match="no terminal to ask"):
            gitops.sync(k, proj.env(), proj.settings(), ROOT, io=Interaction(is_tty=False), timeout=1)
        assert not gitops.status(k, proj.settings(), ROOT).operation_requested  # nothing was started


def test_bootstrap_cli(project: Project, api_client: Any) -> None:
    proc = invoke(["argocd.bootstrap", "--env", "itest"], project.env_dir)
    assert proc.returncode == 1 and proc.stderr.startswith("error: Argo CD is not installed in the cluster of 'itest'")
    install_argocd_crds(api_client)
    proc = invoke(["argocd.bootstrap", "--env", "itest"], project.env_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "applied ConfigMap argocd/argocd-cm (server-side, manager prjdevops)",
        "applied AppProject argocd/cocdev-platform (server-side, manager prjdevops)",
        f"applied Application argocd/{ROOT} (server-side, manager prjdevops)",
        f"bootstrapped {ROOT} in itest; follow it with: invoke argocd.status --env itest"]
