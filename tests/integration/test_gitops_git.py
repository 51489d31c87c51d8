"""The GitOps rollback's git side with real git: a bare repository as origin, clones as work trees.

No cluster here (``kube=None`` stops the flow after the push): every refusal must leave the work tree, HEAD and
origin exactly as they were.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesandbox import write_kubeconfig
from prjdevops.adapters.git import Git
from prjdevops.errors import GitError, GuardRefused
from prjdevops.ops import gitops
from prjdevops.ops.production import Interaction
from tests.integration.test_argocd import Project, commit_all, git, make_project

YES = Interaction(yes=True)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    # a kubeconfig is needed by the environment (and the cluster guard) but nothing contacts it here
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    return make_project(tmp_path, kubeconfig)


def rollback(project: Project, *, commit: str | None = None, io: Interaction = YES,
             lines: list[str] | None = None) -> gitops.Rollback:
    return gitops.rollback(Git(project.work), None, project.env(), project.settings(), project.env_dir,
                           commit=commit, io=io, report=(lines if lines is not None else []).append)


def snapshot(project: Project) -> tuple[str, str, str, str]:
    """HEAD, origin's main, the work tree's status (untracked included) and the env file's text."""
    return (git(project.work, "rev-parse", "HEAD"), project.origin_head(),
            git(project.work, "status", "--porcelain", "--untracked-files=all"), project.env_file.read_text())


def test_default_commit_is_the_last_touching_environments_or_helm(project: Project) -> None:
    bad = project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    (project.work / "NOTES.md").write_text("not a platform change\n")
    commit_all(project.work, "notes")
    git(project.work, "push", "-q")
    lines: list[str] = []
    out = rollback(project, lines=lines)
    assert out.reverted == bad and out.status is None
    assert out.commit == project.origin_head() == git(project.work, "rev-parse", "HEAD")
    assert git(project.origin, "log", "-1", "--format=%B", "main").startswith(
        f'Revert "plate-web: 3 replicas"\n\nThis reverts commit {bad}.')
    assert (project.work / "NOTES.md").is_file()  # the later, unrelated commit stays
    assert "replicaCount=3" not in project.env_file.read_text()
    assert any("environments/itest.yaml" in line and "|" in line for line in lines)  # the --stat of the revert
    assert not any(line.startswith("note:") for line in lines)  # origin is the repository Argo CD reads
    assert git(project.work, "status", "--porcelain") == ""


def test_default_commit_skips_commits_that_change_nothing_argo_cd_renders(project: Project) -> None:
    bad = project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    (project.env_dir / "README.md").write_text("how we run environments\n")
    helm = project.env_dir.parent / "helm"
    helm.mkdir(exist_ok=True)
    (helm / "README.md").write_text("charts\n")
    commit_all(project.work, "docs only")
    git(project.work, "push", "-q")
    assert rollback(project).reverted == bad


def test_dirty_work_tree_is_refused(project: Project) -> None:
    project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "push", "-q")
    project.env_file.write_text(project.env_file.read_text() + "# local edit\n")
    before = snapshot(project)
    with pytest.raises(GitError, match=r"has uncommitted changes \(environments/itest.yaml\): commit or stash"):
        rollback(project)
    assert snapshot(project) == before


def test_diverged_branch_is_refused(project: Project) -> None:
    project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "push", "-q")
    other = project.clone("other")
    (other / "README.md").write_text("someone else\n")
    commit_all(other, "someone else's change")
    git(other, "push", "-q")
    (project.work / "LOCAL.md").write_text("mine\n")
    commit_all(project.work, "my local change")
    before = snapshot(project)
    with pytest.raises(GitError, match=r"branch 'main' has diverged from origin/main \(1 local, 1 remote commit"):
        rollback(project)
    assert snapshot(project) == before


def test_behind_and_ahead_are_refused(project: Project) -> None:
    other = project.clone("other")
    project.change_replicas(other, 3, "plate-web: 3 replicas (from another clone)")
    git(other, "push", "-q")
    before = snapshot(project)
    with pytest.raises(GitError, match="is 1 commit\\(s\\) behind origin/main: pull"):
        rollback(project)
    assert snapshot(project) == before
    git(project.work, "pull", "-q", "--ff-only")
    project.change_replicas(project.work, 4, "unpushed")
    before = snapshot(project)
    with pytest.raises(GitError, match="has 1 unpushed commit\\(s\\): pushing the revert would publish them too"):
        rollback(project)
    assert snapshot(project) == before


def test_conflicting_revert_is_aborted_naming_the_files(project: Project) -> None:
    first = project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    project.change_replicas(project.work, 4, "plate-web: 4 replicas")  # the same lines again
    git(project.work, "push", "-q")
    before = snapshot(project)
    with pytest.raises(GitError) as err:
        rollback(project, commit=first)
    message = str(err.value)
    assert f"reverting {first[:12]} conflicts in environments/argocd/apps/itest/plate-web.yaml, " \
           "environments/itest.yaml: aborted with git revert --abort, the work tree is as it was; nothing was " \
           "pushed" in message
    assert snapshot(project) == before
    assert Git(project.work).operation_in_progress() is None


