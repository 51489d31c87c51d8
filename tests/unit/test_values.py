"""Values layering (order, provenance, secrets) and redaction."""

from __future__ import annotations

import base64
import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from prjdevops.errors import ConfigError, ValuesError
from prjdevops.model import Release, SecretSource
from prjdevops.values import REDACTED, LayeredValues, Redactor, deep_merge, is_secret_path, layer, non_finite

# --- deep_merge -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "override", "expected"),
    [
        ({}, {}, {}),
        ({"a": 1}, {}, {"a": 1}),
        ({}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3, "z": 4}}, {"a": {"x": 1, "y": 3, "z": 4}}),
        ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"d": 3}}}, {"a": {"b": {"c": 1, "d": 3}}}),
        ({"l": [1, 2, 3]}, {"l": [4]}, {"l": [4]}),  # lists replace, never append
        ({"l": [{"a": 1}]}, {"l": [{"b": 2}]}, {"l": [{"b": 2}]}),  # list items are not merged either
        ({"l": [1, 2]}, {"l": []}, {"l": []}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),  # scalar replaces a mapping
        ({"a": 5}, {"a": {"x": 1}}, {"a": {"x": 1}}),  # mapping replaces a scalar
        ({"a": 1, "b": 2}, {"a": None}, {"a": None, "b": 2}),  # None is kept for Helm to delete the key
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": None}}, {"a": {"x": None, "y": 2}}),  # nested None kept
        ({"b": 2}, {"a": None}, {"a": None, "b": 2}),  # even where no earlier layer set it
        ({"a": {"x": 1}}, {"a": {}}, {"a": {"x": 1}}),  # empty mapping merges as nothing
        ({"a": False}, {"a": 0}, {"a": 0}),
    ],
    ids=["empty", "keep", "add", "replace", "merge-map", "merge-deep", "list-replace", "list-of-maps",
         "list-empty", "scalar-over-map", "map-over-scalar", "none-deletes", "nested-none-deletes",
         "none-absent", "empty-map", "falsy-kept"],
)
def test_deep_merge(base: dict[str, Any], override: dict[str, Any], expected: dict[str, Any]) -> None:
    base_before, override_before = copy.deepcopy(base), copy.deepcopy(override)
    assert deep_merge(base, override) == expected
    assert (base, override) == (base_before, override_before)  # inputs untouched


def test_deep_merge_result_shares_nothing_with_inputs() -> None:
    base = {"a": {"x": [1, 2]}, "keep": {"k": [0]}}
    override = {"a": {"y": {"z": [3]}}, "new": [{"n": 1}]}
    out = deep_merge(base, override)
    out["a"]["x"].append(99)
    out["a"]["y"]["z"].append(99)
    out["keep"]["k"].append(99)
    out["new"][0]["n"] = 99
    assert base == {"a": {"x": [1, 2]}, "keep": {"k": [0]}}
    assert override == {"a": {"y": {"z": [3]}}, "new": [{"n": 1}]}


# --- layer(): order and provenance ------------------------------------------------------------------------


def _fake_parse_set(expression: str) -> dict[str, Any]:
    """A stand-in for Helm's parser: dotted key, string value."""
    key, _, value = expression.partition("=")
    out: dict[str, Any] = {}
    cur = out
    *parents, last = key.split(".")
    for p in parents:
        cur = cur.setdefault(p, {})
    cur[last] = value
    return out


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    texts = {
        "one": "image: {repository: app, tag: '1.0'}\nreplicaCount: 1\nlist: [a, b]\nonly1: x\n",
        "two": "image: {tag: '2.0'}\nlist: [c]\nresources: {limits: {cpu: 100m}}\n",
        "extra": "replicaCount: 5\nonly1: null\n",
        "empty": "",
        "scalar": "just a string\n",
    }
    out = {}
    for name, text in texts.items():
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(text, encoding="utf-8")
    return out


def _release(files: dict[str, Path], *, values: tuple[str, ...] = ("one", "two"), sets: tuple[str, ...] = (),
             secrets: tuple[SecretSource, ...] = ()) -> Release:
    return Release(name="app", chart="charts/app", namespace="app",
                   values_files=tuple(files[v] for v in values), set_values=sets, secrets=secrets)


