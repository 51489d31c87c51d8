"""Shared fixtures. Two cluster backends:

- ``sandbox``: the project's in-process Kubernetes API emulator on 127.0.0.1 (one per test);
- ``real``: a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) built from
  Go modules by ``controlplane.build``; ONE per pytest session (starting costs seconds), tests isolated by
  deleting what each created (namespaces, cluster-scoped objects) after it.

``--cluster sandbox|real|both`` (or ``PRJDEVOPS_TEST_CLUSTER``; default ``both``) selects the backends of the
integration tests (tests/integration/); every other test judges the sandbox itself or pure code and runs on the
sandbox. A test needing sandbox-only controls (fault injection, internals) is marked ``sandbox_only``.

And the CI strictness rule: a test that cannot run for want of a tool or a backend skips with a reason starting
``needs:`` (e.g. ``pytest.skip("needs: /usr/sbin/sshd ...")``, ``skipif(..., reason="needs: kubectl ...")``).
Outside CI that is a skip with its reason; under ``CI=true`` it is a failure of one line, so a machine without
sshd, kubectl, a Go toolchain or a real control plane cannot make CI green by skipping (see tests/README.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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


# Helm's client (and the helm CLI the interop tests run) caches discovery and HTTP answers under ~/.kube/cache keyed
# by the API server's address: every test's sandbox has a new port, so a session left thousands of folders and
# gigabytes there. What the session added is removed at its end (the tool's own proxy cleans up after itself).
_kube_cache_before: tuple[set[str], set[str]] | None = None


def _kube_cache_listing() -> tuple[set[str], set[str]]:
    from prjdevops.adapters.apiproxy import kube_cache_root

    root = kube_cache_root()
    return tuple(set(os.listdir(d)) if d.is_dir() else set()  # type: ignore[return-value]
                 for d in (root / "discovery", root / "http"))


def pytest_sessionstart(session: pytest.Session) -> None:
    global _kube_cache_before
    _kube_cache_before = _kube_cache_listing()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import shutil

    from prjdevops.adapters.apiproxy import kube_cache_root

    if _kube_cache_before is None:
        return
    root = kube_cache_root()
    discovery, http = _kube_cache_listing()
    for name in discovery - _kube_cache_before[0]:
        if name.startswith("127.0.0.1_"):
            shutil.rmtree(root / "discovery" / name, ignore_errors=True)
    for name in http - _kube_cache_before[1]:
        if (root / "http" / name).is_file():  # not client-go's .diskv-temp folder
            (root / "http" / name).unlink(missing_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        failure = ci_failure(skip_reason(report.longrepr))
        if failure is not None:
            report.outcome = "failed"
            report.longrepr = failure
    return report


BACKENDS = ("sandbox", "real")
TESTS = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cluster", choices=("sandbox", "real", "both"),
                     default=os.environ.get("PRJDEVOPS_TEST_CLUSTER", "both"),
                     help="cluster backend(s) for the integration tests (env PRJDEVOPS_TEST_CLUSTER; default both)")


def selected_backends(config: pytest.Config) -> list[str]:
    choice = str(config.getoption("--cluster"))
    return list(BACKENDS) if choice == "both" else [choice]


def runs_on_both(path: Path) -> bool:
    return (TESTS / "integration") in path.parents


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" not in metafunc.fixturenames:
        return
    path = Path(str(metafunc.definition.path))
    backends = selected_backends(metafunc.config) if runs_on_both(path) else ["sandbox"]
    only = metafunc.definition.get_closest_marker("sandbox_only")
    if only is not None:
        if "sandbox" not in backends:  # --cluster real: say why this one does not run
            why = only.kwargs.get("reason", "needs sandbox-only controls")
            metafunc.parametrize("cluster", [pytest.param("sandbox", marks=pytest.mark.skip(
                reason=f"sandbox only: {why}"))], indirect=True)
            return
        backends = ["sandbox"]
    elif "sandbox" in metafunc.fixturenames and runs_on_both(path):
        # a test reaching into the sandbox must say why it cannot run on a real cluster
        raise pytest.UsageError(f"{metafunc.definition.nodeid} uses the `sandbox` fixture: mark it "
                                "@pytest.mark.sandbox_only(reason=...) or use `cluster`")
    known = metafunc.definition.get_closest_marker("real_xfail")
    params = [pytest.param(b, marks=pytest.mark.xfail(strict=known.kwargs.get("strict", True),
                                                      reason=f"real backend: {known.kwargs['reason']}"))
              if b == "real" and known is not None else b for b in backends]
    metafunc.parametrize("cluster", params, indirect=True)


@dataclass(frozen=True)
class Cluster:
    """The cluster a test runs on: ``backend`` is "sandbox" or "real"; ``kubeconfig`` has context ``sandbox``."""

    backend: str
    url: str
    kubeconfig: Path
    sandbox: Sandbox | None = None
    controlplane: Any = None


def _unavailable(reason: str) -> None:
    # a `needs:` skip: CI always runs the real tier, so under CI=true this is a failure (see ci_failure)
    pytest.skip(f"{NEEDS} a real control plane ({reason})")


@pytest.fixture(scope="session")
def real_control_plane() -> Iterator[Any]:
    """One real control plane for the whole session (built first if Go is here and the binaries are not)."""
    from controlplane.build import BuildError, ensure_built
    from controlplane.launcher import ControlPlane

    try:
        bins = ensure_built(log=lambda line: print(f"[controlplane] {line}", file=sys.stderr))
    except BuildError as exc:
        _unavailable(str(exc))
    cp = ControlPlane(bin_dir=bins)
    cp.start()  # a start failure with the binaries present is a real failure: ControlPlaneError names the part
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    backend = getattr(request, "param", "sandbox")
    if backend == "sandbox":
        sb: Sandbox = request.getfixturevalue("sandbox")
        kc = sb.write_kubeconfig(tmp_path / "kubeconfig", context="sandbox", namespace="default")
        yield Cluster("sandbox", sb.url, kc, sandbox=sb)
        return
    cp = request.getfixturevalue("real_control_plane")
    before = cp.snapshot()
    try:
        kc = cp.write_kubeconfig(tmp_path / "kubeconfig", context="sandbox", namespace="default")
        yield Cluster("real", cp.url, kc, controlplane=cp)
    finally:
        cp.reset(before)  # the next test starts from the same cluster state


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox on a free loopback port, controllers on, pods Ready after 0.05 s."""
    with Sandbox(port=0, pod_ready_delay=0.05) as sb:
        yield sb


@pytest.fixture
def kubeconfig(cluster: Cluster) -> Path:
    """A kubeconfig for the test's cluster (context ``sandbox``, namespace ``default``)."""
    return cluster.kubeconfig


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[Any]:
    """An official ``kubernetes`` ApiClient for the cluster (built from the kubeconfig, as users do)."""
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
