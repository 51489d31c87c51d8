"""The team's own smoke tests for plate-web (group ``app-smoke``), beside the generated checks.

Run them alone with ``invoke verify --env staging --only app-smoke``; add ``app-smoke`` to ``verify.gate`` of an
environment to make the production deploy roll back when they fail. See README.md in this folder.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.group("app-smoke")

APP = "plate-web"


@pytest.fixture
def ns(env: Any) -> str:
    """plate-web's namespace in this environment (the tests skip where the environment does not deploy it)."""
    found = [r for r in env.releases if r.name == APP and r.enabled]
    if not found:
        pytest.skip(f"environment {env.name} does not deploy {APP}")
    return str(found[0].namespace)


def test_service_has_endpoints(k8s: Any, ns: str) -> None:
    """The plate-web Service has ready endpoints."""
    svc = k8s.service(APP, ns)
    assert svc.endpoints, svc.why


def test_pods_answer_the_readiness_path(k8s: Any, release: Any, ns: str) -> None:
    """A plate-web pod answers its readiness path through the API server's Service proxy."""
    rel = release(APP)
    assert rel.deployed, f"release {APP} is {rel.status or 'not installed'}"
    probe = k8s.deployment(APP, ns).readiness_probe
    assert probe is not None, f"deployment/{ns}/{APP} has no HTTP readiness probe"
    path, target = probe
    # the Service port that forwards to the probe's container port (by name or number)
    port = next((p.get("name") or p.get("port") for p in k8s.service(APP, ns).ports
                 if p.get("targetPort") == target), None)
    answer = k8s.http_get(APP, path, ns=ns, port=port)  # skipped where the API server serves no proxy
    assert answer.status == 200, str(answer)
