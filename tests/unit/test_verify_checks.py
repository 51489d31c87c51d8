"""The verify suite's pure checks, table-driven from fixtures/verify_checks.yaml, plus small helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.verify import checks

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "verify_checks.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_check_table(case: dict[str, Any]) -> None:
    ok, reason = getattr(checks, case["check"])(**case["args"])
    assert (ok, case["reason"] in reason) == (case["ok"], True), reason


def test_every_check_has_a_passing_and_a_failing_case() -> None:
    seen: dict[str, set[bool]] = {}
    for case in CASES:
        seen.setdefault(case["check"], set()).add(case["ok"])
    incomplete = [name for name, outcomes in seen.items() if outcomes != {True, False}]
    assert not incomplete


@pytest.mark.parametrize(("roles", "ports", "want"), [
    ([], None, (10250,)),
    (["worker"], None, (10250,)),
    (["control-plane"], None, (2379, 2380, 6443, 10250, 10257, 10259)),
    (["control-plane", "worker"], [22], (22,)),
    (["etcd-only"], None, (10250,)),
])
def test_required_ports_by_role(roles: list[str], ports: list[int] | None, want: tuple[int, ...]) -> None:
    assert checks.required_ports(roles, ports) == want


@pytest.mark.parametrize(("output", "free"), [
    ("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 40 60 40% /\n", 60 * 1024),
    ("Filesystem 1024-blocks Used Available Capacity Mounted on\n", None),
    ("garbage\nmore garbage\n", None),
])
def test_df_available(output: str, free: int | None) -> None:
    assert checks.df_available(output) == free


@pytest.mark.parametrize(("stderr", "no_shell"), [
    ('OCI runtime exec failed: exec failed: unable to start container process: exec: "/bin/sh": stat /bin/sh: '
     "no such file or directory: unknown\ncommand terminated with exit code 126", True),
    ('error: Internal error occurred: error executing command in container: failed to exec in container: '
     'failed to start exec "abc": OCI runtime exec failed: exec failed: unable to start container process: '
     'exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown', True),
    ("rpc error: code = 2 desc = oci runtime error: exec failed: executable file not found in $PATH", True),
    ("error: unable to upgrade connection: pod does not exist", False),
    ('Error from server (Forbidden): pods "web-1" is forbidden: User "ci" cannot create resource "pods/exec"', False),
    ("", False),
])
def test_exec_without_shell_is_recognised(stderr: str, no_shell: bool) -> None:
    assert checks.exec_has_no_shell(stderr) is no_shell


def test_ref_names_kind_namespace_and_name() -> None:
    assert checks.ref({"kind": "Deployment", "metadata": {"name": "web", "namespace": "app"}}) == \
        "deployment/app/web"
    assert checks.ref({"kind": "IPAddressPool", "metadata": {"name": "p"}}) == "ipaddresspool/p"