@pytest.mark.parametrize("parse_set", [_fake_parse_set, None], ids=["fake-parser", "helm-parser"])
def test_layer_order_and_sources(files: dict[str, Path], parse_set: Any) -> None:
    release = _release(files, sets=("image.tag=3.0", "ingress.host=env.example"))
    lv = layer(release, extra_files=[files["extra"]], sets=["image.tag=4.0"], parse_set=parse_set, environ={})
    assert lv.values == {
        "image": {"repository": "app", "tag": "4.0"},
        "replicaCount": 5,
        "list": ["c"],
        "resources": {"limits": {"cpu": "100m"}},
        "ingress": {"host": "env.example"},
        "only1": None,  # the extra file's null is passed on so Helm deletes the chart default too
    }
    expected_sources = {
        "image.repository": str(files["one"]),
        "list": str(files["two"]),
        "resources.limits.cpu": str(files["two"]),
        "resources": str(files["two"]),  # closest parent that was set
        "replicaCount": str(files["extra"]),
        "only1": str(files["extra"]),  # deleted by the extra file
        "ingress.host": "environment set: ingress.host",
        "image.tag": "--set image.tag",
        "not.set.anywhere": "the chart's defaults",
    }
    for key, source in expected_sources.items():
        assert lv.source_of(key) == source, key


def test_layer_values_files_in_listed_order(files: dict[str, Path]) -> None:
    forward = layer(_release(files, values=("one", "two")), parse_set=_fake_parse_set, environ={})
    backward = layer(_release(files, values=("two", "one")), parse_set=_fake_parse_set, environ={})
    assert forward.values["image"]["tag"] == "2.0" and forward.values["list"] == ["c"]
    assert backward.values["image"]["tag"] == "1.0" and backward.values["list"] == ["a", "b"]
    assert backward.source_of("image.tag") == str(files["one"])


def test_layer_empty_values_file_is_nothing(files: dict[str, Path]) -> None:
    lv = layer(_release(files, values=("empty",)), parse_set=_fake_parse_set, environ={})
    assert lv.values == {} and lv.sources == {}


def test_layer_values_file_must_be_a_mapping(files: dict[str, Path]) -> None:
    with pytest.raises(ValuesError, match=r"scalar\.yaml must hold a mapping at the top level, not a str"):
        layer(_release(files, values=("scalar",)), parse_set=_fake_parse_set, environ={})


def test_layer_helm_parser_types_and_lists(files: dict[str, Path]) -> None:
    lv = layer(_release(files), sets=["replicaCount=3", "list={x,y}", "flag=true"], environ={})
    assert lv.values["replicaCount"] == 3
    assert lv.values["list"] == ["x", "y"]
    assert lv.values["flag"] is True


@pytest.mark.parametrize("expr", ["novalue", "a[x]=1"])
def test_layer_helm_parser_rejects_bad_set(files: dict[str, Path], expr: str) -> None:
    with pytest.raises(ValuesError) as exc:
        layer(_release(files), sets=[expr], environ={})
    key = expr.split("=", 1)[0]
    assert f"--set for key {key!r} does not parse" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("expr", ["secrets.pw[0=hunter2-value", "db.password[x]=hunter2-value",
                                  "db.password[0=hunter2-value"])
def test_bad_set_error_never_shows_the_value(files: dict[str, Path], expr: str) -> None:
    with pytest.raises(ValuesError) as exc:
        layer(_release(files), sets=[expr], environ={})
    assert "hunter2" not in str(exc.value)
    assert "does not parse" in str(exc.value)


# --- layer(): secrets ---------------------------------------------------------------------------------------


def test_secret_from_env(files: dict[str, Path]) -> None:
    release = _release(files, secrets=(SecretSource(path="secrets.DB_PASSWORD", env="DB_PW"),))
    lv = layer(release, parse_set=_fake_parse_set, environ={"DB_PW": "hunter2-long"})
    assert lv.values["secrets"] == {"DB_PASSWORD": "hunter2-long"}
    assert lv.source_of("secrets.DB_PASSWORD") == "$DB_PW"
    assert "secrets.DB_PASSWORD" in lv.secret_paths
    assert lv.redactor().text("pw=hunter2-long") == f"pw={REDACTED}"


