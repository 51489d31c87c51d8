"""Values layering and secret redaction (pure, apart from reading the files named).

Order, later wins: chart defaults (Helm applies them itself) -> each values file of the release, in the order
the environment lists them -> extra ``--values`` files -> environment ``set:`` -> ``--set`` on the command line
-> secrets read from environment variables / files. Mappings merge key by key; **lists replace** (like Helm):
a list in a later layer is taken whole, never appended to. ``null`` removes a key: it is passed to Helm, which
deletes the key from the chart's defaults as well.
"""

from __future__ import annotations

import base64
import copy
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prjdevops.errors import ConfigError, ValuesError
from prjdevops.model import Release
from prjdevops.yamlio import read_yaml

REDACTED = "***REDACTED***"
# Keys whose values are secret wherever they appear, in addition to everything under `secrets:`.
# A word boundary is a separator or a camelCase hump (`rootPassword`, `clientSecret`: common in charts).
SECRET_KEY = re.compile(r"(^|[_.-]|(?-i:(?<=[a-z0-9])(?=[A-Z])))"
                        r"(password|passwd|secret|token|apikey|api[_-]key|private[_-]?key)$", re.I)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: mappings recurse, lists and scalars replace.

    ``None`` is kept (not dropped) so it reaches Helm, which then deletes that key from the chart's defaults too —
    the same as ``helm -f a.yaml -f b.yaml`` with ``key: null`` in ``b.yaml``.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in data.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            yield from _leaves(v, path)
        else:
            yield path, v


