"""Strict YAML reading: duplicate keys, malformed text, YAML bombs, missing files, size cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from prjdevops.errors import ConfigError
from prjdevops.yamlio import MAX_ALIASES, MAX_BYTES, parse_yaml, read_yaml


def _billion_laughs(levels: int = 9, fan: int = 9) -> str:
    """The classic bomb: few aliases (levels-1 * fan, 72 here), fan**levels leaves once expanded."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * fan) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: [x, y]\n", {"a": 1, "b": ["x", "y"]}),
        ("", None),
        ("# only a comment\n", None),
        ("base: &b {x: 1}\nother: *b\n", {"base": {"x": 1}, "other": {"x": 1}}),
        ("on: yes\n", {True: True}),  # YAML 1.1 as PyYAML reads it (documented quirk)
    ],
    ids=["mapping", "empty", "comment-only", "one-alias", "yaml-1.1-bools"],
)
def test_parse_ok(text: str, expected: object) -> None:
    assert parse_yaml(text, "t.yaml") == expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("a: 1\nb: 2\na: 3\n", ["f.yaml", "line 3", "duplicate key 'a'"]),
        ("top:\n  x: 1\n  y: 2\n  x: 9\n", ["f.yaml", "line 4", "duplicate key 'x'"]),
        ("a: 1\nb: [1, 2\nc: 3\n", ["f.yaml", "malformed YAML", "line "]),
        ("a: 1\n  b: 2\n", ["f.yaml", "malformed YAML", "line 2"]),
        ("a: 'unterminated\n", ["f.yaml", "malformed YAML", "line "]),
        ("key: *nowhere\n", ["f.yaml", "line 1", "nowhere"]),
        ("a: 1\n---\nb: 2\n", ["f.yaml", "malformed YAML", "line 2"]),
        ("x: !!python/object:os.system {}\n", ["f.yaml", "line 1"]),  # safe loading only
    ],
    ids=["dup-top", "dup-nested", "unclosed-flow", "bad-indent", "unterminated-quote", "unknown-alias",
         "two-documents", "python-tag"],
)
def test_parse_errors_name_file_and_line(text: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_yaml(text, "f.yaml")
    msg = str(exc.value)
    for fragment in fragments:
        assert fragment in msg
    assert "\n" not in msg


def test_duplicate_key_line_is_the_second_occurrence() -> None:
    text = "\n".join(f"k{i}: {i}" for i in range(10)) + "\nk3: again\n"
    with pytest.raises(ConfigError, match=r"line 11: duplicate key 'k3'"):
        parse_yaml(text, "many.yaml")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_billion_laughs(), "refusing a possible YAML bomb"),  # 72 aliases: under the alias cap
        ("a: &a x\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n", f"more than {MAX_ALIASES} aliases"),
    ],
    ids=["billion-laughs", "alias-count"],
)
def test_yaml_bomb_refused(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_yaml(text, "bomb.yaml")
    assert "bomb.yaml" in str(exc.value)
    assert reason in str(exc.value)


def test_aliases_up_to_the_cap_are_fine() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n"
    assert parse_yaml(text, "ok.yaml")["b"] == ["x"] * MAX_ALIASES


def test_oversize_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * MAX_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"big\.yaml: file is larger than 4 MiB"):
        read_yaml(big)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.yaml", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: _write_bytes(d / "latin1.yaml", b"a: caf\xe9\n"), "cannot be read"),
    ],
    ids=["missing", "directory", "not-utf8"],
)
def test_read_yaml_file_problems(tmp_path: Path, make: object, fragment: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigError) as exc:
        read_yaml(path, what="values file")
    msg = str(exc.value)
    assert msg.startswith("values file ")
    assert str(path) in msg
    assert fragment in msg


def test_read_yaml_reads_a_file(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text("image:\n  tag: '1.2.3'\n", encoding="utf-8")
    assert read_yaml(f) == {"image": {"tag": "1.2.3"}}


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
