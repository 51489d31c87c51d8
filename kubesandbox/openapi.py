"""``/openapi/v3``: the index and one document per group-version, for kubectl (explain, apply's
fieldValidation support check) and other clients.

Built-in group-versions are served from kube-apiserver v1.36.3's own published documents
(``api/openapi-spec/v3`` of k8s.io/kubernetes, Apache-2.0), vendored xz-compressed in ``data/``; custom
resources get documents built from their CRD's ``openAPIV3Schema``, like apiextensions-apiserver builds them.
Rebuild the vendored file with ``python -m kubesandbox.openapi <k8s.io/kubernetes checkout>/api/openapi-spec/v3``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import lzma
import sys
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
DATA = Path(__file__).parent / "data" / "openapi-v3-k8s-1.36.3.json.xz"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def builtin_docs() -> dict[str, Doc]:
    """``{"api/v1": doc, "apis/apps/v1": doc, ...}`` (empty if the data file is missing)."""
    try:
        raw = lzma.decompress(DATA.read_bytes())
    except OSError:
        return {}
    docs: dict[str, Doc] = json.loads(raw)
    return docs


def gv_key(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def doc_bytes(doc: Doc) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def doc_hash(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest().upper()


def index(entries: dict[str, str]) -> Doc:
    """The ``/openapi/v3`` discovery document from ``{gv key: hash}``."""
    return {"paths": {k: {"serverRelativeURL": f"/openapi/v3/{k}?hash={h}"} for k, h in sorted(entries.items())}}


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[-1])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def _closure(schemas: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    todo, seen = list(roots), {}
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen[name] = schemas[name]
        found: set[str] = set()
        _refs(schemas[name], found)
        todo.extend(found - set(seen))
    return seen


def _reversed_group(group: str) -> str:
    return ".".join(reversed(group.split(".")))


def crd_doc(group: str, version: str, crds: list[Doc]) -> Doc:
    """An OpenAPI v3 document for the custom resources of one group-version."""
    from .schema import version_schema

    meta_source = builtin_docs().get("apis/apps/v1", {}).get("components", {}).get("schemas", {})
    schemas: dict[str, Any] = dict(_closure(meta_source, [_META, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"]))
    paths: dict[str, Any] = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        kind, plural = str(names.get("kind", "")), str(names.get("plural", ""))
        gvk: list[Doc] = [{"group": group, "kind": kind, "version": version}]
        sch = copy.deepcopy(version_schema(crd, version) or {"type": "object",
                                                                "x-kubernetes-preserve-unknown-fields": True})
        props = sch.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                                                  "representation of an object."}
        props["kind"] = {"type": "string", "description": "Kind is a string value representing the REST resource "
                                                            "this object represents."}
        props["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{_META}"}], "default": {},
                             "description": "Standard object's metadata."}
        sch["x-kubernetes-group-version-kind"] = gvk
        name = f"{_reversed_group(group)}.{version}.{kind}"
        schemas[name] = sch
        ref = {"$ref": f"#/components/schemas/{name}"}
        ok: Doc = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        write_params: list[Doc] = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                        for n in ("dryRun", "fieldManager", "fieldValidation")]
        base = f"/apis/{group}/{version}"
        prefix = f"{base}/namespaces/{{namespace}}/{plural}" if spec.get("scope", "Namespaced") == "Namespaced" \
            else f"{base}/{plural}"

        def op(verb: str, params: list[Doc], gvk: Doc = gvk[0], ok: Doc = ok, kind: str = kind,
               plural: str = plural) -> Doc:
            return {"operationId": f"{verb}{kind}", "responses": ok, "parameters": params,
                    "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk,
                    "tags": [f"{group}_{version}"], "description": f"{verb} {plural}"}

        patch_params: list[Doc] = [*write_params, {"name": "force", "in": "query", "schema": {"type": "boolean"}}]
        paths[prefix] = {"get": op("list", []), "post": op("post", write_params)}
        paths[f"{prefix}/{{name}}"] = {"get": op("get", []), "put": op("put", write_params),
                                       "patch": op("patch", patch_params), "delete": op("delete", [])}
        served: Doc = next((v for v in spec.get("versions") or [] if v.get("name") == version), {})
        if "status" in (served.get("subresources") or {}):
            paths[f"{prefix}/{{name}}/status"] = {"get": op("get", []), "put": op("put", write_params),
                                                  "patch": op("patch", patch_params)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
            "paths": paths, "components": {"schemas": schemas}}


def _build(spec_dir: str, gvs: list[tuple[str, str]], out: Path) -> None:
    docs = {}
    for group, version in gvs:
        fname = (f"api__{version}" if not group else f"apis__{group}__{version}") + "_openapi.json"
        docs[gv_key(group, version)] = json.loads((Path(spec_dir) / fname).read_text())
    out.write_bytes(lzma.compress(doc_bytes(docs), preset=9 | lzma.PRESET_EXTREME))


if __name__ == "__main__":  # python -m kubesandbox.openapi <openapi-spec/v3 dir>
    from .resources import Registry

    served = sorted({(g, v) for g, vs in Registry().group_versions().items() for v in vs})
    _build(sys.argv[1], served, DATA)
    print(f"wrote {DATA} ({DATA.stat().st_size} bytes) for {len(served)} group-versions")


class Documents:
    """Serialized documents and their hashes: built-ins once, custom resources per CRD change."""

    def __init__(self) -> None:
        self._builtin: dict[str, tuple[bytes, str]] = {}
        self._crd: dict[str, tuple[tuple[str, ...], bytes, str]] = {}

    def builtin(self, key: str) -> tuple[bytes, str] | None:
        if key not in self._builtin:
            doc = builtin_docs().get(key)
            if doc is None:
                return None
            data = doc_bytes(doc)
            self._builtin[key] = (data, doc_hash(data))
        return self._builtin[key]

    def custom(self, key: str, group: str, version: str, crds: list[Doc]) -> tuple[bytes, str]:
        stamp = tuple(sorted(f"{c['metadata'].get('name')}@{c['metadata'].get('resourceVersion')}" for c in crds))
        cached = self._crd.get(key)
        if cached is None or cached[0] != stamp:
            data = doc_bytes(crd_doc(group, version, crds))
            cached = (stamp, data, doc_hash(data))
            self._crd[key] = cached
        return cached[1], cached[2]
