"""HTTP front end: routing, discovery, bodies (JSON/YAML/protobuf), lists, watches, faults, control API.

Answers are always JSON (clients that send protobuf also accept JSON back). Errors are Kubernetes
``Status`` objects; a bug becomes a 500 Status, never a traceback on the wire.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from kubesandbox.errors import SandboxError

from . import openapi
from .api import _BUILTIN_GROUPS as _CORE_AND_BUILTIN
from .api import Api, ApiError, conflict, not_found, now
from .faults import Fault
from .fielderrors import FieldError, invalid_status
from .ownership import Op
from .patch import PatchError, json_patch, merge_patch
from .protobuf import ProtobufError, UnsupportedKind
from .protobuf import decode as decode_protobuf
from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector, SelectorError, selector_string
from .store import Gone, Obj, dumps
from .tables import table, wants_table

if TYPE_CHECKING:
    from .sandbox import Sandbox

log = logging.getLogger("kubesandbox")

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "sandbox",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
           "compiler": "gc", "platform": "linux/amd64"}
BOOKMARK_SECONDS = 5.0
REVIEWS: dict[str, Obj] = {
    "SelfSubjectAccessReview": {"allowed": True, "reason": "sandbox: no authorization"},
    "SubjectAccessReview": {"allowed": True, "reason": "sandbox: no authorization"},
    "SelfSubjectRulesReview": {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                               "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                               "incomplete": False},
    "SelfSubjectReview": {"userInfo": {"username": "sandbox-admin",
                                       "groups": ["system:masters", "system:authenticated"]}},
}
MAX_BODY = 64 * 1024 * 1024
JSON = "application/json"


class Server(ThreadingHTTPServer):
    """Threaded HTTP server bound to loopback; watch threads are daemons so stop never hangs."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop every open connection, so a stopped sandbox serves nothing over keep-alive either."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server: Server
    server_version = "prjdevops-sandbox"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Without this every small response waits ~40 ms for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, unsupported method) as a Status too, not HTML."""
        body = dumps(ApiError(code, message or explain or self.responses.get(code, ("error",))[0]).status())
        self.close_connection = True
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    # --- plumbing -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "request entity too large", reason="RequestEntityTooLarge")
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: bytes, ctype: str = JSON, warnings: list[str] | None = None) -> None:
        self.send_response(code)
        for w in warnings or ():
            self.send_header("Warning", '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"')
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_obj(self, code: int, obj: Any, warnings: list[str] | None = None) -> None:
        self._send(code, dumps(obj), warnings=warnings)

    def _dispatch(self, method: str) -> None:
        sb = self.server.sandbox
        url = urlsplit(self.path)
        path = url.path
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send_obj(400, ApiError(400, "malformed request body framing").status())
            return
        except ApiError as e:
            self._send_obj(e.code, e.status())
            return
        try:
            if path.startswith("/sandbox/") or path == "/sandbox":
                self._control(method, path, body)
                return
            sb.count_request(method)
            for fault in sb.faults.for_request(method, path):
                if fault.kind == "latency":
                    time.sleep(fault.seconds)
                elif fault.kind == "error":
                    raise ApiError(fault.status, fault.message or f"sandbox injected fault: HTTP {fault.status}")
                elif fault.kind == "conflict":
                    raise ApiError(409, fault.message or "Operation cannot be fulfilled: the object has been "
                                   "modified; please apply your changes to the latest version and try again")
            self._route(method, path, params, body)
        except ApiError as e:
            self._send_obj(e.code, e.status())
        except UnsupportedKind as e:
            self._send_obj(415, ApiError(415, str(e)).status())
        except (ProtobufError, SelectorError, SandboxError) as e:
            self._send_obj(400, ApiError(400, str(e)).status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # keep serving; the log has the traceback, the wire gets a Status
            log.exception("internal error on %s %s", method, self.path)
            try:
                self._send_obj(500, ApiError(500, f"internal error: {type(e).__name__}: {e}").status())
            except OSError:
                self.close_connection = True

    # --- control API ----------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> None:
        sb = self.server.sandbox
        parts = [p for p in path.split("/") if p][1:]
        data = _json_body(body) if body else {}
        if parts == ["faults"]:
            if method == "GET":
                return self._send_obj(200, {"faults": sb.faults.list(),
                                            "fired": {str(k): v for k, v in sb.fault_counts().items()}})
            if method == "POST":
                if not isinstance(data, dict):
                    raise ApiError(400, "a fault must be a JSON object")
                fid = sb.faults.add(Fault.from_json(data))
                sb.controllers.kick()
                return self._send_obj(201, {"id": fid})
            if method == "DELETE":
                sb.faults.clear()
                sb.controllers.kick()
                return self._send_obj(200, {"faults": []})
            raise ApiError(405, f"{method} is not supported on /sandbox/faults")
        if len(parts) == 2 and parts[0] == "faults":
            if method != "DELETE":
                raise ApiError(405, f"{method} is not supported on /sandbox/faults/<id>")
            if not parts[1].isdigit() or not sb.faults.remove(int(parts[1])):
                raise ApiError(404, f"fault {parts[1]} not found")
            sb.controllers.kick()
            return self._send_obj(200, {"removed": int(parts[1])})
        if parts == ["controllers"]:
            if method == "POST":
                if not isinstance(data, dict):
                    raise ApiError(400, "expected a JSON object")
                for name in data.get("enable", []) if isinstance(data.get("enable"), list) else []:
                    sb.controllers.enable(str(name))
                for name in data.get("disable", []) if isinstance(data.get("disable"), list) else []:
                    sb.controllers.disable(str(name))
                for name, on in data.items():
                    if name not in ("enable", "disable"):
                        sb.controllers.set(str(name), bool(on))
            elif method != "GET":
                raise ApiError(405, f"{method} is not supported on /sandbox/controllers")
            return self._send_obj(200, sb.controllers.state())
        if parts == ["requests"] and method == "GET":
            return self._send_obj(200, sb.request_counts())
        if parts == ["save"] and method == "POST":
            sb.store.save()
            return self._send_obj(200, {"saved": str(sb.store.state_file) if sb.store.state_file else None})
        if parts == ["info"] and method == "GET":
            return self._send_obj(200, {"url": sb.url, "pid": os.getpid(),
                                        "resourceVersion": sb.store.resource_version,
                                        "stateFile": str(sb.store.state_file) if sb.store.state_file else None})
        raise ApiError(404, "the server could not find the requested resource")

    # --- routing --------------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict[str, str], body: bytes) -> None:
        api = self.server.sandbox.api
        reg = api.registry
        segs = [s for s in path.split("/") if s]
        if method in ("GET", "HEAD") and path in ("/version", "/version/"):
            return self._send_obj(200, VERSION)
        if method in ("GET", "HEAD") and segs and segs[0] in ("healthz", "livez", "readyz"):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if segs[:1] == ["openapi"]:
            if segs == ["openapi", "v2"] and method in ("GET", "HEAD"):
                # An empty document makes Helm/kubectl skip client-side schema validation.
                return self._send(200, b"", "application/octet-stream")
            if segs[:2] == ["openapi", "v3"] and method in ("GET", "HEAD"):
                return self._openapi_v3("/".join(segs[2:]))
            raise ApiError(404, "the server could not find the requested resource")
        if segs == ["api"]:
            self._only_get(method)
            return self._send_obj(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": f"127.0.0.1:{self.server.server_port}"}]})
        if segs == ["apis"]:
            self._only_get(method)
            groups = [_api_group(g, vs) for g, vs in reg.group_versions().items() if g]
            return self._send_obj(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if segs[:1] == ["api"] and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
            if version != "v1":
                raise ApiError(404, "the server could not find the requested resource")
        elif segs[:1] == ["apis"] and len(segs) >= 2:
            gvs = reg.group_versions()
            if segs[1] not in gvs:
                return self._page_not_found()
            if len(segs) == 2:
                self._only_get(method)
                return self._send_obj(200, {"kind": "APIGroup", "apiVersion": "v1",
                                            **_api_group(segs[1], gvs[segs[1]])})
            group, version, rest = segs[1], segs[2], segs[3:]
            if version not in gvs[segs[1]]:
                return self._page_not_found()
        else:
            raise ApiError(404, "the server could not find the requested resource")
        if not rest:
            self._only_get(method)
            resources = [d for rt in sorted(reg.resources(group, version), key=lambda r: r.plural)
                         for d in rt.discovery()]
            return self._send_obj(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": f"{group}/{version}" if group else version,
                                        "resources": resources})
        watch = False
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        rt = reg.lookup(group, version, rest[0])
        if rt is None:
            raise ApiError(404, "the server could not find the requested resource")
        if ns and not rt.namespaced:
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else ""
        if sub and sub not in rt.subresources and not (sub == "log" and rt.kind == "Pod") and not (
                sub == "finalize" and rt.kind == "Namespace"):
            raise ApiError(404, "the server could not find the requested resource")
        if watch or (method == "GET" and name is None and params.get("watch") in ("true", "1")):
            if method != "GET":
                raise ApiError(405, f"{method} is not allowed for watch")
            fs = params.get("fieldSelector")
            if name:
                fs = f"metadata.name={name}" + (f",{fs}" if fs else "")
            return self._watch(rt, ns, params, fs)
        if name is None:
            return self._collection(method, rt, ns, params, body)
        return self._item(method, rt, ns, name, sub, params, body)

    @staticmethod
    def _only_get(method: str) -> None:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")

    def _manager(self, params: dict[str, str]) -> str:
        """The field manager of an update: ``fieldManager``, else the User-Agent's product (as upstream)."""
        return (params.get("fieldManager") or self.headers.get("User-Agent", "").split("/")[0])[:128] or "unknown"

    def _crd_of(self, rt: ResourceType) -> Obj | None:
        """The CRD that defines ``rt`` (None for built-in kinds)."""
        for crd, _ in self.server.sandbox.store.scan(("apiextensions.k8s.io", "customresourcedefinitions")):
            spec = crd.get("spec") or {}
            if spec.get("group") == rt.group and (spec.get("names") or {}).get("plural") == rt.plural:
                return crd
        return None

    def _out(self, rt: ResourceType, obj: Obj) -> Obj:
        if obj.get("apiVersion") != rt.group_version:
            obj = dict(obj)
            obj["apiVersion"] = rt.group_version
        return obj

    def _raw_out(self, rt: ResourceType, obj: Obj, raw: bytes) -> bytes:
        return raw if obj.get("apiVersion") == rt.group_version else dumps(self._out(rt, obj))

    # --- collections ----------------------------------------------------------------------------

    def _collection(self, method: str, rt: ResourceType, ns: str, params: dict[str, str], body: bytes) -> None:
        api = self.server.sandbox.api
        dry = _dry_run(method, params)
        if method in ("GET", "HEAD"):
            return self._list(rt, ns, params)
        if method == "POST" and rt.kind in REVIEWS:
            # No authentication or authorization here: every review says yes (sandbox-admin can do all).
            # The answer does not depend on what is asked, so a protobuf question need not be decoded.
            ctype = self.headers.get("Content-Type", "")
            review = {} if body.startswith(b"k8s\x00") else self._parse(body, ctype)
            if not isinstance(review, dict):
                raise ApiError(400, "the request body must be an object")
            review.update({"kind": rt.kind, "apiVersion": rt.group_version, "status": REVIEWS[rt.kind]})
            review.setdefault("metadata", {})
            return self._send_obj(201, review)
        if method in ("GET", "HEAD") and rt.kind in REVIEWS:
            raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")
        if method == "POST":
            if rt.namespaced and not ns:
                raise ApiError(405, f"POST is not allowed on cluster-wide {rt.plural}; use a namespace")
            obj = self._parse(body, self.headers.get("Content-Type", ""))
            warnings: list[str] = []
            self._duplicates(rt, body, params, warnings)
            created = api.create(rt, ns, obj, dry_run=dry, field_validation=_field_validation(params),
                                 warnings=warnings, field_manager=self._manager(params))
            return self._send_obj(201, self._out(rt, created), warnings)
        if method == "DELETE":
            if "deletecollection" not in rt.verbs:
                raise ApiError(405, f"the server does not allow this method on the requested resource "
                                    f"({rt.plural})")
            ls = LabelSelector.parse(params.get("labelSelector"))
            fsel = FieldSelector.parse(params.get("fieldSelector"))
            opts = self._delete_options(body)
            deleted = []
            for obj, _ in self.server.sandbox.store.scan(rt.key, ns or None):
                if ls.matches(obj["metadata"].get("labels") or {}) and fsel.matches(obj):
                    gone, _ = api.delete(rt, ns or obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                                         opts, propagation=params.get("propagationPolicy"), dry_run=dry,
                                         admit=True)
                    deleted.append(self._out(rt, gone))
            rv = str(self.server.sandbox.store.resource_version)
            return self._send_obj(200, {"kind": rt.list_kind, "apiVersion": rt.group_version,
                                        "metadata": {"resourceVersion": rv},
                                        "items": deleted})
        raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")

    def _list(self, rt: ResourceType, ns: str, params: dict[str, str]) -> None:
        store = self.server.sandbox.store
        _check_list_options(params)
        ls = LabelSelector.parse(params.get("labelSelector"))
        fsel = _field_selector(rt, params.get("fieldSelector"))
        with store.lock:
            rv = store.resource_version
            matching = [(o, raw) for o, raw in store.scan(rt.key, ns or None)
                        if (ls.empty or ls.matches(o["metadata"].get("labels") or {})) and fsel.matches(o)]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        start = 0
        if params.get("continue"):
            try:
                tok = json.loads(base64.urlsafe_b64decode(params["continue"].encode()))
                start, rv = int(tok["o"]), int(tok["rv"])
                meta["resourceVersion"] = str(rv)
            except (ValueError, KeyError, TypeError) as e:
                raise ApiError(400, "invalid continue token") from e
        limit = int(params["limit"]) if params.get("limit", "").isdigit() else 0
        end = len(matching) if limit <= 0 else start + limit
        page_objs = matching[start:end]
        if end < len(matching):
            meta["continue"] = base64.urlsafe_b64encode(dumps({"o": end, "rv": rv})).decode()
            meta["remainingItemCount"] = len(matching) - end
        if wants_table(self.headers.get("Accept", "")):
            return self._send_obj(200, table(rt.group, rt.kind, [o for o, _ in page_objs], meta,
                                             crd=self._crd_of(rt), version=rt.version))
        page = [self._raw_out(rt, o, raw) for o, raw in page_objs]
        head = dumps({"kind": rt.list_kind, "apiVersion": rt.group_version, "metadata": meta})
        self._send(200, head[:-1] + b',"items":[' + b",".join(page) + b"]}")

    # --- items ----------------------------------------------------------------------------------

    def _item(self, method: str, rt: ResourceType, ns: str, name: str, sub: str, params: dict[str, str],
              body: bytes) -> None:
        sb = self.server.sandbox
        api = sb.api
        dry = _dry_run(method, params)
        if rt.namespaced and not ns:
            raise ApiError(404, "the server could not find the requested resource")
        if sub == "log":
            if method != "GET":
                raise ApiError(405, "only GET is allowed on pods/log")
            api.get(rt, ns, name)
            return self._send(200, b"", "text/plain")
        if sub == "scale":
            return self._scale(method, rt, ns, name, params, body)
        if method in ("GET", "HEAD"):
            with sb.store.lock:
                obj = sb.store.peek(rt.key, ns, name)
                raw = sb.store.raw(rt.key, ns, name)
            if obj is None or raw is None:
                raise not_found(rt, name)
            if wants_table(self.headers.get("Accept", "")):
                return self._send_obj(200, table(rt.group, rt.kind, [obj],
                                                 {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                                 crd=self._crd_of(rt), version=rt.version))
            return self._send(200, self._raw_out(rt, obj, raw))
        if method == "PUT":
            obj = self._parse(body, self.headers.get("Content-Type", ""))
            if sub == "finalize":
                sub = ""
            warnings: list[str] = []
            self._duplicates(rt, body, params, warnings)
            updated = api.update(rt, ns, name, obj, subresource=sub, dry_run=dry,
                                 field_validation=_field_validation(params), warnings=warnings,
                                 field_manager=self._manager(params))
            return self._send_obj(200, self._out(rt, updated), warnings)
        if method == "PATCH":
            ctype = self.headers.get("Content-Type", "")
            patch = self._parse(body, ctype, patch=True)
            warnings = []
            self._duplicates(rt, body, params, warnings)
            is_apply = ctype.split(";")[0].strip().lower() == "application/apply-patch+yaml"

            obj, created = api.patch(rt, ns, name, ctype, patch, subresource=sub,
                                     field_manager=params.get("fieldManager") if is_apply else self._manager(params),
                                     force=params.get("force") == "true", dry_run=dry,
                                     field_validation=_field_validation(params), warnings=warnings)
            return self._send_obj(201 if created else 200, self._out(rt, obj), warnings)
        if method == "DELETE":
            if sub:
                raise ApiError(405, "DELETE is not allowed on a subresource")
            opts = self._delete_options(body)
            policy = params.get("propagationPolicy")
            if params.get("gracePeriodSeconds") is not None:
                opts.setdefault("gracePeriodSeconds", params["gracePeriodSeconds"])
            obj, pending = api.delete(rt, ns, name, opts, propagation=policy, dry_run=dry, admit=True)
            if rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions" and not pending:
                # kube-apiserver keeps the CRD (finalizer customresourcecleanup) until its objects are gone;
                # the sandbox cleans up at once but answers as the real server does.
                obj["metadata"].setdefault("deletionTimestamp", now())
                obj["metadata"].setdefault("finalizers", ["customresourcecleanup.apiextensions.k8s.io"])
                return self._send_obj(200, self._out(rt, obj))
            if pending or dry or (rt.group, rt.plural) in RETURN_DELETED:
                return self._send_obj(200, self._out(rt, obj))
            return self._send_obj(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success",
                                        "details": {"name": name, "group": rt.group, "kind": rt.plural,
                                                    "uid": obj["metadata"].get("uid")}})
        raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")

    def _openapi_v3(self, key: str) -> None:
        """The index (``/openapi/v3``) or one group-version's document (JSON only)."""
        reg = self.server.sandbox.api.registry
        docs = self.server.sandbox.openapi
        crds: dict[str, tuple[str, str, list[Obj]]] = {}
        for crd, _ in self.server.sandbox.store.scan(("apiextensions.k8s.io", "customresourcedefinitions")):
            spec = crd.get("spec") or {}
            for ver in spec.get("versions") or []:
                if ver.get("served", True):
                    k = openapi.gv_key(str(spec.get("group", "")), str(ver.get("name", "")))
                    crds.setdefault(k, (str(spec.get("group", "")), str(ver.get("name", "")), []))[2].append(crd)

        def one(k: str) -> tuple[bytes, str] | None:
            if k in crds:
                g, v, items = crds[k]
                return docs.custom(k, g, v, items)
            return docs.builtin(k)

        if not key:
            entries: dict[str, str] = {}
            for group, versions in reg.group_versions().items():
                for v in versions:
                    k = openapi.gv_key(group, v)
                    got = one(k)
                    if got is not None:
                        entries[k] = got[1]
            return self._send_obj(200, openapi.index(entries))
        accept = self.headers.get("Accept", "") or "*/*"
        if "json" not in accept and "*/*" not in accept:
            raise ApiError(406, f'only the following media types are accepted: application/json (got "{accept}")')
        got = one(key)
        if got is None:
            return self._page_not_found()
        return self._send(200, got[0])

    def _page_not_found(self) -> None:
        """What kube-apiserver's mux answers for a path no API group serves: plain text, not a Status."""
        return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _scale(self, method: str, rt: ResourceType, ns: str, name: str, params: dict[str, str],
               body: bytes) -> None:
        api = self.server.sandbox.api
        obj = api.get(rt, ns, name)

        def scale_of(o: Obj) -> Obj:
            spec: Obj = o["spec"] if isinstance(o.get("spec"), dict) else {}
            status: Obj = o["status"] if isinstance(o.get("status"), dict) else {}
            selector = spec.get("selector")
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": name, "namespace": ns, "uid": o["metadata"]["uid"],
                                 "resourceVersion": o["metadata"]["resourceVersion"],
                                 "creationTimestamp": o["metadata"].get("creationTimestamp")},
                    "spec": {"replicas": _as_int(spec.get("replicas"), 1)},
                    "status": {"replicas": _as_int(status.get("replicas"), 0),
                               "selector": selector_string(selector) if isinstance(selector, dict) else ""}}
        if method == "GET":
            return self._send_obj(200, scale_of(obj))
        if method not in ("PUT", "PATCH"):
            raise ApiError(405, f"{method} is not allowed on the scale subresource")
        current = scale_of(obj)
        ctype = self.headers.get("Content-Type", "")
        data = self._parse(body, ctype, patch=method == "PATCH")
        if method == "PUT":
            new_scale = data
            meta = data.get("metadata") if isinstance(data, dict) else None
            rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
        else:
            ct = ctype.split(";")[0].strip()
            try:
                new_scale = json_patch(current, data) if ct == "application/json-patch+json" else merge_patch(
                    current, data)
            except PatchError as e:
                raise ApiError(422, str(e)) from e
        spec = new_scale.get("spec") if isinstance(new_scale, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise ApiError(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: Required value: '
                                "an integer", details={"name": name, "group": "autoscaling", "kind": "Scale",
                                                       "causes": [{"reason": "FieldValueRequired", "field":
                                                                   "spec.replicas", "message": "Required value"}]})
        if replicas < 0:
            err = FieldError("FieldValueInvalid", "spec.replicas", replicas, "must be greater than or equal to 0")
            message, details = invalid_status("Scale", "autoscaling", name, [err])
            raise ApiError(422, message, details=details)
        obj.setdefault("spec", {})["replicas"] = replicas
        updated = api.update(rt, ns, name, obj, check_rv=False,
                             op=Op(self._manager(params), "Update", rt.group_version, "scale"))
        return self._send_obj(200, scale_of(updated))

    # --- watch ----------------------------------------------------------------------------------

    def _watch(self, rt: ResourceType, ns: str, params: dict[str, str], fs: str | None) -> None:
        store = self.server.sandbox.store
        ls = LabelSelector.parse(params.get("labelSelector"))
        fsel = _field_selector(rt, fs)
        rv_param = params.get("resourceVersion", "")
        send_initial = params.get("sendInitialEvents") == "true"
        bookmarks = params.get("allowWatchBookmarks") == "true"
        try:
            timeout = float(params.get("timeoutSeconds") or 1800)
        except ValueError as e:
            raise ApiError(400, "timeoutSeconds must be a number") from e


        def wanted(o: Obj) -> bool:
            meta = o["metadata"]
            if ns and meta.get("namespace") != ns:
                return False
            return (ls.empty or ls.matches(meta.get("labels") or {})) and fsel.matches(o)

        as_table = wants_table(self.headers.get("Accept", ""))
        crd = self._crd_of(rt) if as_table else None
        first_row = [True]

        def render(o: Obj, raw: bytes) -> bytes:
            if not as_table:
                return self._raw_out(rt, o, raw)
            # Like the real server: column definitions only on the first row of the stream.
            t = table(rt.group, rt.kind, [o], {"resourceVersion": o["metadata"]["resourceVersion"]},
                      with_columns=first_row[0], crd=crd, version=rt.version)
            first_row[0] = False
            return dumps(t)

        initial: list[tuple[Obj, bytes]] = []
        with store.lock:
            current = store.resource_version
            if send_initial or (rv_param in ("", "0") and params.get("sendInitialEvents") != "false"):
                initial = [(o, raw) for o, raw in store.scan(rt.key, ns or None) if wanted(o)]
                start = current
            else:
                try:
                    start = int(rv_param)
                except ValueError as e:
                    raise ApiError(400, f"invalid resourceVersion {rv_param!r}") from e
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True

        def emit(etype: str, raw: bytes) -> None:
            line = b'{"type":"' + etype.encode() + b'","object":' + raw + b"}\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        def bookmark(rv: int, initial_end: bool = False) -> None:
            meta: Obj = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            emit("BOOKMARK", dumps({"kind": rt.kind, "apiVersion": rt.group_version, "metadata": meta}))

        try:
            for o, raw in initial:
                emit("ADDED", render(o, raw))
            if send_initial:
                bookmark(start, initial_end=True)
            deadline = time.monotonic() + timeout
            last_emit = time.monotonic()
            drop = self.server.sandbox.faults.watch_drop(urlsplit(self.path).path)
            drop_at = None if drop is None else time.monotonic() + drop
            while not self.server.stopping.is_set():
                if drop_at is not None and time.monotonic() >= drop_at:
                    self.close_connection = True
                    return  # cut mid-stream: no end of the chunked body
                left = deadline - time.monotonic()
                if drop_at is not None:
                    left = min(left, max(0.01, drop_at - time.monotonic()))
                if left <= 0:
                    break
                try:
                    events = store.events_after(start, min(left, 1.0))
                except Gone as e:
                    emit("ERROR", dumps(ApiError(410, str(e), reason="Expired").status()))
                    break
                for ev in events:
                    start = ev.rv
                    if ev.key != rt.key:
                        continue
                    etype = ev.type
                    now_in = wanted(ev.obj)
                    if etype == "MODIFIED" and ev.old is not None:
                        was_in = wanted(ev.old)
                        # Leaving or entering a selector reads as DELETED/ADDED, as upstream.
                        etype = ("MODIFIED" if was_in else "ADDED") if now_in else ("DELETED" if was_in else "")
                    elif not now_in:
                        etype = ""
                    if etype:
                        emit(etype, render(ev.obj, ev.raw))
                        last_emit = time.monotonic()
                if bookmarks and time.monotonic() - last_emit >= BOOKMARK_SECONDS:
                    bookmark(start)
                    last_emit = time.monotonic()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        except Exception:  # headers are out: end the stream (the client re-watches) rather than corrupt it
            log.exception("watch of %s failed", rt.plural)

    # --- bodies ---------------------------------------------------------------------------------

    def _parse(self, body: bytes, ctype: str, patch: bool = False) -> Any:
        ct = ctype.split(";")[0].strip().lower()
        if not body:
            raise ApiError(400, "the request body is empty")
        if ct == "application/vnd.kubernetes.protobuf":
            return decode_protobuf(body)
        if ct in ("application/yaml", "application/apply-patch+yaml", "application/x-yaml", "text/yaml"):
            try:
                return json.loads(body)
            except ValueError:
                try:
                    return _string_keys(yaml.load(body, Loader=GoYamlLoader))  # a SafeLoader subclass
                except yaml.YAMLError as e:
                    raise ApiError(400, f"error decoding YAML: {str(e).splitlines()[0]}") from e
        if ct not in ("", JSON, "*/*") and not (patch and ct.endswith("json")):
            raise ApiError(415, f"the body of the request was in an unknown format - accepted media types "
                                f"include: application/json, application/yaml, "
                                f"application/vnd.kubernetes.protobuf (got {ct})")
        return _json_body(body)

    def _duplicates(self, rt: ResourceType, body: bytes, params: dict[str, str], warnings: list[str]) -> None:
        """Strict decoding refuses a JSON object key given twice (400); Warn reports it."""
        if body[:1] not in (b"{", b" ", b"\n") or body.startswith(b"k8s\x00"):
            return
        dups = duplicate_fields(body)
        if not dups:
            return
        mode = _field_validation(params)
        listed = ", ".join(f'duplicate field "{d}"' for d in dups)
        if mode == "Strict":
            raise ApiError(400, f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                f"strict decoding error: {listed}")
        if mode == "Warn":
            warnings.extend(f'duplicate field "{d}"' for d in dups)

    def _delete_options(self, body: bytes) -> Obj:
        if not body:
            return {}
        if body.startswith(b"k8s\x00"):
            return decode_protobuf(body)
        opts = _json_body(body)
        if not isinstance(opts, dict):
            raise ApiError(400, "DeleteOptions must be an object")
        return opts


def _as_int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class GoYamlLoader(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml (go-yaml v2) reads it: ``y``/``n`` are booleans too (YAML 1.1)."""


GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"))
def _string_keys(value: Any) -> Any:
    """YAMLToJSON: map keys become strings (``true``, ``1``), as JSON needs."""
    if isinstance(value, dict):
        return {(json.dumps(k) if not isinstance(k, str) else k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _go_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node)).lower() in ("y", "yes", "true", "on")


GoYamlLoader.add_constructor("tag:yaml.org,2002:bool", _go_bool)


# Kinds whose REST storage sets ReturnDeletedObject (kube-apiserver answers a DELETE with the object, not a
# Status; the typed clients decode it as the kind).
RETURN_DELETED = frozenset({
    ("", "pods"), ("", "services"), ("", "namespaces"), ("", "persistentvolumes"), ("", "persistentvolumeclaims"),
    ("", "serviceaccounts"), ("", "resourcequotas"), ("", "podtemplates"), ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "csidrivers"), ("storage.k8s.io", "csinodes"), ("storage.k8s.io", "volumeattachments"),
    ("storage.k8s.io", "volumeattributesclasses")})


_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                 "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                 "reason", "reportingComponent", "source", "type")
# Field labels each built-in kind supports besides metadata.name/metadata.namespace (the registries' GetAttrs).
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    ("", "events"): _EVENT_FIELDS,
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "replicationcontrollers"): ("status.replicas",),
    ("apps", "replicasets"): ("status.replicas",),
    ("batch", "jobs"): ("status.successful",),
    ("", "services"): ("spec.clusterIP", "spec.type"),
    ("certificates.k8s.io", "certificatesigningrequests"): ("spec.signerName",),
}


def _field_selector(rt: ResourceType, expr: str | None) -> FieldSelector:
    """Parse a fieldSelector, refusing (400) field labels the kind does not support, as the real server does."""
    fsel = FieldSelector.parse(expr)
    if rt.group not in _CORE_AND_BUILTIN or rt.group == "events.k8s.io":
        return fsel  # custom resources may declare selectableFields: not checked here
    allowed = {"metadata.name", "metadata.namespace", *FIELD_LABELS.get((rt.group, rt.plural), ())}
    for path, _, _ in fsel.terms:
        if path not in allowed:
            raise ApiError(400, f'"{path}" is not a known field selector: only "metadata.name", '
                                f'"metadata.namespace"' + "".join(f', "{a}"' for a in
                                                                   FIELD_LABELS.get((rt.group, rt.plural), ())))
    return fsel


def _options_invalid(kind: str, errs: list[FieldError]) -> ApiError:
    message, details = invalid_status(kind, "meta.k8s.io", "", errs)
    return ApiError(422, message, details=details)


def _dry_run(method: str, params: dict[str, str]) -> bool:
    """``dryRun`` may only be ``All`` (CreateOptions/UpdateOptions/PatchOptions/DeleteOptions validation)."""
    value = params.get("dryRun")
    if value is None or value == "":
        return False
    if value != "All" and method in ("POST", "PUT", "PATCH", "DELETE"):
        kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions",
                "DELETE": "DeleteOptions"}[method]
        raise _options_invalid(kind, [FieldError("FieldValueNotSupported", "dryRun", [value],
                                                 'supported values: "All"')])
    return True


def _check_list_options(params: dict[str, str]) -> None:
    """ListOptions validation: ``resourceVersionMatch`` needs a ``resourceVersion`` and a known value."""
    match = params.get("resourceVersionMatch")
    if not match:
        return
    errs = []
    if match not in ("Exact", "NotOlderThan"):
        errs.append(FieldError("FieldValueNotSupported", "resourceVersionMatch", match,
                               'supported values: "Exact", "NotOlderThan", ""'))
    elif not params.get("resourceVersion") and not params.get("sendInitialEvents"):
        errs.append(FieldError("FieldValueForbidden", "resourceVersionMatch", "",
                               "resourceVersionMatch is forbidden unless resourceVersion is provided"))
    elif match == "Exact" and params.get("resourceVersion") == "0":
        errs.append(FieldError("FieldValueForbidden", "resourceVersionMatch", "",
                               "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""))
    if errs:
        raise _options_invalid("ListOptions", errs)


def duplicate_fields(body: bytes) -> list[str]:
    """Object keys given twice in a JSON body (``spec.a``), which strict decoding refuses."""
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                found.append(k)
            seen.add(k)
        return dict(pairs)

    try:
        json.loads(body, object_pairs_hook=hook)
    except ValueError:
        return []
    return found


def _field_validation(params: dict[str, str]) -> str:
    mode = params.get("fieldValidation") or "Warn"
    if mode not in ("Ignore", "Warn", "Strict"):
        raise _options_invalid("CreateOptions", [FieldError(
            "FieldValueNotSupported", "fieldValidation", mode, 'supported values: "Ignore", "Strict", "Warn"')])
    return mode


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"error decoding request body as JSON: {e}") from e


def _api_group(group: str, versions: list[str]) -> Obj:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def make_server(sandbox: Sandbox, host: str, port: int) -> Server:
    return Server((host, port), sandbox)


__all__ = ["Api", "Handler", "Server", "make_server"]