def scalars(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every value inside mappings and lists that is neither, by dotted path; list items as ``path[i]`` (pure)."""
    if isinstance(data, Mapping):
        for k, v in data.items():
            yield from scalars(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from scalars(v, f"{prefix}[{i}]")
    else:
        yield prefix, data


def non_finite(data: Any) -> Iterator[tuple[str, float]]:
    """Every float that is infinite or NaN (YAML's ``.inf``, ``.nan``, ``1e400``), by path (pure): Helm's values
    travel as JSON, which has neither."""
    return ((path, v) for path, v in scalars(data) if isinstance(v, float) and not math.isfinite(v))


def out_of_int64(data: Any) -> Iterator[str]:
    """The paths of integers outside the 64-bit range (pure): JSON/Go turn them into floats (1e+29)."""
    return (path for path, v in scalars(data)
            if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63)


def get_path(data: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


@dataclass
class LayeredValues:
    """The user-supplied values for one release, where each leaf came from, and which leaves are secret."""

    values: dict[str, Any]
    sources: dict[str, str]  # dotted key -> the layer that set it last (file path or "--set")
    secret_paths: set[str] = field(default_factory=set)
    secret_strings: set[str] = field(default_factory=set)

    def source_of(self, dotted: str) -> str:
        """The layer that set ``dotted`` (or its closest parent)."""
        key = dotted
        while key:
            if key in self.sources:
                return self.sources[key]
            # a list item (``ports[0].n``) was set with its list (``ports``), a leaf of the layer
            key = key.rpartition("[")[0] if key.endswith("]") else key.rpartition(".")[0]
        return "the chart's defaults"

    def redactor(self) -> Redactor:
        r = Redactor()
        for s in self.secret_strings:
            r.add(s)
        for path, value in _leaves(self.values):
            if is_secret_path(path) or path in self.secret_paths:
                r.add(value)
        return r


def is_secret_path(dotted: str) -> bool:
    return dotted == "secrets" or dotted.startswith("secrets.") or bool(SECRET_KEY.search(dotted))


def load_values_file(path: Path) -> dict[str, Any]:
    data = read_yaml(path, what="values file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesError(f"values file {path} must hold a mapping at the top level, not a {type(data).__name__}")
    return data


def layer(release: Release, *, extra_files: Iterable[Path] = (), sets: Iterable[str] = (),
          parse_set: Any = None, environ: Mapping[str, str] | None = None) -> LayeredValues:
    """Compute one release's user-supplied values from its layers (see module doc for the order).

    ``parse_set`` turns one ``key=value`` expression into a nested dict (the Helm adapter's parser in
    production; injected so this module stays pure and table-testable).
    """
    if parse_set is None:
        from prjdevops.adapters.helm import parse_set as helm_parse_set

        parse_set = helm_parse_set
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def apply(layer_values: Mapping[str, Any], source: str) -> None:
        nonlocal merged
        merged = deep_merge(merged, layer_values)
        for path, _ in _leaves(layer_values):
            sources[path] = source
            # parents too: a schema error on a mapping ("resources") must name the layer, not the defaults
            parent = path.rpartition(".")[0]
            while parent:
                sources[parent] = source
                parent = parent.rpartition(".")[0]

    for f in (*release.values_files, *extra_files):
        apply(load_values_file(Path(f)), str(f))
    for expr in release.set_values:
        apply(parse_set(expr), "environment set: " + expr.split("=", 1)[0])
    for expr in sets:
        apply(parse_set(expr), "--set " + expr.split("=", 1)[0])
    result = LayeredValues(values=merged, sources=sources)
    for sec in release.secrets:
        if sec.env is not None:
            if sec.env not in environ:
                raise ConfigError(f"release {release.name!r}: secret {sec.path} reads environment variable "
                                  f"{sec.env}, which is not set", hint=f"export {sec.env}=... before deploying")
            value = environ[sec.env]
            origin = f"${sec.env}"
        else:
            assert sec.file is not None
            try:
                value = Path(sec.file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as e:
                reason = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
                raise ConfigError(f"release {release.name!r}: secret {sec.path} file {sec.file} cannot be "
                                  f"read: {reason}") from e
            origin = str(sec.file)
        set_path(result.values, sec.path, value)
        result.sources[sec.path] = origin
        result.secret_paths.add(sec.path)
        result.secret_strings.add(value)
    return result


class Redactor:
    """Replaces known secret strings (and their base64 forms, as they sit in Secret manifests) in any text."""

    def __init__(self) -> None:
        self._needles: set[str] = set()

    def add(self, value: Any) -> None:
        if isinstance(value, Mapping):
            for _, v in _leaves(value):
                self.add(v)
            return
        if isinstance(value, list):
            for v in value:
                self.add(v)
            return
        if value is None or isinstance(value, bool):
            return
        text = str(value)
        if len(text) < 4:  # redacting "1" or "yes" everywhere would destroy output and hide nothing
            return
        self._needles.add(text)
        self._needles.add(base64.b64encode(text.encode()).decode())
        if "\n" in text:
            # a multi-line secret (a PEM key read from a file) is dumped as an indented YAML block, one line
            # at a time: the whole string never matches there, each line does
            for line in text.splitlines():
                if len(line.strip()) >= 4:
                    self._needles.add(line.strip())

    def add_secrets_of(self, values: Mapping[str, Any]) -> Redactor:
        """Also redact what ``values`` (e.g. a live release's) holds under secret keys (``secrets.*``, password...)."""
        for path, value in _leaves(values):
            if is_secret_path(path):
                self.add(value)
        return self

    def merge(self, other: Redactor) -> Redactor:
        self._needles |= other._needles
        return self

    def text(self, text: str) -> str:
        for needle in sorted(self._needles, key=len, reverse=True):
            text = text.replace(needle, REDACTED)
        return text

    def values(self, data: Any, prefix: str = "") -> Any:
        """A copy of ``data`` with secret keys' values replaced."""
        if isinstance(data, Mapping):
            out: dict[Any, Any] = {}
            for k, v in data.items():
                path = f"{prefix}.{k}" if prefix else str(k)
                if is_secret_path(path) and not isinstance(v, Mapping):
                    out[k] = REDACTED
                elif is_secret_path(path):
                    out[k] = {kk: REDACTED for kk in v}
                else:
                    out[k] = self.values(v, path)
            return out
        if isinstance(data, list):
            return [self.values(v, prefix) for v in data]
        if isinstance(data, str):
            return self.text(data)
        return data


# --- keys the chart does not know (typos) ---------------------------------------------------------------------


def _resolve(schema: Any, root: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A schema node with a local ``$ref`` (``#/definitions/x``, ``#/$defs/x``) followed."""
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 16:
        ref = schema["$ref"]
        if not ref.startswith("#/") or root is None:
            return None
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, Mapping) else None
        schema, seen = node, seen + 1
    return schema if isinstance(schema, Mapping) else None


def _schema_allows(schema: Mapping[str, Any] | None, key: str, root: Mapping[str, Any] | None
                   ) -> tuple[bool, Mapping[str, Any] | None]:
    """(allowed, the key's sub-schema) at one level of a JSON schema; ``None`` schema: no opinion."""
    schema = _resolve(schema, root)
    if schema is None:
        return False, None
    props = schema.get("properties")
    if isinstance(props, Mapping) and key in props:
        return True, _resolve(props[key], root)
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        if re.search(pattern, key):
            return True, _resolve(sub, root)
    extra = schema.get("additionalProperties")
    if extra is True or isinstance(extra, Mapping):
        return True, _resolve(extra, root) if isinstance(extra, Mapping) else None
    for combo in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(combo) or []:
            allowed, sub = _schema_allows(branch, key, root)
            if allowed:
                return True, sub
    return False, None


def unknown_keys(values: Mapping[str, Any], defaults: Mapping[str, Any], schema: Mapping[str, Any] | None,
                 prefix: str = "", root: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """Keys of ``values`` the chart neither has in its values.yaml (``defaults``, subcharts' included) nor allows
    in its values.schema.json: ``[(dotted key, nearest known key or "")]``. Beneath a default that is not a
    mapping with keys (``annotations: {}``, ``resources: {}``, a list, null) anything goes, as in the chart; so it
    does where the schema allows any key (``additionalProperties``, ``patternProperties``)."""
    import difflib

    root = root if root is not None else schema
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        key = str(key)
        path = f"{prefix}.{key}" if prefix else key
        if key == "global" and not prefix:
            continue  # Helm's shared values: every chart may read them
        in_defaults = key in defaults
        allowed, sub_schema = _schema_allows(schema, key, root)
        if not in_defaults and not allowed:
            level = _resolve(schema, root) or {}
            known = [str(k) for k in defaults] + [str(k) for k in (level.get("properties") or {})]
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            out.append((path, f"{prefix}.{near[0]}" if near and prefix else near[0] if near else ""))
            continue
        if not isinstance(value, Mapping):
            continue
        if sub_schema is not None and (sub_schema.get("additionalProperties") not in (None, False)
                                       or sub_schema.get("patternProperties")):
            continue  # the schema lets this mapping hold any key
        sub_defaults = defaults.get(key) if in_defaults else None
        if isinstance(sub_defaults, Mapping) and sub_defaults:
            out.extend(unknown_keys(value, sub_defaults, sub_schema, path, root))
        elif not in_defaults and sub_schema is not None and sub_schema.get("additionalProperties") is False:
            out.extend(unknown_keys(value, {}, sub_schema, path, root))  # a schema-only mapping listing its keys
    return out


def unknown_values_message(release: str, layered: LayeredValues, found: list[tuple[str, str]]) -> str:
    parts = []
    for key, near in found:
        hint = f": did you mean {near}?" if near else ""
        parts.append(f"{key} (set in {layered.source_of(key)}){hint}")
    return (f"release {release!r}: the chart has no value " + "; ".join(parts)
            + " (nothing was changed; --allow-unknown-values passes such keys on)")
