"""Watches: the official client's watch, resourceVersion resume, bookmarks, streaming lists, 410."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

from kubernetes import client, watch

from kubesandbox import Sandbox


def cm(name: str, value: str = "v") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"w": "1"}},
            "data": {"k": value}}


def test_client_watch_from_resource_version(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_config_map("default", cm("before"))
    rv = v1.list_namespaced_config_map("default").metadata.resource_version

    def writer() -> None:
        time.sleep(0.1)
        v1.create_namespaced_config_map("default", cm("w1"))
        v1.patch_namespaced_config_map("w1", "default", {"data": {"k": "2"}})
        v1.delete_namespaced_config_map("w1", "default")

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    t.join()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_without_resource_version_starts_with_current_state(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_config_map("default", cm("existing"))
    w = watch.Watch()
    first = next(iter(w.stream(v1.list_namespaced_config_map, "default", label_selector="w=1",
                               timeout_seconds=2)))
    w.stop()
    assert first["type"] == "ADDED" and first["object"].metadata.name == "existing"


def _stream(sandbox: Sandbox, path: str, until: int, timeout: float = 8) -> list[dict[str, Any]]:
    conn = http.client.HTTPConnection(sandbox.url.removeprefix("http://"), timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    events = []
    while len(events) < until:
        line = resp.readline()
        if not line:
            break
        events.append(json.loads(line))
    conn.close()
    return events


def test_send_initial_events_ends_with_annotated_bookmark(sandbox: Sandbox, api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_config_map("default", cm("one"))
    v1.create_namespaced_config_map("default", cm("two"))
    events = _stream(sandbox, "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true"
                              "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=5",
                     until=3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert {e["object"]["metadata"]["name"] for e in events[:2]} == {"one", "two"}
    bm = events[2]["object"]
    assert bm["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bm["metadata"]["resourceVersion"]) >= int(events[1]["object"]["metadata"]["resourceVersion"])
    assert bm["kind"] == "ConfigMap"


def test_periodic_bookmarks(sandbox: Sandbox, monkeypatch: Any) -> None:
    from kubesandbox import server

    monkeypatch.setattr(server, "BOOKMARK_SECONDS", 0.2)
    rv = sandbox.store.resource_version
    events = _stream(sandbox, f"/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true"
                              f"&resourceVersion={rv}&timeoutSeconds=3", until=1)
    assert events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= rv


def test_too_old_resource_version_is_410_expired(monkeypatch: Any) -> None:
    from kubesandbox import store

    monkeypatch.setattr(store, "WATCH_LOG_SIZE", 5)  # a tiny watch log, so history runs out quickly
    with Sandbox() as sb:
        for i in range(10):
            sb.api.create(sb.api.rt("", "v1", "configmaps"), "default", {"metadata": {"name": f"c{i}"}})
        events = _stream(sb, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2", until=1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def test_label_selector_transitions_read_as_added_and_deleted(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "t", "labels": {"w": "0"}}, "data": {}})
    rv = v1.list_namespaced_config_map("default").metadata.resource_version

    def writer() -> None:
        time.sleep(0.1)
        v1.patch_namespaced_config_map("t", "default", {"metadata": {"labels": {"w": "1"}}})
        v1.patch_namespaced_config_map("t", "default", {"data": {"x": "1"}})
        v1.patch_namespaced_config_map("t", "default", {"metadata": {"labels": {"w": "2"}}})

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, "default", label_selector="w=1", resource_version=rv,
                       timeout_seconds=5):
        seen.append(ev["type"])
        if ev["type"] == "DELETED":
            w.stop()
    t.join()
    assert seen == ["ADDED", "MODIFIED", "DELETED"]


def test_client_streaming_list_with_send_initial_events(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    v1.create_namespaced_config_map("default", cm("only"))
    w = watch.Watch()
    seen = []
    for ev in w.stream(v1.list_namespaced_config_map, "default", send_initial_events=True,
                       allow_watch_bookmarks=True, resource_version_match="NotOlderThan", timeout_seconds=3):
        seen.append((ev["type"], ev["raw_object"]["metadata"]))
        if ev["type"] == "BOOKMARK":
            w.stop()
    assert [t for t, _ in seen] == ["ADDED", "BOOKMARK"]
    assert seen[0][1]["name"] == "only"
    assert seen[1][1]["annotations"] == {"k8s.io/initial-events-end": "true"}
