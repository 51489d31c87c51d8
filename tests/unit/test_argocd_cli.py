"""The argocd.* tasks as a user runs them (subprocesses from the repository root); no cluster is contacted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PRJDEVOPS_"))}
    if env_dir is not None:
        env["PRJDEVOPS_ENVIRONMENTS"] = str(env_dir)
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def copy_project(tmp_path: Path) -> Path:
    """The repository's environments/ and helm/ (what argocd.* reads) in a scratch folder; returns its env dir."""
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "environments", proj / "environments")
    shutil.copytree(ROOT / "helm", proj / "helm")
    return proj / "environments"


def test_tasks_are_listed() -> None:
    proc = run("--list")
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  argocd.")}
    assert names == {"argocd.render", "argocd.validate", "argocd.bootstrap", "argocd.status", "argocd.get",
                     "argocd.wait", "argocd.sync", "argocd.rollback"}


def test_validate_passes_on_the_repository() -> None:
    proc = run("argocd.validate")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: ") and "Application(s) rendered through Helm" in proc.stdout


def test_validate_names_the_file_and_the_app(tmp_path: Path) -> None:
    env_dir = copy_project(tmp_path)
    path = env_dir / "argocd" / "apps" / "staging" / "jenkins.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["spec"]["destination"]
    doc["spec"]["project"] = "platform"
    path.write_text(yaml.safe_dump(doc))
    proc = run("argocd.validate", env_dir=env_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    problems = [line for line in proc.stderr.splitlines() if line.startswith("problem: ")]
    assert f"problem: {path}: Application 'jenkins': has no spec.destination (server or name, and namespace)" \
        in problems
    assert any(line.startswith(f"problem: {path}: Application 'jenkins': names unknown project 'platform'")
               for line in problems)
    assert f"problem: {path}: differs from what the environment files say (run invoke argocd.render and commit)" \
        in problems
    assert proc.stderr.strip().splitlines()[-1] == f"error: argocd.validate found {len(problems)} problem(s), " \
                                                   "listed above"
    # render puts the committed files back in line with the environments
    fixed = run("argocd.render", env_dir=env_dir)
    assert fixed.returncode == 0 and f"wrote {path}" in fixed.stdout
    assert run("argocd.validate", env_dir=env_dir).returncode == 0


def test_validate_catches_an_environment_change_not_rendered(tmp_path: Path) -> None:
    env_dir = copy_project(tmp_path)
    staging = env_dir / "staging.yaml"
    staging.write_text(staging.read_text().replace("values: [values-stg.yaml]",
                                                   "values: [values-stg.yaml]\n    set: [replicaCount=3]"))
    proc = run("argocd.validate", env_dir=env_dir)
    assert proc.returncode == 1
    assert "+      - name: replicaCount" in proc.stderr  # the drift is shown as a diff
    assert f"problem: {env_dir / 'argocd/apps/staging/plate-web.yaml'}: differs" in proc.stderr


def test_bootstrap_needs_an_environment() -> None:
    proc = run("argocd.bootstrap")
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: argocd.bootstrap needs --env NAME (the environment whose cluster runs "
                                   "Argo CD)")


def test_environment_not_run_by_argocd_is_refused(tmp_path: Path) -> None:
    env_dir = copy_project(tmp_path)
    local = env_dir / "local.yaml"
    local.write_text(local.read_text().replace("sandbox: true", "sandbox: false"))  # never start a sandbox here
    proc = run("argocd.rollback", "--env", "local", "--yes", env_dir=env_dir)
    assert proc.returncode == 1, proc.stderr
    assert "environment 'local' is not run by Argo CD" in proc.stderr