@pytest.mark.parametrize(("io", "error"), [
    (Interaction(yes=False, is_tty=False), "no terminal to ask"),
    (Interaction(yes=False, is_tty=True, ask=lambda _: "no"), "not confirmed: the revert was abandoned and nothing "
                                                               "was pushed"),
    (Interaction(yes=False, is_tty=True, ask=lambda _: (_ for _ in ()).throw(EOFError())), "not confirmed"),
])
def test_no_confirmation_abandons_the_revert(project: Project, io: Interaction, error: str) -> None:
    project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "push", "-q")
    before = snapshot(project)
    lines: list[str] = []
    with pytest.raises(GuardRefused, match=error):
        rollback(project, io=io, lines=lines)
    assert any("-  - replicaCount=3" in line for line in lines)  # the diff was shown before asking
    assert snapshot(project) == before
    assert Git(project.work).operation_in_progress() is None


def test_confirmed_by_typing_yes(project: Project) -> None:
    project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "push", "-q")
    asked: list[str] = []
    out = rollback(project, io=Interaction(is_tty=True, ask=lambda q: asked.append(q) or "yes"))
    assert asked == ["commit this revert and push it to origin/main (itest)? Type 'yes' to continue: "]
    assert project.origin_head() == out.commit


def test_rejected_push_keeps_the_local_commit_and_says_so(project: Project) -> None:
    project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "push", "-q")
    hook = project.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    origin_before = project.origin_head()
    with pytest.raises(GitError, match=r"the revert is committed locally as [0-9a-f]{12} but NOT pushed"):
        rollback(project)
    assert project.origin_head() == origin_before
    assert git(project.work, "status", "--porcelain") == ""


@pytest.mark.parametrize(("setup", "commit", "error"), [
    ("none", "0123456789abcdef0123", "is not a commit"),
    ("branch", None, "pushes to origin/feature, but Argo CD follows 'main'"),
    ("detached", None, "detached HEAD"),
    ("no-upstream", None, "tracks no remote branch"),
    ("side-commit", "side", "is not in the history of 'main'"),
    ("first", "root", "is the repository's first commit"),
])
def test_bad_targets_are_refused(project: Project, setup: str, commit: str | None, error: str) -> None:
    if setup == "branch":
        git(project.work, "checkout", "-q", "-b", "feature")
        git(project.work, "push", "-q", "-u", "origin", "feature")
    elif setup == "detached":
        git(project.work, "checkout", "-q", "--detach")
    elif setup == "no-upstream":
        git(project.work, "branch", "--unset-upstream")
    elif setup == "side-commit":
        git(project.work, "checkout", "-q", "-b", "side")
        (project.work / "SIDE.md").write_text("x\n")
        commit_all(project.work, "side")
        git(project.work, "checkout", "-q", "main")
    elif setup == "first":
        commit = git(project.work, "rev-list", "--max-parents=0", "HEAD")
    before = snapshot(project)
    with pytest.raises(GitError, match=error):
        rollback(project, commit=commit)
    assert snapshot(project) == before


def test_merge_commit_is_refused(project: Project) -> None:
    git(project.work, "checkout", "-q", "-b", "topic")
    project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "checkout", "-q", "main")
    (project.work / "OTHER.md").write_text("x\n")
    commit_all(project.work, "other")
    git(project.work, "merge", "-q", "--no-ff", "-m", "merge topic", "topic")
    git(project.work, "push", "-q")
    before = snapshot(project)
    with pytest.raises(GitError, match="is a merge: choose the commit to undo inside it"):
        rollback(project, commit="HEAD")
    assert snapshot(project) == before
    # by default, the last commit touching environments/ is the one inside the merge, and it reverts cleanly
    assert rollback(project).reverted == git(project.work, "rev-parse", "topic")


def test_reverting_what_is_already_reverted_changes_nothing(project: Project) -> None:
    bad = project.change_replicas(project.work, 3, "plate-web: 3 replicas")
    git(project.work, "push", "-q")
    rollback(project, commit=bad)
    before = snapshot(project)
    with pytest.raises(GitError, match="changes nothing \\(already reverted\\?\\); nothing was committed or pushed"):
        rollback(project, commit=bad)
    assert snapshot(project) == before
    assert Git(project.work).operation_in_progress() is None


def test_a_note_when_origin_is_not_the_repository_argocd_reads(project: Project) -> None:
    config = project.env_dir / "argocd" / "config.yaml"
    config.write_text(config.read_text().replace(f"repoURL: {project.origin}", "repoURL: https://git.example/x.git"))
    gitops.write_files(project.env_dir)
    commit_all(project.work, "Argo CD reads another repository")
    git(project.work, "push", "-q")
    lines: list[str] = []
    rollback(project, lines=lines)
    assert f"note: origin is {project.origin}, but Argo CD reads https://git.example/x.git: the wait only ends " \
           "once Argo CD sees this push there" in lines
