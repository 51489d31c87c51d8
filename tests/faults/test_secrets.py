"""Secrets never leak: a known value planted in a values file (under `secrets:` and under a key named like a
password), in an environment variable the environment reads, and so in the chart's Secret manifest, must not appear
(plain or base64) in any output of deploy, diff, status, backups listing, the failure and interrupt paths, Invoke's
--debug output, nor in any file the runs write where they really write it: the environments folder, the backups
(SUMMARY.txt, evidence, release metadata), the run records of `invoke deploy`, the verify reports and logs. Each
of those folders must hold files (an audit of empty folders passes on nothing).
The backup's values.yaml/manifest.yaml hold the real values on purpose (a restore needs them): private, 0600."""

from __future__ import annotations

import base64
import signal
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Fault
from tests.faults.conftest import APP, cli, interrupt, prod_env, start_cli, wait_for_status
from tests.integration.conftest import REPO, write_env

pytestmark = pytest.mark.integration

FROM_ENV = "Env-Planted-S3cret-4b1d"
IN_VALUES = "Values-Planted-S3cret-77e0"
LIKE_PASSWORD = "Pw-Planted-S3cret-c9a2"
PLANTED = (FROM_ENV, IN_VALUES, LIKE_PASSWORD)
PRIVATE = {"values.yaml", "manifest.yaml"}  # backup files holding the real values on purpose


def forms(value: str) -> list[str]:
    b64 = base64.b64encode(value.encode()).decode()
    return [value, b64, b64.rstrip("=")]


def leaks(text: str) -> list[str]:
    return [f for v in PLANTED for f in forms(v) if f in text]


@pytest.fixture
def senv(tmp_path: Path, kubeconfig: Path, sandbox: Any, monkeypatch: Any) -> tuple[Path, str]:
    monkeypatch.setenv("PLATE_WEB_DB_PASSWORD", FROM_ENV)  # the CLI subprocesses inherit it
    monkeypatch.setenv("PRJDEVOPS_RUNS_DIR", str(tmp_path / "runs"))  # `invoke deploy` records its runs here
    values = tmp_path / "secret-values.yaml"
    values.write_text(f"secrets:\n  API_TOKEN: {IN_VALUES}\nconfig:\n  smtp_password: {LIKE_PASSWORD}\n")
    envs = tmp_path / "environments"
    release = {**APP, "secrets": [{"path": "secrets.DATABASE_PASSWORD", "env": "PLATE_WEB_DB_PASSWORD"}]}
    prod_env(envs, kubeconfig, sandbox, name="sprod")
    write_env(envs, "sprod", kubeconfig, cluster={"kubeconfig": str(kubeconfig), "context": "sandbox",
                                                 "api_server": sandbox.url},
              guards={"confirm": True, "lock": True, "health_timeout": 20, "rollback_timeout": 20},
              backup={"enabled": True, "dir": str(tmp_path / "backups"), "keep": 50}, releases=[release])
    return envs, str(values)


def test_planted_secrets_appear_in_no_output_or_readable_file(senv: tuple[Path, str], tmp_path: Path,
                                                              sandbox: Any) -> None:
    envs, values = senv
    outputs = []

    def run(*args: str, code: int | None = 0) -> None:
        out = cli(list(args), envs)
        outputs.append((args, out.stdout + out.stderr))
        if code is not None:
            assert out.returncode == code, (args, out.stdout[-1500:], out.stderr)

    deploy = ["prod.deploy", "--env", "sprod", "--yes", "--values", values]
    run(*deploy)
    run("--debug", *deploy, "--set", "image.tag=1.4.3")  # verbose: Invoke's own debug log too
    run("stg.diff", "--env", "sprod", "--values", values, "--set", "image.tag=1.4.4", "--diff", "full", code=2)
    run("prod.diff", "--env", "sprod", "--diff", "full", code=2)  # without the values file: the Secret's data differs
    run("prod.diff", "--env", "sprod", code=2)  # the summary: changed fields of the Secret, masked
    run("prod.status", "--env", "sprod")
    run("prod.status", "--env", "sprod", "--json")
    run("prod.backup", "--env", "sprod")
    run("prod.backups", "--env", "sprod")
    # the whole-platform flow (records its run) and the verify suite (JUnit XML and its pytest log)
    run("deploy", "--env", "sprod", "--yes", "--no-verify")
    run("verify", "--env", "sprod", "--reports", str(tmp_path / "reports"), code=None)
    # error paths: a failed upgrade rolled back (error line, evidence files), a bad value naming its key
    sandbox.faults.add(Fault(kind="never_ready", namespace="plate-web",
                             label_selector="app.kubernetes.io/version=6.6.6"))
    run(*deploy, "--set", "image.tag=6.6.6", "--timeout", "3", code=1)
    run(*deploy, "--set", "replicaCount=lots", code=1)
    # Ctrl-C mid-upgrade
    proc = start_cli([*deploy, "--set", "image.tag=6.6.6", "--timeout", "60"], envs)
    from prjdevops.environments import load_environment
    from prjdevops.ops import release

    with release.connect(load_environment("sprod", envs)) as target:
        wait_for_status(target, "pending-upgrade", proc=proc)
    rc, out, err = interrupt(proc, signal.SIGINT)
    assert rc == 130, err
    outputs.append((("SIGINT",), out + err))
    sandbox.faults.clear()

    assert len(outputs) == 14
    for args, text in outputs:
        assert not leaks(text), (args, leaks(text))
    # sanity: the secrets did reach the cluster (or this test could not fail)
    secret = sandbox.store.get("", "v1", "secrets", "plate-web", "plate-web")
    data = " ".join((secret or {}).get("data", {}).values())
    assert base64.b64encode(FROM_ENV.encode()).decode() in data
    assert base64.b64encode(IN_VALUES.encode()).decode() in data

    # where these runs wrote, each folder with what it must hold (so the audit cannot pass on nothing)
    where = {
        "environments": (envs, {"sprod.yaml"}),
        "backups": (tmp_path / "backups", {"SUMMARY.txt", "release.json", "history.json", "SHA256SUMS",
                                            "evidence.json", "events.txt", *PRIVATE}),
        "run records": (tmp_path / "runs", set()),
        "reports and logs": (tmp_path / "reports", {"verify-sprod.xml", "verify-sprod.log"}),
    }
    audited = 0
    for what, (folder, must) in where.items():
        written = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        assert written, f"{what}: nothing written to {folder}: the audit would check nothing"
        assert must <= {p.name for p in written}, (what, must - {p.name for p in written})
        for p in written:
            if p.name in PRIVATE and what == "backups":
                assert p.stat().st_mode & 0o077 == 0, p  # the real values: owner-only
                continue
            assert not leaks(p.read_text(errors="replace")), (what, p, leaks(p.read_text(errors="replace")))
            audited += 1
    assert list((tmp_path / "runs" / "sprod").glob("*.json")), "the deploy's run record"
    assert audited >= 12, audited
    # and nothing the tool keeps in the project's own folders (run state, reports, caches) holds them either
    for folder in (REPO / ".prjdevops", REPO / "reports"):
        for p in (folder.rglob("*") if folder.is_dir() else []):
            if p.is_file() and p.stat().st_size < 5_000_000:
                assert not leaks(p.read_text(errors="replace")), p
