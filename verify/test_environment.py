"""Every generated check of the environment is one test; its reason is recorded for the summary table."""

from __future__ import annotations

import pytest

from prjdevops.verify.plan import Check


def test_check(check: Check, request: pytest.FixtureRequest) -> None:
    result = check.run()
    request.node.user_properties.extend([("group", check.group), ("check", check.name),
                                         ("reason", result.reason)])
    if result.status == "skipped":
        pytest.skip(result.reason)
    if result.status == "failed":
        pytest.fail(result.reason, pytrace=False)
