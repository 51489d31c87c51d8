"""Shared fixtures. Sandbox: an in-process Kubernetes API emulator on 127.0.0.1 (one per test).

And the CI strictness rule: a test that cannot run for want of a tool or a backend skips with a reason starting
``needs:`` (e.g. ``pytest.skip("needs: /usr/sbin/sshd ...")``, ``skipif(..., reason="needs: kubectl ...")``).
Outside CI that is a skip with its reason; under ``CI=true`` it is a failure of one line, so a machine without
sshd, kubectl, a Go toolchain or a real control plane cannot make CI green by skipping (see tests/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Sandbox

# Tests never reach a real cluster: the Kubernetes and Helm adapters refuse any API server that is not on this
# machine (subprocesses such as the `invoke` CLI inherit this).
os.environ["PRJDEVOPS_LOOPBACK_ONLY"] = "1"


NEEDS = "needs:"


def ci_strict(environ: Mapping[str, str] = os.environ) -> bool:
    """CI runs (``CI=true``, as GitHub Actions, GitLab CI and .ci/run set it) do not accept missing tools."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_reason(longrepr: Any) -> str:
    """The reason of a skip report (``pytest.skip`` in a test or fixture, or a ``skipif`` mark)."""
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def ci_failure(reason: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The one-line failure a skip becomes under CI, or None when it stays a skip."""
    if not (ci_strict(environ) and reason.startswith(NEEDS)):
        return None
    return f"CI=true: a required tool or backend is missing, {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        failure = ci_failure(skip_reason(report.longrepr))
        if failure is not None:
            report.outcome = "failed"
            report.longrepr = failure
    return report


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox on a free loopback port, controllers on, pods Ready after 0.05 s."""
    with Sandbox(port=0, pod_ready_delay=0.05) as sb:
        yield sb


@pytest.fixture
def kubeconfig(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A kubeconfig for ``sandbox`` (context ``sandbox``, namespace ``default``)."""
    return sandbox.write_kubeconfig(tmp_path / "kubeconfig", context="sandbox", namespace="default")


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[Any]:
    """An official ``kubernetes`` ApiClient for the sandbox (built from the kubeconfig, as users do)."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kubeconfig), context="sandbox")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stand-in library charts, packaged by real Helm and served as a chart repository on 127.0.0.1."""
    from prjdevops.chartrepo import ChartRepository, build_repository, standin_sources

    folder = tmp_path_factory.mktemp("standins")
    build_repository(standin_sources(), folder)
    with ChartRepository(folder) as r:
        yield r
