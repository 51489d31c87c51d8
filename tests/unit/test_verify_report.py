"""Reading the verify run back from JUnit XML; the runner's argv; the suite stays out of the unit run."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from prjdevops.environments import project_root
from prjdevops.errors import ConfigError
from prjdevops.verify.plan import GROUPS, Check, Result, parse_groups
from prjdevops.verify.report import counts, failures, read_junit
from prjdevops.verify.runner import pytest_argv

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="verify" errors="1" failures="1" skipped="1" tests="4">
 <testcase classname="test_environment" name="test_check[releases/web]" time="0.01">
  <properties><property name="group" value="releases"/><property name="check" value="web"/>
   <property name="reason" value="release web deployed at chart version 0.3.0"/></properties></testcase>
 <testcase classname="test_environment" name="test_check[ingresses/app/web]" time="0.01">
  <properties><property name="group" value="ingresses"/><property name="check" value="app/web"/>
   <property name="reason" value="ingress/app/web: TLS secret web-tls not found in namespace app"/></properties>
  <failure message="ingress/app/web: TLS secret web-tls not found in namespace app">...</failure></testcase>
 <testcase classname="test_environment" name="test_check[certificates/cert-manager]" time="0.0">
  <skipped type="pytest.skip" message="cert-manager is not installed">skip</skipped></testcase>
 <testcase classname="test_environment" name="test_check[nodes/n1/swap-off]" time="0.0">
  <error message="failed on setup with &quot;boom&quot;">traceback</error></testcase>
</testsuite></testsuites>
"""


def test_rows_from_junit(tmp_path: Path) -> None:
    path = tmp_path / "verify.xml"
    path.write_text(JUNIT)
    rows = read_junit(path)
    assert [(r.group, r.check, r.result, r.reason) for r in rows] == [
        ("releases", "web", "passed", "release web deployed at chart version 0.3.0"),
        ("ingresses", "app/web", "failed", "ingress/app/web: TLS secret web-tls not found in namespace app"),
        ("test_environment", "test_check[certificates/cert-manager]", "skipped", "cert-manager is not installed"),
        ("test_environment", "test_check[nodes/n1/swap-off]", "error", 'failed on setup with "boom"'),
    ]
    assert [r.check for r in failures(rows)] == ["app/web", "test_check[nodes/n1/swap-off]"]
    assert counts(rows) == {"passed": 1, "failed": 1, "skipped": 1, "error": 1}


def test_argv_is_a_list_naming_the_suite_env_groups_and_report(tmp_path: Path) -> None:
    argv = pytest_argv("staging", only=["services,ingresses", "host"], junit=tmp_path / "j.xml", root=Path("/r"))
    assert argv[:4] == [sys.executable, "-m", "pytest", "/r/verify"]
    assert f"--junitxml={tmp_path / 'j.xml'}" in argv
    assert argv[argv.index("--verify-env") + 1] == "staging"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--verify-only"] == ["services,ingresses", "host"]


@pytest.mark.parametrize(("only", "want"), [
    ([], set(GROUPS)),
    (["services"], {"services"}),
    (["services, ingresses", "host"], {"services", "ingresses", "host"}),
])
def test_groups(only: list[str], want: set[str]) -> None:
    assert parse_groups(only) == want


def test_unknown_group_is_refused_naming_the_groups() -> None:
    with pytest.raises(ConfigError, match=re.escape("unknown verify group(s) dns, tls (groups: releases, workloads")):
        parse_groups(["dns,services", "tls"])


def test_check_turns_project_errors_into_failures() -> None:
    from prjdevops.errors import ClusterUnreachable

    def boom() -> Result:
        raise ClusterUnreachable("read Deployment app/web: Kubernetes API at https://x is unreachable")

    result = Check("workloads", "app/deployment/web", boom).run()
    assert result == Result("failed", "read Deployment app/web: Kubernetes API at https://x is unreachable")
    assert Check("nodes", "n1/swap-off", boom).id == "nodes/n1/swap-off"


def test_the_unit_run_does_not_collect_the_verify_suite() -> None:
    """verify/ runs only against a live environment: `pytest` at the root must not pick it up."""
    config = tomllib.loads((project_root() / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert config["testpaths"] == ["tests"]
    assert (project_root() / "verify" / "conftest.py").is_file()
    assert not (project_root() / "tests" / "verify").exists()
