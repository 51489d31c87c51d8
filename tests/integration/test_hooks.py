"""Hooks as data through the real CLI against the sandbox: they run in order around a change with an explicit
environment, a failing pre-hook stops before any change, a failing post-hook fails the deploy (and rolls production
back), on-failure hooks run, dry runs list hooks and run none, output is shown and kept with secrets redacted, and
production's backup is skipped only with the typed yes. Plus chained tasks stop at the first failure."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from prjdevops.environments import load_environment
from prjdevops.ops import release
from tests.integration.conftest import CHART, invoke, write_env

SECRET = "hook-s3cr3t-Pa55-42"
# A hook that records what it was given: its argv[1] names the record file (in the project root of the test).
RECORD = ("import json, os, sys; d = {k: v for k, v in os.environ.items()}; "
          "open(sys.argv[1], 'a').write(json.dumps(d) + '\\n'); print('hook says hello', sys.argv[1])")


def py(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def app(**extra: Any) -> dict[str, Any]:
    return {"name": "plate-web", "chart": str(CHART), "namespace": "plate-web", "values": ["values-stg.yaml"],
            "timeout": 30, **extra}


def records(root: Path, name: str) -> list[dict[str, str]]:
    f = root / name
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def history(env_dir: Path, name: str) -> list[str]:
    with release.connect(load_environment(name, env_dir)) as t:
        return [h.status for h in t.helm.history("plate-web", namespace="plate-web")]


@pytest.fixture
def root(env_dir: Path) -> Path:
    return env_dir.parent  # the test's project root: hooks run here, logs go under .prjdevops/runs/


def test_hooks_run_in_order_with_an_explicit_environment(env_dir: Path, kubeconfig: Path, root: Path,
                                                         monkeypatch: Any) -> None:
    monkeypatch.setenv("PLATE_WEB_DB_PASSWORD", SECRET)
    monkeypatch.setenv("UNRELATED_TOKEN", "not-for-hooks")
    write_env(env_dir, "hk", kubeconfig, hooks=[
        {"event": "pre-deploy", "name": "env-pre", "command": py(RECORD, "pre.jsonl")},
        {"event": "post-deploy", "name": "env-post", "command": py(RECORD, "post.jsonl")},
    ], releases=[app(secrets=[{"path": "secrets.DATABASE_PASSWORD", "env": "PLATE_WEB_DB_PASSWORD"}], hooks=[
        {"event": "pre-deploy", "name": "migrate", "command": py(RECORD, "pre.jsonl"),
         "pass_env": ["PLATE_WEB_DB_PASSWORD"]},
        {"event": "post-deploy", "name": "leak", "command": py("import os; print('pw', os.environ["
                                                               "'PLATE_WEB_DB_PASSWORD'])"),
         "pass_env": ["PLATE_WEB_DB_PASSWORD"]},
    ])])
    out = invoke(["stg.deploy", "--env", "hk"], env_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    # the plan lists every hook, built-in health gate included, in run order
    planned = [line.split()[1:3] for line in out.stdout.splitlines() if line.startswith("  hook  ")]
    assert planned == [["pre-deploy", "env-pre:"], ["pre-deploy", "migrate:"], ["post-deploy", "health"],
                       ["post-deploy", "env-post:"], ["post-deploy", "leak:"]]
    pre = records(root, "pre.jsonl")
    assert [r["PRJDEVOPS_HOOK"] for r in pre] == ["env-pre", "migrate"]
    assert pre[0]["PRJDEVOPS_EVENT"] == "pre-deploy" and pre[0]["PRJDEVOPS_RELEASE"] == "plate-web"
    assert pre[0]["PRJDEVOPS_NAMESPACE"] == "plate-web" and pre[0]["PRJDEVOPS_ENVIRONMENT"] == "hk"
    assert pre[0]["PRJDEVOPS_REVISION"] == "" and pre[0]["PRJDEVOPS_CONTEXT"] == "sandbox"
    assert pre[0]["PRJDEVOPS_RUN_ID"] == pre[1]["PRJDEVOPS_RUN_ID"] != ""
    assert "UNRELATED_TOKEN" not in pre[0] and "PLATE_WEB_DB_PASSWORD" not in pre[0]  # only what is named
    assert pre[1]["PLATE_WEB_DB_PASSWORD"] == SECRET
    post = records(root, "post.jsonl")
    assert post[0]["PRJDEVOPS_REVISION"] == "1"
    assert "[hook pre-deploy migrate] hook says hello pre.jsonl" in out.stdout
    # the secret a hook printed is redacted on the terminal and in the kept log
    assert SECRET not in out.stdout + out.stderr and "[hook post-deploy leak] pw ***" in out.stdout
    logs = list((root / ".prjdevops" / "runs" / "hk").glob("*-hooks.log"))
    assert len(logs) == 1 and "pw ***" in logs[0].read_text() and SECRET not in logs[0].read_text()
    assert base64.b64encode(SECRET.encode()).decode() not in logs[0].read_text()


def test_a_failing_pre_hook_stops_before_any_change(env_dir: Path, kubeconfig: Path) -> None:
    write_env(env_dir, "hk", kubeconfig, releases=[app(hooks=[
        {"event": "pre-deploy", "name": "migrate", "command": py("print('schema locked'); raise SystemExit(3)")}])])
    out = invoke(["stg.deploy", "--env", "hk"], env_dir)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: hook 'migrate' (pre-deploy) exited 3: schema locked (its output is in "
        + str(next((env_dir.parent / ".prjdevops" / "runs" / "hk").glob("*-hooks.log"))) + ")"]
    assert history(env_dir, "hk") == []


def test_a_hook_past_its_timeout_is_stopped(env_dir: Path, kubeconfig: Path) -> None:
    write_env(env_dir, "hk", kubeconfig, releases=[app(hooks=[
        {"event": "pre-deploy", "name": "slow", "timeout": 1, "command": py("import time; time.sleep(60)")}])])
    out = invoke(["stg.deploy", "--env", "hk"], env_dir, timeout=60)
    assert out.returncode == 1
    assert "hook 'slow' (pre-deploy) ran past its timeout of 1s and was stopped" in out.stderr
    assert history(env_dir, "hk") == []


def test_a_failing_post_hook_rolls_production_back_and_on_failure_runs(env_dir: Path, kubeconfig: Path,
                                                                       root: Path) -> None:
    guards = {"confirm": True, "lock": True, "health_timeout": 30, "rollback_timeout": 30,
              "forbid_latest_tag": True}
    backup = {"enabled": True, "dir": str(root / "backups"), "keep": 5}
    write_env(env_dir, "hprod", kubeconfig, guards=guards, backup=backup, releases=[app(values=["values-prod.yaml"])])
    assert invoke(["prod.deploy", "--env", "hprod", "--yes"], env_dir).returncode == 0
    write_env(env_dir, "hprod", kubeconfig, guards=guards, backup=backup, releases=[app(
        values=["values-prod.yaml"], hooks=[
            {"event": "post-deploy", "name": "smoke", "command": py("print('smoke: 500'); raise SystemExit(1)")},
            {"event": "on-failure", "name": "page", "command": py(RECORD, "failures.jsonl")}])])
    out = invoke(["prod.deploy", "--env", "hprod", "--yes", "--set", "image.tag=1.4.3"], env_dir)
    assert out.returncode == 1, out.stdout
    assert "failed and was rolled back to revision 1" in out.stderr and "hook 'smoke' (post-deploy) exited 1" \
        in out.stderr
    assert "rollback verified" in out.stdout
    assert history(env_dir, "hprod") == ["superseded", "superseded", "deployed"]
    (failure,) = records(root, "failures.jsonl")
    assert "hook 'smoke' (post-deploy) exited 1: smoke: 500" in failure["PRJDEVOPS_ERROR"]
    assert failure["PRJDEVOPS_REVISION"] == "3"


def test_dry_runs_list_hooks_and_run_none(env_dir: Path, kubeconfig: Path, root: Path) -> None:
    write_env(env_dir, "hk", kubeconfig, releases=[app(hooks=[
        {"event": "pre-deploy", "name": "migrate", "command": py(RECORD, "ran.jsonl")},
        {"event": "prepare", "name": "fetch", "command": py(RECORD, "ran.jsonl")}])])
    out = invoke(["stg.deploy", "--env", "hk", "--dry-run"], env_dir)
    assert out.returncode in (0, 2), out.stderr
    assert "hooks a deploy runs (a dry run runs none):" in out.stdout
    assert "  hook  prepare fetch:" in out.stdout and "  hook  pre-deploy migrate:" in out.stdout
    assert not (root / "ran.jsonl").exists()


def test_hook_problems_are_reported_with_file_and_key(env_dir: Path, kubeconfig: Path) -> None:
    write_env(env_dir, "hk", kubeconfig, hooks=[{"event": "pre-depoly", "command": ["true"]},
                                                {"event": "post-deploy", "command": "echo hi"},
                                                {"event": "post-deploy", "task": "verify", "command": ["x"]}])
    out = invoke(["envs.check", "--env", "hk"], env_dir)
    assert out.returncode == 1
    assert "hooks[0].event: must be one of prepare, pre-deploy" in out.stderr
    assert "hooks[1].command: must be a non-empty list of strings (argv, no shell)" in out.stderr
    assert "hooks[2]: needs exactly one of command (an argv list) or task (a task name)" in out.stderr
    assert "Traceback" not in out.stderr


def test_production_backup_is_skipped_only_with_the_typed_yes(env_dir: Path, kubeconfig: Path, root: Path) -> None:
    guards = {"confirm": True, "lock": True, "health_timeout": 30, "rollback_timeout": 30}
    write_env(env_dir, "hprod", kubeconfig, guards=guards,
              backup={"enabled": True, "dir": str(root / "backups"), "keep": 5},
              releases=[app(values=["values-prod.yaml"])])
    assert invoke(["prod.deploy", "--env", "hprod", "--yes"], env_dir).returncode == 0
    out = invoke(["prod.deploy", "--env", "hprod", "--yes", "--skip-backup", "--set", "image.tag=1.4.3"], env_dir)
    assert out.returncode == 1
    assert "skipping the backup of 'plate-web' in 'hprod' needs the typed yes at a terminal (--yes does not skip a " \
           "backup)" in out.stderr
    assert history(env_dir, "hprod") == ["deployed"]


def test_chained_tasks_run_in_order_and_stop_at_the_first_failure(env_dir: Path) -> None:
    ok = invoke(["stg.deploy", "--env", "itest", "stg.status", "--env", "itest"], env_dir)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.index("plate-web") < ok.stdout.index("RELEASE")
    bad = invoke(["stg.deploy", "--env", "itest", "--set", "replicaCount=abc", "stg.status", "--env", "itest"],
                 env_dir)
    assert bad.returncode == 1 and "want integer" in bad.stderr
    assert "RELEASE" not in bad.stdout


# --- the libraries flow (libraries.deploy / libraries.delete, and the libraries part of `invoke deploy`) ----------


def library(name: str, **extra: Any) -> dict[str, Any]:
    """The in-repo plate-web chart declared as a library (a tier-1 cluster service): it becomes healthy on both
    backends, unlike the stand-ins that need volumes or LoadBalancer addresses."""
    return app(name=name, namespace=name, group="cluster-services", values=[], **extra)


def test_library_hooks_run_around_each_changed_release_and_in_the_plan(env_dir: Path, kubeconfig: Path,
                                                                        root: Path) -> None:
    write_env(env_dir, "hlib", kubeconfig, namespaces=["lib-a", "lib-b"],
              hooks=[{"event": "post-deploy", "name": "notify", "command": py(RECORD, "lib.jsonl")}],
              releases=[library("lib-a", hooks=[{"event": "pre-deploy", "name": "migrate",
                                                 "command": py(RECORD, "lib.jsonl")}]),
                        library("lib-b", needs=["lib-a"]),
                        ])
    plan = invoke(["libraries.plan", "--env", "hlib"], env_dir)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "hook  pre-deploy migrate:" in plan.stdout and "hook  post-deploy notify:" in plan.stdout
    assert not (root / "lib.jsonl").exists()  # a plan runs none

    out = invoke(["libraries.deploy", "--env", "hlib", "--yes"], env_dir, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    ran = [(r["PRJDEVOPS_HOOK"], r["PRJDEVOPS_RELEASE"], r["PRJDEVOPS_EVENT"]) for r in records(root, "lib.jsonl")]
    assert ran == [("migrate", "lib-a", "pre-deploy"), ("notify", "lib-a", "post-deploy"),
                   ("notify", "lib-b", "post-deploy")]  # in dependency order, each after its release is healthy
    assert "[hook pre-deploy migrate]" in out.stdout

    again = invoke(["libraries.deploy", "--env", "hlib", "--yes"], env_dir, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(records(root, "lib.jsonl")) == 3  # nothing changed: no hook ran

    gone = invoke(["libraries.delete", "--env", "hlib", "--yes"], env_dir, timeout=300)
    assert gone.returncode == 0, gone.stderr


def test_a_failing_library_pre_hook_stops_that_release_and_its_dependants(env_dir: Path, kubeconfig: Path,
                                                                          root: Path) -> None:
    write_env(env_dir, "hlib", kubeconfig, namespaces=["lib-a", "lib-b"],
              releases=[library("lib-a", hooks=[
                  {"event": "pre-deploy", "name": "migrate", "command": py("print('locked'); raise SystemExit(4)")},
                  {"event": "on-failure", "name": "page", "command": py(RECORD, "fail.jsonl")}]),
                  library("lib-b", needs=["lib-a"], hooks=[
                      {"event": "pre-delete", "name": "drain", "command": py(RECORD, "del.jsonl")}])])
    out = invoke(["libraries.deploy", "--env", "hlib", "--yes"], env_dir, timeout=300)
    assert out.returncode == 1, out.stdout
    assert "hook 'migrate' (pre-deploy) exited 4: locked" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert not (root / "fail.jsonl").exists()  # on-failure is for a failed deploy; nothing was deployed
    with release.connect(load_environment("hlib", env_dir)) as t:
        assert t.helm.history("lib-a", namespace="lib-a") == []
        assert t.helm.history("lib-b", namespace="lib-b") == []
    # A delete runs the releases' delete hooks (lib-b is not installed: its hooks run, the uninstall is a no-op).
    gone = invoke(["libraries.delete", "--env", "hlib", "--yes"], env_dir, timeout=300)
    assert gone.returncode == 0, gone.stderr
    assert [r["PRJDEVOPS_EVENT"] for r in records(root, "del.jsonl")] == ["pre-delete"]
