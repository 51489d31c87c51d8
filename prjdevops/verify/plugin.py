"""The pytest side of the verify suite: options, generated checks, the team's own tests and their fixtures.

``verify/conftest.py`` imports everything here (``from prjdevops.verify.plugin import *``), so hooks and fixtures
apply to the test files of that folder (and override pytest-testinfra's ``host``, which would connect to the local
machine). Two kinds of test run side by side and end in one table and one JUnit report:

- the generated checks (``verify/test_environment.py``), one per :class:`~prjdevops.verify.plan.Check`;
- the team's own tests: any other ``test_*`` function in the folder. Its group is given by
  ``@pytest.mark.group("app-smoke")`` (on the test, its class, or as ``pytestmark`` in the module), default
  :data:`~prjdevops.verify.plan.USER_GROUP`; ``--verify-only`` (``invoke verify --only``) selects by group.

Fixtures for the team's tests: ``env`` (the loaded :class:`~prjdevops.model.Environment`), ``kube`` (the official
client's ``ApiClient`` for the environment's context), ``release`` (``release(name)`` -> a
:class:`~prjdevops.verify.k8s.ReleaseView`), ``k8s`` (:class:`~prjdevops.verify.k8s.K8s`) and ``host`` (a testinfra
host per SSH node of the environment's ``inventory:``, through the project's strict host-key backends: a test
using it runs once per node, its id the node's name).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import Any

import pytest

from prjdevops.errors import DeployError
from prjdevops.verify.plan import (
    GROUP_NAME,
    GROUPS,
    USER_GROUP,
    Check,
    all_groups,
    discover,
    generated_groups,
    min_free_from_env,
    parse_only,
    select_nodes,
    unknown_groups,
)

__all__ = [
    "env",
    "host",
    "k8s",
    "kube",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_sessionstart",
    "pytest_unconfigure",
    "release",
    "verify_target",
]

_TARGET = pytest.StashKey[Any]()
_CHECKS = pytest.StashKey[list[Check]]()
_ONLY = pytest.StashKey[set[str]]()
_PROBES = pytest.StashKey[dict[str, Any]]()  # node name -> TestinfraProbe: one connection per node and run
_SSH_FAILURE = pytest.StashKey[str]()  # on an item: its node could not be reached


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prjdevops verify")
    group.addoption("--verify-env", default=os.environ.get("PRJDEVOPS_VERIFY_ENV", ""),
                    help="environment to verify (environments/<name>.yaml); default $PRJDEVOPS_VERIFY_ENV")
    group.addoption("--verify-only", action="append", default=[],
                    help=f"only these groups (repeatable or comma-separated): {', '.join(GROUPS)}, or the group "
                         f"of your own tests (@pytest.mark.group(NAME), default {USER_GROUP})")


def pytest_configure(config: pytest.Config) -> None:
    for g in GROUPS:
        config.addinivalue_line("markers", f"{g}: verify checks of group {g}")
    config.addinivalue_line("markers", "nodes(*names, role=None): run a test taking `host` only on these SSH nodes "
                                       "of the inventory (by name or host) and/or those with the role")
    config.addinivalue_line("markers", "group(name): the verify group of a test of your own (selected by "
                                       "--verify-only / invoke verify --only, and by verify.gate)")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the environment and discover its checks once, before collection; a bad name is a usage error."""
    from prjdevops.ops.session import Settings, open_target

    config = session.config
    name = config.getoption("--verify-env")
    if not name:
        raise pytest.UsageError("name the environment: --verify-env NAME (or PRJDEVOPS_VERIFY_ENV)")
    try:
        only = parse_only(config.getoption("--verify-only"))
        target = open_target(Settings(), name)
    except DeployError as e:
        raise pytest.UsageError(str(e)) from e
    config.stash[_ONLY] = only
    config.stash[_TARGET] = target
    wanted = generated_groups(only)
    config.stash[_CHECKS] = discover(target, wanted, min_free=min_free_from_env()) if wanted else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "check" in metafunc.fixturenames:
        found = config.stash[_CHECKS]
        # no check selected (e.g. --only app-smoke): one placeholder, deselected after collection
        metafunc.parametrize("check", [pytest.param(c, id=c.id, marks=[getattr(pytest.mark, c.group),
                                                                       pytest.mark.group(c.group)])
                                       for c in found] or [pytest.param(None, id="no-checks")])
    if "host" in metafunc.fixturenames:
        env = config.stash[_TARGET].env
        names, role, wanted = _nodes_marker(metafunc)
        nodes = select_nodes(env.inventory, names, role)
        if nodes:
            params = [pytest.param(n, id=n.name) for n in nodes]
        else:
            why = (f"no SSH node of environment {env.name} matches @pytest.mark.nodes({wanted})" if wanted else
                   f"environment {env.name} lists no SSH nodes in its inventory")
            params = [pytest.param(None, id="no-ssh-nodes", marks=pytest.mark.skip(reason=why))]
        metafunc.parametrize("host", params, indirect=True)


def _nodes_marker(metafunc: pytest.Metafunc) -> tuple[tuple[str, ...], str | None, str]:
    """``@pytest.mark.nodes("node1", role="worker")``: (names, role, how it was written) of a ``host`` test."""
    mark = metafunc.definition.get_closest_marker("nodes")
    if mark is None:
        return (), None, ""
    role = mark.kwargs.get("role")
    if set(mark.kwargs) - {"role"} or not all(isinstance(a, str) for a in mark.args) or \
            not isinstance(role, str | None):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.nodes takes node names and/or "
                                f"role=NAME, got {mark.args} {mark.kwargs}")
    wanted = ", ".join([*(repr(a) for a in mark.args), *([f"role={role!r}"] if role else [])])
    return tuple(mark.args), role, wanted


