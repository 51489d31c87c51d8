"""Small helpers for sandbox tests: polling and raw HTTP."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(fn: Callable[[], T], timeout: float = 5.0, interval: float = 0.02, what: str = "condition") -> T:
    """Poll ``fn`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = fn()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = fn()
    return last


def raw(url: str, method: str, path: str, body: bytes | str | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """One plain HTTP request; returns (status, headers, parsed JSON or raw bytes)."""
    host_port = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host_port, timeout=10)
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        hdrs: dict[str, str] = {}
        for k, v in resp.getheaders():  # repeated headers (Warning) are joined, as HTTP allows
            hdrs[k.lower()] = f"{hdrs[k.lower()]}, {v}" if k.lower() in hdrs else v
        try:
            return resp.status, hdrs, json.loads(payload)
        except ValueError:
            return resp.status, hdrs, payload
    finally:
        conn.close()
