"""Bad requests get Kubernetes Status answers with the right code; the server keeps serving."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import pytest

from kubesandbox import Sandbox
from kubesandbox.errors import SandboxError

from .helpers import raw

CM = "/api/v1/namespaces/default/configmaps"


def status_of(sandbox: Sandbox, method: str, path: str, body: str | bytes | None = None,
              ctype: str = "application/json") -> tuple[int, dict[str, Any]]:
    code, hdrs, payload = raw(sandbox.url, method, path, body, {"Content-Type": ctype})
    assert hdrs["content-type"] == "application/json"
    assert isinstance(payload, dict), payload
    assert payload["kind"] == "Status" and payload["apiVersion"] == "v1" and payload["status"] == "Failure"
    assert payload["code"] == code and payload["message"]
    assert "Traceback" not in payload["message"]
    return code, payload


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "reason"), [
    ("POST", CM, "{not json", "application/json", 400, "BadRequest"),
    ("POST", CM, "[1, 2]", "application/json", 400, "BadRequest"),
    ("POST", CM, '{"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "x"}}', "application/json", 400,
     "BadRequest"),
    ("POST", CM, '{"kind": "ConfigMap", "apiVersion": "v1", "metadata": {}}', "application/json", 422,
     "Invalid"),
    ("POST", CM, '{"kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": 1}}}', "application/json",
     422, "Invalid"),
    ("POST", CM, "k8s\x00garbage", "application/vnd.kubernetes.protobuf", 400, "BadRequest"),
    ("POST", CM, "a: [", "application/yaml", 400, "BadRequest"),
    ("POST", CM, "<xml/>", "application/xml", 415, "UnsupportedMediaType"),
    ("GET", "/api/v1/namespaces/default/widgets", None, "application/json", 404, "NotFound"),
    ("GET", "/totally/wrong", None, "application/json", 404, "NotFound"),
    ("DELETE", "/api/v1", None, "application/json", 405, "MethodNotAllowed"),
    ("PUT", CM, "{}", "application/json", 405, "MethodNotAllowed"),
    ("PATCH", f"{CM}/ghost", "{}", "application/merge-patch+json", 404, "NotFound"),
    ("PATCH", f"{CM}/ghost", "{}", "application/apply-patch+yaml", 422, "Invalid"),
    ("PATCH", f"{CM}/ghost", "{}", "text/plain", 415, "UnsupportedMediaType"),
    ("GET", f"{CM}?labelSelector=a+in+b", None, "application/json", 400, "BadRequest"),
    ("GET", f"{CM}?watch=true&resourceVersion=abc", None, "application/json", 400, "BadRequest"),
    ("PATCH", f"{CM}/x?fieldManager=t", '{"metadata": "x"}', "application/apply-patch+yaml", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/pods", '{"metadata": {"name": "p"}, "spec": {"containers": [{"image": "x"}]}}',
     "application/json", 422, "Invalid"),
    ("POST", "/api/v1/namespaces/default/services", '{"metadata": {"name": "s"}, "spec": {"ports": [null]}}',
     "application/json", 400, "BadRequest"),
    ("PATCH", "/apis/apps/v1/namespaces/default/deployments/ghost/scale", '{"spec": {"replicas": 2}}',
     "application/merge-patch+json", 404, "NotFound"),
])
def test_bad_requests_get_status(sandbox: Sandbox, method: str, path: str, body: str | None, ctype: str,
                                 code: int, reason: str) -> None:
    got, payload = status_of(sandbox, method, path, body, ctype)
    assert (got, payload["reason"]) == (code, reason)
    assert raw(sandbox.url, "GET", "/version")[0] == 200  # still alive


def test_put_name_mismatch_and_unknown_patch_type(sandbox: Sandbox) -> None:
    assert raw(sandbox.url, "POST", CM, '{"metadata": {"name": "a"}}', {"Content-Type": "application/json"})[0] == 201
    code, _ = status_of(sandbox, "PUT", f"{CM}/a", '{"metadata": {"name": "b"}}')
    assert code == 400
    code, _ = status_of(sandbox, "PATCH", f"{CM}/a", "{}", "text/plain")
    assert code == 415


def test_discovery_and_openapi_endpoints(sandbox: Sandbox) -> None:
    code, hdrs, body = raw(sandbox.url, "GET", "/openapi/v2")
    assert (code, hdrs["content-type"], body) == (200, "application/octet-stream", b"")
    for path in ("/api", "/api/"):
        code, _, body = raw(sandbox.url, "GET", path)
        assert code == 200 and body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    code, _, body = raw(sandbox.url, "GET", "/api/v1")
    assert body["groupVersion"] == "v1" and "@" not in raw(sandbox.url, "GET", "/api/v1")[1]["content-type"]
    code, _, body = raw(sandbox.url, "GET", "/apis/apps")
    assert body["kind"] == "APIGroup" and body["preferredVersion"]["groupVersion"] == "apps/v1"


def test_keep_alive_survives_errors_and_bodies_are_drained(sandbox: Sandbox) -> None:
    conn = http.client.HTTPConnection(sandbox.url.removeprefix("http://"), timeout=5)
    try:
        # a DELETE with a body that the server must read even though the target does not exist
        conn.request("DELETE", f"{CM}/ghost", body=json.dumps({"propagationPolicy": "Background"}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 404
        resp.read()
        conn.request("POST", CM, body="{broken", headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 400
        resp.read()
        conn.request("GET", "/version")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["major"] == "1"
    finally:
        conn.close()


def test_tcp_nodelay_is_set(sandbox: Sandbox) -> None:
    conn = http.client.HTTPConnection(sandbox.url.removeprefix("http://"), timeout=5)
    conn.request("GET", "/version")
    conn.getresponse().read()
    server = sandbox._server
    assert server is not None
    with server._conns_lock:
        socks = list(server._conns)
    assert socks and all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in socks)
    conn.close()


def test_refuses_non_loopback_and_busy_port(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="loopback"):
        Sandbox(host="0.0.0.0")
    with pytest.raises(SandboxError, match="loopback"):
        Sandbox(host="example.com")
    with pytest.raises(SandboxError, match="busy"):
        Sandbox(port=sandbox.port).start()
    assert sandbox.url.startswith("http://127.0.0.1:")
    s = socket.create_connection(("127.0.0.1", sandbox.port))
    s.close()


def test_protocol_errors_are_status_objects(sandbox: Sandbox) -> None:
    code, hdrs, body = raw(sandbox.url, "BREW", "/api/v1")
    assert code == 501 and hdrs["content-type"] == "application/json" and body["kind"] == "Status"
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as s:
        s.sendall(b"this is not http\r\n\r\n")
        reply = s.recv(65536)
    # an unparseable request line reads as HTTP/0.9, which has no status line: just the Status body
    assert b'"kind":"Status"' in reply and b'"code":400' in reply and b"Traceback" not in reply
    assert raw(sandbox.url, "GET", "/version")[0] == 200


def test_stop_closes_keep_alive_connections() -> None:
    sb = Sandbox().start()
    conn = http.client.HTTPConnection(sb.url.removeprefix("http://"), timeout=5)
    conn.request("GET", "/version")
    assert conn.getresponse().read()
    sb.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/version")
        conn.getresponse().read()
    conn.close()


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                       "template": {"metadata": {"labels": {"app": "d"}},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def test_scale_patch_errors_are_422(sandbox: Sandbox) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    assert raw(sandbox.url, "POST", path, json.dumps(DEPLOYMENT), {"Content-Type": "application/json"})[0] == 201
    for body, ctype in (('[{"op": "remove", "path": "/spec/nope"}]', "application/json-patch+json"),
                        ('{"spec": {"replicas": "three"}}', "application/merge-patch+json")):
        code, payload = status_of(sandbox, "PATCH", f"{path}/d/scale", body, ctype)
        assert code == 422, payload


def test_mutated_requests_never_get_a_500(sandbox: Sandbox) -> None:
    """A bounded, seeded mutation run over create/replace/patch/delete of a Deployment."""
    import copy
    import random

    rng = random.Random(2)
    values: list[object] = [None, 0, -1, "x", "", True, [], {}, {"a": "b"}, [None], {"$patch": "delete"}]
    base = "/apis/apps/v1/namespaces/default/deployments"
    conn = http.client.HTTPConnection(sandbox.url.removeprefix("http://"), timeout=5)
    codes = set()
    for _ in range(400):
        body: object = copy.deepcopy(DEPLOYMENT)
        for _ in range(rng.randint(1, 3)):
            cur, parent, key = body, None, None
            while isinstance(cur, dict | list) and cur and rng.random() < 0.7:
                parent = cur
                key = rng.choice(list(cur)) if isinstance(cur, dict) else rng.randrange(len(cur))
                cur = cur[key]  # type: ignore[index]
            if parent is not None:
                parent[key] = copy.deepcopy(rng.choice(values))  # type: ignore[index]
        method, path, ctype = rng.choice([
            ("POST", base, "application/json"), ("PUT", f"{base}/d", "application/json"),
            ("PATCH", f"{base}/d", "application/merge-patch+json"),
            ("PATCH", f"{base}/d", "application/strategic-merge-patch+json"),
            ("PATCH", f"{base}/d?fieldManager=t&fieldValidation=Strict", "application/apply-patch+yaml"),
            ("PATCH", f"{base}/d/scale", "application/merge-patch+json"),
            ("PUT", f"{base}/d/status", "application/json"), ("DELETE", f"{base}/d", "application/json")])
        conn.request(method, path, body=json.dumps(body), headers={"Content-Type": ctype})
        resp = conn.getresponse()
        resp.read()
        codes.add(resp.status)
        assert resp.status < 500, (method, path, body)
    conn.close()
    assert 201 in codes and 200 in codes and 400 in codes  # the run did reach the interesting paths
    sandbox.controllers.kick()
    assert raw(sandbox.url, "GET", "/version")[0] == 200


@pytest.mark.parametrize("path", ["/apis/nope.example.com/v1", "/apis/apps/v9/deployments", "/openapi/v3/apis/nope/v1"])
def test_paths_no_group_serves_are_a_plain_404(sandbox: Sandbox, path: str) -> None:
    # kube-apiserver's mux answers these itself: text, not a Status (clients see "the server could not find")
    code, hdrs, payload = raw(sandbox.url, "GET", path)
    assert (code, hdrs["content-type"], payload) == (404, "text/plain; charset=utf-8", b"404 page not found\n")