def test_secret_env_missing_is_a_clear_error(files: dict[str, Path]) -> None:
    release = _release(files, secrets=(SecretSource(path="secrets.DB_PASSWORD", env="DB_PW"),))
    with pytest.raises(ConfigError) as exc:
        layer(release, parse_set=_fake_parse_set, environ={"OTHER": "x"})
    assert exc.value.hint == "export DB_PW=... before deploying"
    assert str(exc.value) == ("release 'app': secret secrets.DB_PASSWORD reads environment variable DB_PW, which "
                              "is not set (export DB_PW=... before deploying)")


def test_secret_env_defaults_to_os_environ(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRJDEVOPS_TEST_SECRET", "from-the-environment")
    release = _release(files, secrets=(SecretSource(path="secrets.S", env="PRJDEVOPS_TEST_SECRET"),))
    assert layer(release, parse_set=_fake_parse_set).values["secrets"]["S"] == "from-the-environment"


def test_secret_from_file_is_stripped_and_beats_values(files: dict[str, Path], tmp_path: Path) -> None:
    secret_file = tmp_path / "api.key"
    secret_file.write_text("s3cr3t-api-key\n", encoding="utf-8")
    release = _release(files, sets=("image.tag=in-env-file",),
                       secrets=(SecretSource(path="image.tag", file=secret_file),))
    lv = layer(release, sets=["image.tag=on-cli"], parse_set=_fake_parse_set, environ={})
    assert lv.values["image"]["tag"] == "s3cr3t-api-key"  # secrets are the last layer
    assert lv.source_of("image.tag") == str(secret_file)
    assert lv.redactor().text("tag: s3cr3t-api-key") == f"tag: {REDACTED}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p, "No such file or directory"),
        (lambda p: (p.mkdir(), p)[1], "Is a directory"),
        (lambda p: (p.write_bytes(b"\xff\xfe\x00bin"), p)[1], "not UTF-8"),
    ],
    ids=["missing", "directory", "binary"],
)
def test_secret_file_unreadable(files: dict[str, Path], tmp_path: Path, make: Any, reason: str) -> None:
    path = make(tmp_path / "secret.txt")
    release = _release(files, secrets=(SecretSource(path="secrets.K", file=path),))
    with pytest.raises(ConfigError) as exc:
        layer(release, parse_set=_fake_parse_set, environ={})
    assert f"release 'app': secret secrets.K file {path} cannot be read" in str(exc.value)
    assert reason in str(exc.value)


# --- redaction ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        ("hunter22", "password is hunter22.", f"password is {REDACTED}."),
        ("hunter22", "b64 aHVudGVyMjI=", f"b64 {REDACTED}"),
        ("hunter22", "twice hunter22 hunter22", f"twice {REDACTED} {REDACTED}"),
        ("abcd", "abcd", REDACTED),  # 4 characters: redacted
        ("abc", "abc and abc", "abc and abc"),  # shorter: ignored, it would destroy output
        ("", "nothing", "nothing"),
        (12345678, "port 12345678", f"port {REDACTED}"),
        (True, "True", "True"),
        (None, "None", "None"),
        (["list-secret-1", "ab"], "list-secret-1 ab", f"{REDACTED} ab"),
        ({"k": {"deep": "nested-secret"}}, "x nested-secret", f"x {REDACTED}"),
    ],
    ids=["plain", "base64", "repeated", "four-chars", "short", "empty", "number", "bool", "none", "list",
         "mapping"],
)
def test_redactor_text(secret: Any, text: str, expected: str) -> None:
    r = Redactor()
    r.add(secret)
    assert r.text(text) == expected


def test_redactor_longest_needle_first() -> None:
    r = Redactor()
    r.add("secret")
    r.add("secret-and-more")
    assert r.text("secret-and-more") == REDACTED


def test_redactor_merge() -> None:
    a, b = Redactor(), Redactor()
    a.add("first-secret")
    b.add("second-secret")
    assert a.merge(b).text("first-secret second-secret") == f"{REDACTED} {REDACTED}"


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        ("secrets", True), ("secrets.ANYTHING", True), ("password", True), ("db.password", True),
        ("DB_PASSWORD", True), ("db.passwd", True), ("db.apiKey", True), ("api_key", True), ("api-key", True),
        ("private_key", True), ("tls.privateKey", True), ("auth.token", True), ("auth.rootPassword", True),
        ("oauth.clientSecret", True), ("github.accessToken", True),
        ("image.tag", False), ("passwordPolicy", False), ("tokens", False), ("secretsManager.enabled", False),
        ("mysecrets", False), ("bypassword", False), ("ingress.tls.secretName", False), ("monkey", False),
    ],
)
def test_is_secret_path(path: str, secret: bool) -> None:
    assert is_secret_path(path) is secret


