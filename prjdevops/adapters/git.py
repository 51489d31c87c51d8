"""The git adapter: real ``git`` through argv lists (``git -C <repo> ...``), never a shell string.

Every failure leaves as a :class:`~prjdevops.errors.GitError` naming the command and git's own message. Only
what the GitOps rollback needs is here; nothing in it resets, cleans or force-pushes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prjdevops.errors import GitError


@dataclass(frozen=True)
class Upstream:
    """The branch checked out and the remote branch it tracks."""

    branch: str  # e.g. main
    remote: str  # e.g. origin
    remote_branch: str  # e.g. main (the branch name on the remote)

    @property
    def ref(self) -> str:
        return f"{self.remote}/{self.remote_branch}"


class Git:
    """One work tree. ``timeout`` bounds every command (a hung credential prompt must not hang a rollback)."""

    def __init__(self, repo: Path, *, timeout: float = 120.0) -> None:
        self.repo = Path(repo)
        self.timeout = timeout

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = shutil.which("git")
        if exe is None:
            raise GitError("git is not installed (needed for the GitOps rollback)", hint="install git")
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_EDITOR="true", LC_ALL="C")
        argv = [exe, "-C", str(self.repo), *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, env=env, check=False)
        except subprocess.TimeoutExpired as e:
            raise GitError(f"git {' '.join(args)} in {self.repo} did not finish within {self.timeout:.0f}s") from e
        except OSError as e:
            raise GitError(f"git {' '.join(args)} in {self.repo} could not run: {e.strerror or e}") from e
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)} in {self.repo} failed: {_message(proc)}")
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    # --- reads ------------------------------------------------------------------------------------

    def toplevel(self) -> Path:
        proc = self.run("rev-parse", "--show-toplevel", check=False)
        if proc.returncode != 0:
            raise GitError(f"{self.repo} is not a git work tree: {_message(proc)}")
        return Path(proc.stdout.strip())

    def head(self) -> str:
        return self.out("rev-parse", "HEAD")

    def dirty(self) -> list[str]:
        """Tracked files with staged or unstaged changes (untracked files cannot be touched by a revert)."""
        text = self.run("status", "--porcelain=v1", "--untracked-files=no").stdout
        return [line[3:] for line in text.splitlines() if line.strip()]

    def operation_in_progress(self) -> str | None:
        """A merge, revert, cherry-pick or rebase left half-done in this work tree, if any."""
        git_dir = Path(self.out("rev-parse", "--absolute-git-dir"))
        for marker, what in (("MERGE_HEAD", "merge"), ("REVERT_HEAD", "revert"),
                             ("CHERRY_PICK_HEAD", "cherry-pick"), ("rebase-merge", "rebase"),
                             ("rebase-apply", "rebase")):
            if (git_dir / marker).exists():
                return what
        return None

    def upstream(self) -> Upstream:
        branch = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if branch.returncode != 0:
            raise GitError(f"{self.repo} has a detached HEAD: check out the branch Argo CD tracks first")
        name = branch.stdout.strip()
        remote = self.run("config", "--get", f"branch.{name}.remote", check=False).stdout.strip()
        merge = self.run("config", "--get", f"branch.{name}.merge", check=False).stdout.strip()
        if not remote or not merge or remote == ".":
            raise GitError(f"branch {name!r} tracks no remote branch, so there is nowhere to push the revert",
                           hint=f"git branch --set-upstream-to=origin/{name}")
        return Upstream(branch=name, remote=remote, remote_branch=merge.removeprefix("refs/heads/"))

    def remote_url(self, remote: str) -> str:
        return self.run("remote", "get-url", remote, check=False).stdout.strip()

    def fetch(self, remote: str) -> None:
        self.run("fetch", "--quiet", remote)

    def ahead_behind(self, upstream: Upstream) -> tuple[int, int]:
        """Commits on HEAD not on the upstream, and on the upstream not on HEAD."""
        text = self.out("rev-list", "--left-right", "--count", f"HEAD...{upstream.ref}")
        ahead, behind = text.split()
        return int(ahead), int(behind)

    def resolve(self, rev: str) -> str:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if proc.returncode != 0 or not proc.stdout.strip():
            raise GitError(f"{rev!r} is not a commit in {self.repo}")
        return proc.stdout.strip()

    def is_ancestor(self, commit: str, of: str = "HEAD") -> bool:
        return self.run("merge-base", "--is-ancestor", commit, of, check=False).returncode == 0

    def parents(self, commit: str) -> list[str]:
        return self.out("rev-list", "--parents", "-n", "1", commit).split()[1:]

    def last_commit_touching(self, paths: Sequence[str]) -> str | None:
        text = self.out("log", "-1", "--format=%H", "HEAD", "--", *paths)
        return text or None

    def subject(self, commit: str) -> str:
        return self.out("log", "-1", "--format=%h %s", commit)

    def staged_diff(self, *, stat: bool = False) -> str:
        args = ["diff", "--cached", "--no-color", *(["--stat"] if stat else []), "HEAD"]
        return self.run(*args).stdout

    def conflicted(self) -> list[str]:
        text = self.run("diff", "--name-only", "--diff-filter=U").stdout
        return sorted({line.strip() for line in text.splitlines() if line.strip()})

    # --- writes -----------------------------------------------------------------------------------

    def revert_no_commit(self, commit: str) -> bool:
        """Apply the revert of ``commit`` to the index and work tree; False when it conflicts."""
        proc = self.run("revert", "--no-commit", commit, check=False)
        if proc.returncode == 0:
            return True
        if self.operation_in_progress() == "revert":
            return False  # conflicts: the caller lists them and aborts
        raise GitError(f"git revert {commit[:12]} failed: {_message(proc)}")

    def revert_abort(self) -> None:
        """Undo a revert in progress: index, work tree and HEAD as they were before it started."""
        self.run("revert", "--abort")

    def commit_revert(self) -> str:
        """Commit the prepared revert with git's own message (``Revert "..."`` + ``This reverts commit``)."""
        self.run("commit", "--no-edit", "--quiet")
        return self.head()

    def push(self, upstream: Upstream) -> None:
        """A plain push of HEAD to the tracked branch: a rejected (non-fast-forward) push fails, never forces."""
        self.run("push", "--quiet", upstream.remote, f"HEAD:refs/heads/{upstream.remote_branch}")


def same_repository(a: str, b: str) -> bool:
    """Do two remote URLs name the same repository (https/ssh/scp forms, user, ``.git`` and ``/`` ignored)?"""

    def norm(url: str) -> str:
        u = url.strip().rstrip("/").removesuffix(".git")
        u = re.sub(r"^[a-z+]+://", "", u)
        u = re.sub(r"^[^@/]+@", "", u)
        return re.sub(r"^([^/:]+):(?!\d)", r"\1/", u).lower()

    return norm(a) == norm(b)


def _message(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or proc.stdout or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("hint:")]
    return "; ".join(lines[:4]) or f"exit code {proc.returncode}"