def _check_of(item: pytest.Item) -> tuple[bool, Check | None]:
    """(is a generated check item, its check or None for the placeholder)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "check" not in callspec.params:
        return False, None
    value = callspec.params["check"]
    return True, value if isinstance(value, Check) else None


def user_group(item: pytest.Item) -> str:
    """The group of a user test: its closest ``group`` marker, else the default."""
    mark = item.get_closest_marker("group")
    if mark is None:
        return USER_GROUP
    name = mark.args[0] if len(mark.args) == 1 and not mark.kwargs else None
    if not isinstance(name, str) or not GROUP_NAME.match(name):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.group takes one group name (lowercase letters, "
                                f"digits and '-'), got {mark.args or mark.kwargs}")
    return name


def user_check_name(item: pytest.Item) -> str:
    """``file.py::test[param]`` (class included): the name the table and the gate's error show."""
    return f"{item.path.name}::{item.nodeid.split('::', 1)[1]}" if "::" in item.nodeid else item.name


def _is_user_test(item: pytest.Item) -> bool:
    return not _check_of(item)[0]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each user test its group (for the table and JUnit), apply ``--verify-only``, refuse unknown groups."""
    only = config.stash[_ONLY]
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    seen: set[str] = set()
    for item in items:
        generated, check = _check_of(item)
        if generated and check is None:
            dropped.append(item)
            continue
        if check is not None:
            group = check.group
        else:
            group = user_group(item)
            seen.add(group)
            item.user_properties.extend([("group", group), ("check", user_check_name(item))])
        (keep if not only or group in only else dropped).append(item)
    unknown = unknown_groups(only, seen)
    if unknown:
        raise pytest.UsageError(f"unknown verify group(s) {', '.join(unknown)} (groups: "
                                f"{', '.join(all_groups(seen))})")
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# --- the table's reason for a user test --------------------------------------------------------------------


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def exception_reason(exc: BaseException) -> str:
    """One line for a failed user test: the assertion's message (or pytest's rewritten ``assert ...``), a project
    error's own text, else ``Type: message``."""
    if isinstance(exc, pytest.fail.Exception | pytest.skip.Exception):  # their __module__ is "builtins"
        return _first_line(str(exc.msg or "")) or type(exc).__name__
    if isinstance(exc, AssertionError | DeployError):
        return _first_line(str(exc)) or type(exc).__name__
    result: Any = exc.args[0] if isinstance(exc, RuntimeError) and exc.args else None
    if result is not None and hasattr(result, "exit_status") and hasattr(result, "command"):
        # testinfra's check_output and modules raise RuntimeError(CommandResult) when a node command fails
        command = result.command.decode(errors="replace") if isinstance(result.command, bytes) else result.command
        stderr = _first_line(str(getattr(result, "stderr", "") or ""))
        return f"command {command!r} exited {result.exit_status}" + (f": {stderr}" if stderr else "")
    return f"{type(exc).__name__}: {_first_line(str(exc))}".rstrip(": ")


def _reason(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> str:
    if report.skipped:
        longrepr = report.longrepr
        text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        return _first_line(str(text).removeprefix("Skipped: "))
    if report.failed and call.excinfo is not None:
        return exception_reason(call.excinfo.value)
    doc = getattr(getattr(item, "obj", None), "__doc__", None) or ""
    return _first_line(doc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _is_user_test(item) and (report.when == "call" or (report.when == "setup" and not report.passed)):
        # JUnit takes properties from the item when its teardown is reported: the last "reason" wins
        item.user_properties.append(("reason", _reason(item, report, call)))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A node the ``host`` fixture could not reach fails the test (one line naming the host), not its setup."""
    failure = item.stash.get(_SSH_FAILURE, None)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    target = config.stash.get(_TARGET, None)
    if target is not None:
        target.close()


# --- fixtures for the team's tests -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def verify_target(request: pytest.FixtureRequest) -> Any:
    """The environment bound to its cluster (:class:`prjdevops.ops.release.Target`), opened once per run."""
    return request.config.stash[_TARGET]


@pytest.fixture(scope="session")
def env(verify_target: Any) -> Any:
    """The loaded environment (:class:`prjdevops.model.Environment`)."""
    return verify_target.env


@pytest.fixture(scope="session")
def kube(verify_target: Any) -> Any:
    """The official client's ``ApiClient`` for the environment's kubeconfig and context."""
    return verify_target.kube.api_client


@pytest.fixture(scope="session")
def k8s(verify_target: Any) -> Any:
    """Assertion helpers over live objects; ``http_get`` skips the test where the API server has no proxy."""
    from prjdevops.verify.k8s import K8s

    env = verify_target.env
    return K8s(verify_target.kube, namespace=env.namespaces[0] if env.namespaces else "default",
               on_unserved=lambda why: pytest.skip(why))


@pytest.fixture(scope="session")
def release(verify_target: Any) -> Callable[..., Any]:
    """``release(name, namespace=None)``: the Helm release as it runs (status, revision, values, manifest)."""
    from prjdevops.verify.k8s import ReleaseView, release_view

    def get(name: str, namespace: str | None = None) -> ReleaseView:
        ns = namespace or verify_target.env.release(name).namespace
        return release_view(verify_target.helm, name, ns)

    return get


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Any:
    """A testinfra host for one SSH node of the inventory (strict host keys; parametrized by node name)."""
    from prjdevops.adapters.ssh import SSHError, TestinfraProbe

    node = request.param
    probes = request.config.stash.setdefault(_PROBES, {})
    probe = probes.setdefault(node.name, TestinfraProbe(node))
    try:
        probe.run("true")  # connect now (host key checked), or fail every test of the node with the same line
    except SSHError as e:
        request.node.stash[_SSH_FAILURE] = str(e)
        return None
    return probe.host