def test_redactor_values_masks_secret_keys() -> None:
    data = {
        "secrets": {"DB_PASSWORD": "pw-value-1", "nested": {"a": 1}},
        "db": {"host": "db.local", "password": "pw-value-2", "apiKey": "key-value"},
        "private_key": "-----BEGIN KEY-----",
        "auth": {"rootPassword": "pw-value-3"},
        "items": [{"token": "tok-value"}, "plain"],
        "image": {"tag": "1.2.3"},
    }
    before = copy.deepcopy(data)
    out = Redactor().values(data)
    assert out == {
        "secrets": {"DB_PASSWORD": REDACTED, "nested": REDACTED},
        "db": {"host": "db.local", "password": REDACTED, "apiKey": REDACTED},
        "private_key": REDACTED,
        "auth": {"rootPassword": REDACTED},
        "items": [{"token": REDACTED}, "plain"],
        "image": {"tag": "1.2.3"},
    }
    assert data == before


def test_redactor_values_also_redacts_known_strings_in_plain_keys() -> None:
    r = Redactor()
    r.add("leaked-secret")
    assert r.values({"note": "it is leaked-secret here"}) == {"note": f"it is {REDACTED} here"}


def test_layered_redactor_covers_every_secret(files: dict[str, Path], tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text("file-secret-value\n", encoding="utf-8")
    extra = tmp_path / "extra.yaml"
    extra.write_text("db: {password: values-file-pw}\nsecrets: {API: values-file-api}\n"
                     "auth: {adminPassword: camel-case-pw}\nimage: {tag: '2.0'}\n", encoding="utf-8")
    release = _release(files, secrets=(SecretSource(path="secrets.DB", env="DB_PW"),
                                       SecretSource(path="tls.cert", file=key_file)))
    lv = layer(release, extra_files=[extra], parse_set=_fake_parse_set, environ={"DB_PW": "env-secret-value"})
    secrets = ["env-secret-value", "file-secret-value", "values-file-pw", "values-file-api", "camel-case-pw"]
    text = "\n".join(secrets + [base64.b64encode(s.encode()).decode() for s in secrets] + ["image 2.0 app"])
    out = lv.redactor().text(text)
    for s in secrets:
        assert s not in out
        assert base64.b64encode(s.encode()).decode() not in out
    assert out.count(REDACTED) == 2 * len(secrets)
    assert "image 2.0 app" in out


def test_layered_values_source_of_walks_up() -> None:
    lv = LayeredValues(values={}, sources={"a": "one.yaml", "a.b.c": "--set a.b.c"})
    assert lv.source_of("a.b.c") == "--set a.b.c"
    assert lv.source_of("a.b.d") == "one.yaml"
    assert lv.source_of("z") == "the chart's defaults"


def test_multiline_secret_is_redacted_line_by_line(files: dict[str, Path], tmp_path: Path) -> None:
    pem = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAoIBAQC7VJTUt9Us8cKj\n"
           "-----END PRIVATE KEY-----")
    key_file = tmp_path / "tls.key"
    key_file.write_text(pem + "\n", encoding="utf-8")
    release = _release(files, secrets=(SecretSource(path="tls.key", file=key_file),))
    lv = layer(release, parse_set=_fake_parse_set, environ={})
    dumped = yaml.safe_dump({"data": {"tls.key": pem, "other": "kept"}}, default_style="|")
    out = lv.redactor().text(dumped)
    for line in pem.splitlines():
        assert line not in out
    assert "kept" in out


# --- keys the chart does not know (typos) -------------------------------------------------------------------------

DEFAULTS = {"replicaCount": 1, "image": {"repository": "r", "tag": ""}, "podAnnotations": {}, "resources": {},
            "tolerations": [], "postgresql": {"auth": {"password": ""}}, "nothing": None}
