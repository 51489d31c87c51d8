"""Summary-first plans (pure): counts per kind, changed fields, capped diffs, revision descriptions."""

from __future__ import annotations

from typing import Any

import pytest

from prjdevops.manifests import ObjectDiff, changed_fields, diff_objects
from prjdevops.summary import (
    Revision,
    counts_text,
    description,
    diff_lines,
    field_lines,
    image_changes,
    kind_counts,
    kind_table,
)
from prjdevops.values import Redactor


def d(kind: str, name: str, action: str, diff: str = "", fields: tuple[str, ...] = ()) -> ObjectDiff:
    return ObjectDiff(key=(kind, "ns", name), action=action, diff=diff, fields=fields)


DIFFS = [d("Deployment", "web", "change", fields=("spec.replicas: 2 → 3",)), d("ConfigMap", "a", "add"),
         d("ConfigMap", "b", "add"), d("Secret", "s", "remove"), d("Service", "web", "change")]


def test_kind_counts_and_table() -> None:
    assert kind_counts(DIFFS) == [("ConfigMap", 2, 0, 0), ("Deployment", 0, 1, 0), ("Secret", 0, 0, 1),
                                  ("Service", 0, 1, 0)]
    assert kind_table(DIFFS) == ["  KIND        ADD  CHANGE  REMOVE", "  ConfigMap   2    -       -",
                                 "  Deployment  -    1       -", "  Secret      -    -       1",
                                 "  Service     -    1       -"]
    assert kind_table([]) == []


@pytest.mark.parametrize("diffs, text", [
    ([], "no object changes"),
    (DIFFS, "2 changed, 2 added, 1 removed"),
    ([d("ConfigMap", "a", "add")], "1 added"),
])
def test_counts_text(diffs: list[ObjectDiff], text: str) -> None:
    assert counts_text(diffs) == text


def test_field_lines_show_changes_only_and_cap_fields() -> None:
    many = d("Deployment", "web", "change", fields=tuple(f"f{i}: 1 → 2" for i in range(9)))
    lines = field_lines([many, d("ConfigMap", "a", "add")], per_object=3)
    assert lines == ["  ~ Deployment/web (ns ns)", "      f0: 1 → 2", "      f1: 1 → 2", "      f2: 1 → 2",
                     "      … 6 more field(s)"]


def test_diff_lines_capped_per_object_and_in_number_and_full_shows_everything() -> None:
    long = d("Deployment", "web", "change", diff="".join(f"line{i}\n" for i in range(50)))
    added = d("ConfigMap", "a", "add", diff="+x\n")
    capped = diff_lines([long, added], max_lines=10)
    assert capped[:10] == [f"line{i}" for i in range(10)]
    assert capped[10] == "… 40 more line(s) of Deployment/web (ns ns) (--diff full shows all)"
    assert len(capped) == 11  # an added object is a count, not a diff
    assert diff_lines([long, added], full=True) == [*(f"line{i}" for i in range(50)), "+x"]
    three = [d("ConfigMap", str(i), "change", diff="x\n") for i in range(3)]
    assert diff_lines(three, max_objects=2)[-1] == \
        "… diffs of 1 more changed object(s) not shown (--diff full shows all)"


@pytest.mark.parametrize("old, new, fields", [
    ({"a": 1}, {"a": 1}, ()),
    ({"a": 1}, {"a": 2}, ("a: 1 → 2",)),
    ({"a": {"b": "x"}}, {"a": {}}, ("a.b: x → (none)",)),
    ({"c": [{"name": "web", "image": "r:1"}, {"name": "side", "image": "s:1"}]},
     {"c": [{"name": "side", "image": "s:1"}, {"name": "web", "image": "r:2"}]}, ("c[web].image: r:1 → r:2",)),
    ({"args": ["a", "b"]}, {"args": ["a", "c"]}, ("args[1]: b → c",)),
    ({"args": ["a"]}, {"args": ["a", "c"]}, ("args: [1 item(s)] → [2 item(s)]",)),
    ({"x": "a\nb"}, {"x": "a\nc"}, ("x: a⏎b → a⏎c",)),
])
def test_changed_fields(old: Any, new: Any, fields: tuple[str, ...]) -> None:
    assert changed_fields(old, new) == fields


def test_changed_fields_of_a_secret_never_show_its_values() -> None:
    old = {"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": {"pw": "c2VjcmV0MQ=="}}
    new = {"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": {"pw": "c2VjcmV0Mg=="}}
    (diff,) = diff_objects([old], [new], Redactor())
    assert diff.fields and all("c2VjcmV0" not in f for f in diff.fields)
    assert "(changed)" in diff.fields[0]


def test_changed_fields_are_redacted() -> None:
    red = Redactor()
    red.add_secrets_of({"password": "hunter2-long-secret"})
    old = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"url": "db://u:hunter2-long-secret@h"}}
    new = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"url": "db://u:hunter2-long-secret@h2"}}
    (diff,) = diff_objects([old], [new], red)
    assert "hunter2" not in " ".join(diff.fields)


@pytest.mark.parametrize("rev, text", [
    (Revision("deploy", "alice@box", "R1"), "prjdevops deploy by alice@box, run R1"),
    (Revision("deploy", "alice@box", "R1", "2 changed", (("ghcr.io/acme/plate-web:1.4.2",
                                                           "ghcr.io/acme/plate-web:1.4.3"),)),
     "prjdevops deploy by alice@box, run R1: 2 changed, image plate-web 1.4.2→1.4.3"),
    (Revision("rollback", "bob@h", "R2", images=(("a:1", "b:2"),)),
     "prjdevops rollback by bob@h, run R2: image a:1→b:2"),
])
def test_description(rev: Revision, text: str) -> None:
    assert description(rev) == text


def test_description_is_capped() -> None:
    text = description(Revision("deploy", "a@b", "R", "1 changed", tuple((f"r{i}:1", f"r{i}:2") for i in range(40))))
    assert len(text) == 180 and text.endswith("…")


def test_image_changes() -> None:
    assert image_changes({"web": "r:1", "side": "s:1"}, {"web": "r:2", "side": "s:1", "new": "n:1"}) == \
        (("r:1", "r:2"),)
