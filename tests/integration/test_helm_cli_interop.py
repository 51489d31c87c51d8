"""Interop with the real helm CLI (v4, built by ``python -m controlplane.peers``): what the tool deploys, the
``helm`` command lists, shows, diffs, rolls back and uninstalls; what ``helm`` deploys, the tool reads and rolls
back. Both go through their real command lines against the test's cluster."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controlplane import peers
from tests.conftest import NEEDS
from tests.integration.conftest import CHART, invoke

pytestmark = pytest.mark.integration

Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def helm(kubeconfig: Path, tmp_path: Path) -> Helm:
    """The helm CLI against the test's cluster, with its own config/cache/data folders (the cache's plugins)."""
    exe = peers.binary("helm")
    if exe is None:
        pytest.skip(f"{NEEDS} the helm CLI in {peers.bin_dir()} (build it: python -m controlplane.peers helm)")
    env = peers.peer_env()
    home = tmp_path / "helm-home"
    env.update(KUBECONFIG=str(kubeconfig), HELM_CACHE_HOME=str(home / "cache"),
               HELM_CONFIG_HOME=str(home / "config"), HELM_DATA_HOME=str(home / "data"))

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=300, check=False)
        if check:
            assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
        return done

    return run


def _status(env_dir: Path) -> dict[str, Any]:
    out = invoke(["stg.status", "--env", "itest", "--json"], env_dir)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def _deploy_twice_with_the_tool(env_dir: Path) -> None:
    first = invoke(["stg.deploy", "--env", "itest"], env_dir)
    assert first.returncode == 0, first.stderr
    second = invoke(["stg.deploy", "--env", "itest", "--set", "image.tag=1.4.3"], env_dir)
    assert second.returncode == 0, second.stderr


def test_helm_lists_and_shows_the_history_of_a_release_the_tool_made(env_dir: Path, helm: Helm) -> None:
    _deploy_twice_with_the_tool(env_dir)
    listed = json.loads(helm("list", "-n", "plate-web", "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("plate-web", "2", "deployed")]
    assert listed[0]["chart"].startswith("plate-web-")
    history = json.loads(helm("history", "plate-web", "-n", "plate-web", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    # descriptions say who did what, where (not Helm's generic "Install complete")
    assert all(re.fullmatch(r"prjdevops deploy by \S+@\S+, run \S+: .+", h["description"]) for h in history), history
    assert "image plate-web 1.4.2→1.4.3" in history[1]["description"] or "→1.4.3" in history[1]["description"]
    shown = helm("get", "values", "plate-web", "-n", "plate-web", "-o", "json").stdout
    assert json.loads(shown)["image"]["tag"] == "1.4.3"


# The Helm SDK names its server-side-apply field manager after the process (os.Args[0]): the tool's objects are
# managed by "python3", the CLI's by "helm". Every field both set differently is a conflict for the other one: the
# CLI needs --force-conflicts to take a tool release back; the tool hands an earlier Helm run's fields over to its
# own manager (prjdevops/fieldowners.py) and applies again.


def test_helm_rolls_back_and_uninstalls_a_release_the_tool_made(env_dir: Path, helm: Helm) -> None:
    _deploy_twice_with_the_tool(env_dir)
    plain = helm("rollback", "plate-web", "1", "-n", "plate-web", "--wait", "--timeout", "120s", check=False)
    assert plain.returncode != 0 and 'conflict with "python3"' in plain.stderr, plain.stderr  # see FIELD_MANAGERS
    helm("rollback", "plate-web", "1", "-n", "plate-web", "--force-conflicts", "--wait", "--timeout", "120s")
    st = _status(env_dir)
    assert st["helm"]["revision"] == 4 and st["helm"]["status"] == "deployed"  # 3 is the refused rollback
    history = json.loads(helm("history", "plate-web", "-n", "plate-web", "-o", "json").stdout)
    described = [(h["revision"], h["status"], h["description"]) for h in history]
    assert [d[1] for d in described[:2]] == ["superseded", "superseded"]
    assert all(d[2].startswith("prjdevops deploy by ") for d in described[:2]), described
    assert described[2][1] == "failed" and described[3][1:] == ("deployed", "Rollback to 1")
    rolled = json.loads(helm("get", "values", "plate-web", "-n", "plate-web", "-o", "json").stdout)
    assert rolled["image"]["tag"] != "1.4.3"  # revision 1's values are back
    again = invoke(["stg.diff", "--env", "itest"], env_dir)  # the tool's desired state is revision 1's again
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr
    helm("uninstall", "plate-web", "-n", "plate-web", "--wait", "--timeout", "120s")
    assert _status(env_dir)["helm"] is None
    assert json.loads(helm("list", "-n", "plate-web", "--uninstalled", "--failed", "-o", "json").stdout) == []


def test_helm_diff_upgrade_on_a_release_the_tool_made(env_dir: Path, helm: Helm) -> None:
    if not peers.helm_diff_installed():  # a `needs:` skip: under CI=true a missing plugin fails the run
        pytest.skip(f"needs: helm-diff in {peers.plugins_dir()} (python -m controlplane.peers helm builds "
                    f"{peers.HELM_DIFF_MODULE}@{peers.HELM_DIFF_VERSION})")
    first = invoke(["stg.deploy", "--env", "itest"], env_dir)
    assert first.returncode == 0, first.stderr
    values = CHART / "values-stg.yaml"
    same = helm("diff", "upgrade", "plate-web", str(CHART), "-n", "plate-web", "-f", str(values),
                "--detailed-exitcode", check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    changed = helm("diff", "upgrade", "plate-web", str(CHART), "-n", "plate-web", "-f", str(values),
                   "--set", "image.tag=1.4.3", "--detailed-exitcode", check=False)
    assert changed.returncode == 2, changed.stderr
    assert "plate-web:1.4.3" in changed.stdout


def _install_twice_with_helm(helm: Helm) -> None:
    common = ("-n", "plate-web", "--create-namespace", "-f", str(CHART / "values-stg.yaml"), "--wait",
              "--timeout", "120s")
    helm("upgrade", "--install", "plate-web", str(CHART), *common)
    helm("upgrade", "--install", "plate-web", str(CHART), *common, "--set", "image.tag=1.4.3")


def test_the_tool_reads_a_release_the_helm_cli_made(env_dir: Path, helm: Helm) -> None:
    _install_twice_with_helm(helm)
    status = invoke(["prod.status", "--env", "itest", "--json"], env_dir)
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert st["helm"]["revision"] == 2 and st["helm"]["status"] == "deployed"
    assert st["helm"]["chart"] == "plate-web"
    assert [h["revision"] for h in st["history"]] == [1, 2]
    assert len(st["pods"]) == 1 and st["pods"][0]["ready"] is True
    diff = invoke(["stg.diff", "--env", "itest"], env_dir)  # the tool's desired state differs in image.tag only
    assert diff.returncode == 2 and "Deployment/plate-web" in diff.stdout, diff.stdout + diff.stderr


def test_the_tool_rolls_back_a_release_the_helm_cli_made(env_dir: Path, helm: Helm) -> None:
    _install_twice_with_helm(helm)
    back = invoke(["prod.rollback", "--env", "itest", "--yes"], env_dir, timeout=300)
    assert back.returncode == 0, back.stdout + back.stderr
    # the CLI's fields (manager "helm") are handed to the tool's manager once; Helm keeps the refused attempt
    assert "held fields applied by an earlier Helm run as helm" in back.stdout, back.stdout
    assert "now revision 4 (deployed)" in back.stdout
    history = json.loads(helm("history", "plate-web", "-n", "plate-web", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "superseded"),
                                                               (3, "failed"), (4, "deployed")]
    rolled = json.loads(helm("get", "values", "plate-web", "-n", "plate-web", "-o", "json").stdout)
    assert rolled["image"]["tag"] != "1.4.3"  # revision 1's values are back