SCHEMA = {"type": "object", "properties": {"extraEnv": {"type": "array"},
                                           "strict": {"type": "object", "additionalProperties": False,
                                                      "properties": {"a": {"type": "string"}}},
                                           "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}

UNKNOWN = [
    ("known keys", {"replicaCount": 3, "image": {"tag": "1.2"}}, None, []),
    ("typo at the top, nearest named", {"replicaCont": 3}, None, [("replicaCont", "replicaCount")]),
    ("typo nested", {"image": {"tagg": "1"}}, None, [("image.tagg", "image.tag")]),
    ("free-form mapping default ({})", {"podAnnotations": {"a/b": "c"}, "resources": {"limits": {"cpu": 1}}}, None,
     []),
    ("under a list or null default", {"tolerations": [{"key": "x"}], "nothing": {"deep": 1}}, None, []),
    ("subchart values", {"postgresql": {"auth": {"password": "x", "pasword": "y"}}}, None,
     [("postgresql.auth.pasword", "postgresql.auth.password")]),
    ("global always allowed", {"global": {"imageRegistry": "x"}}, None, []),
    ("allowed by the schema only", {"extraEnv": [{"name": "A"}], "labels": {"team": "x"}}, SCHEMA, []),
    ("schema mapping that lists its keys", {"strict": {"a": "x", "b": "y"}}, SCHEMA, [("strict.b", "")]),
    ("nothing near", {"zzz": 1}, None, [("zzz", "")]),
]


@pytest.mark.parametrize(("values", "schema", "want"), [u[1:] for u in UNKNOWN], ids=[u[0] for u in UNKNOWN])
def test_unknown_keys(values: dict[str, Any], schema: dict[str, Any] | None, want: list[tuple[str, str]]) -> None:
    from prjdevops.values import unknown_keys

    assert unknown_keys(values, DEFAULTS, schema) == want


def test_unknown_key_message_names_key_layer_and_nearest() -> None:
    from prjdevops.values import unknown_values_message

    lv = LayeredValues(values={"replicaCont": 3}, sources={"replicaCont": "--set replicaCont"})
    msg = unknown_values_message("plate-web", lv, [("replicaCont", "replicaCount")])
    assert msg.startswith("release 'plate-web': the chart has no value replicaCont (set in --set replicaCont): "
                          "did you mean replicaCount?")


def test_unknown_keys_follow_schema_refs_to_free_form_maps() -> None:
    from prjdevops.values import unknown_keys

    schema = {"properties": {"config": {"$ref": "#/definitions/envMap"}},
              "definitions": {"envMap": {"type": "object", "additionalProperties": {"type": "string"}}}}
    defaults = {"config": {"LOG_LEVEL": "info"}, "image": {"tag": ""}}
    assert unknown_keys({"config": {"smtp_password": "x", "LOG_LEVEL": "debug"}}, defaults, schema) == []
    assert unknown_keys({"image": {"tagg": "1"}}, defaults, schema) == [("image.tagg", "image.tag")]


@pytest.mark.parametrize(("data", "found"), [
    ({"replicaCount": 1.0}, []),
    ({"replicaCount": float("inf")}, [("replicaCount", float("inf"))]),
    ({"a": {"b": [1, float("-inf")]}}, [("a.b[1]", float("-inf"))]),
    ({"ports": [{"n": 1e400}]}, [("ports[0].n", float("inf"))]),
    ({"s": "inf", "n": None, "b": True}, []),
])
def test_non_finite_numbers_are_found_by_path(data: dict[str, Any], found: list[tuple[str, float]]) -> None:
    assert list(non_finite(data)) == found


def test_a_nan_is_found_too() -> None:
    [(path, value)] = list(non_finite({"x": {"y": float("nan")}}))
    assert path == "x.y" and math.isnan(value)


@pytest.mark.parametrize(("path", "source"), [
    ("ports[0].n", "f.yaml"),  # a list item was set with its list
    ("a.b[1]", "g.yaml"),
    ("a.c", "a.yaml"),  # the closest parent
    ("zzz", "the chart's defaults"),
])
def test_source_of_finds_the_layer_of_a_list_item(path: str, source: str) -> None:
    layered = LayeredValues(values={}, sources={"ports": "f.yaml", "a": "a.yaml", "a.b": "g.yaml"})
    assert layered.source_of(path) == source
