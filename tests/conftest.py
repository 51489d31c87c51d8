"""Shared fixtures. Sandbox: an in-process Kubernetes API emulator on 127.0.0.1 (one per test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesandbox import Sandbox

# Tests never reach a real cluster: the Kubernetes and Helm adapters refuse any API server that is not on this
# machine (subprocesses such as the `invoke` CLI inherit this).
os.environ["PRJDEVOPS_LOOPBACK_ONLY"] = "1"


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
