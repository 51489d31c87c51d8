"""The post-deploy verify suite: one test per check, generated from the environment (never hand-written).

Run it with ``invoke verify --env NAME [--only GROUP]`` (which also writes JUnit XML under ``reports/`` and prints the
summary table), or directly: ``pytest verify --verify-env NAME [--verify-only GROUP]``. The environment name may also
come from ``$PRJDEVOPS_VERIFY_ENV``; the environments folder from ``$PRJDEVOPS_ENVIRONMENTS`` as everywhere else.

This folder runs only against a live environment: the repository's unit/integration run (``testpaths = tests``) never
collects it; tests in ``tests/`` run it in a subprocess against the sandbox.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from prjdevops.verify.plan import GROUPS, Check, discover, min_free_from_env, parse_groups

_TARGET = pytest.StashKey[Any]()
_CHECKS = pytest.StashKey[list[Check]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prjdevops verify")
    group.addoption("--verify-env", default=os.environ.get("PRJDEVOPS_VERIFY_ENV", ""),
                    help="environment to verify (environments/<name>.yaml); default $PRJDEVOPS_VERIFY_ENV")
    group.addoption("--verify-only", action="append", default=[],
                    help=f"only these groups (repeatable or comma-separated): {', '.join(GROUPS)}")


def pytest_configure(config: pytest.Config) -> None:
    for g in GROUPS:
        config.addinivalue_line("markers", f"{g}: verify checks of group {g}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the environment and discover its checks once, before collection; a bad name is a usage error."""
    from prjdevops.errors import DeployError
    from prjdevops.ops.session import Settings, open_target

    config = session.config
    name = config.getoption("--verify-env")
    if not name:
        raise pytest.UsageError("name the environment: --verify-env NAME (or PRJDEVOPS_VERIFY_ENV)")
    try:
        groups = parse_groups(config.getoption("--verify-only"))
        target = open_target(Settings(), name)
    except DeployError as e:
        raise pytest.UsageError(str(e)) from e
    config.stash[_TARGET] = target
    config.stash[_CHECKS] = discover(target, groups, min_free=min_free_from_env())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        found = metafunc.config.stash[_CHECKS]
        metafunc.parametrize("check", [pytest.param(c, id=c.id, marks=getattr(pytest.mark, c.group))
                                       for c in found])


def pytest_unconfigure(config: pytest.Config) -> None:
    target = config.stash.get(_TARGET, None)
    if target is not None:
        target.close()
