"""The sandbox's watch_drop fault: a stream cut mid-way, then resumed from the last resourceVersion seen, misses
nothing (what Helm's client-go reflectors do; the product's own code polls)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client, watch
from urllib3.exceptions import ProtocolError

from kubesandbox import Fault


def test_cut_watch_resumed_from_last_resource_version_misses_nothing(sandbox: Any, api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"a{i}")))
    sandbox.faults.add(Fault(kind="watch_drop", seconds=0.3, path="/configmaps", count=1))
    seen: list[str] = []
    last = start
    with pytest.raises(ProtocolError):  # the first stream is cut
        for ev in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                       timeout_seconds=5):
            seen.append(ev["object"].metadata.name)
            last = ev["object"].metadata.resource_version
    for i in range(3, 5):  # written while nobody watched
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"a{i}")))
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, "default", resource_version=last, timeout_seconds=2):
        seen.append(ev["object"].metadata.name)
        if len(seen) == 5:
            w.stop()
    assert seen == [f"a{i}" for i in range(5)]
