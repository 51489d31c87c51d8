"""Hooks as data: parsing (every problem named), run order with the built-in steps, plan lines."""

from __future__ import annotations

from typing import Any

import pytest

from prjdevops.hooks import EVENTS, Hook, ordered, parse, plan_lines


@pytest.mark.parametrize(("items", "problem"), [
    ("notalist", ("hooks", "must be a list of hooks")),
    (["x"], ("hooks[0]", "must be a mapping with event and command or task")),
    ([{"event": "pre-depoly", "command": ["true"]}], ("hooks[0].event", "must be one of prepare, pre-deploy")),
    ([{"event": "pre-deploy"}], ("hooks[0]", "needs exactly one of command (an argv list) or task")),
    ([{"event": "pre-deploy", "command": ["x"], "task": "verify"}], ("hooks[0]", "needs exactly one of")),
    ([{"event": "pre-deploy", "command": "echo hi"}], ("hooks[0].command", "must be a non-empty list of strings")),
    ([{"event": "pre-deploy", "command": []}], ("hooks[0].command", "must be a non-empty list of strings")),
    ([{"event": "pre-deploy", "command": ["a", 3]}], ("hooks[0].command", "must be a non-empty list of strings")),
    ([{"event": "pre-deploy", "task": "stg.status --env x"}], ("hooks[0].task", "must be one task name")),
    ([{"event": "pre-deploy", "command": ["x"], "timeout": 0}], ("hooks[0].timeout", "must be a positive integer")),
    ([{"event": "pre-deploy", "command": ["x"], "timeout": True}], ("hooks[0].timeout", "must be a positive")),
    ([{"event": "pre-deploy", "command": ["x"], "pass_env": "TOKEN"}], ("hooks[0].pass_env", "must be a list")),
    ([{"event": "pre-deploy", "command": ["x"], "shell": True}], ("hooks[0].shell", "unknown key")),
    ([{"event": "pre-deploy", "command": ["./a.sh"]}, {"event": "pre-deploy", "command": ["/bin/a.sh"]}],
     ("hooks[1].name", "'a.sh' is used twice for pre-deploy")),
])
def test_every_problem_is_named(items: Any, problem: tuple[str, str]) -> None:
    _, problems = parse(items, "hooks", scope="environment")
    assert any(k == problem[0] and problem[1] in reason for k, reason in problems), problems


def test_a_valid_list_parses_with_defaults_and_names() -> None:
    hooks, problems = parse([{"event": "pre-deploy", "command": ["./scripts/migrate.sh", "--to", "head"]},
                             {"event": "post-deploy", "task": "verify", "timeout": 900},
                             {"event": "on-failure", "name": "page", "command": ["notify"], "pass_env": ["TOKEN"]}],
                            "hooks", scope="release")
    assert problems == []
    assert hooks == [
        Hook("pre-deploy", "migrate.sh", ("./scripts/migrate.sh", "--to", "head"), scope="release"),
        Hook("post-deploy", "verify", task="verify", timeout=900, scope="release"),
        Hook("on-failure", "page", ("notify",), pass_env=("TOKEN",), scope="release"),
    ]


def test_none_is_no_hooks() -> None:
    assert parse(None, "hooks", scope="environment") == ([], [])


ENV = [Hook("pre-deploy", "announce", ("a",)), Hook("post-deploy", "notify", ("n",))]
REL = [Hook("pre-deploy", "migrate", ("m",), scope="release"), Hook("post-deploy", "smoke", ("s",), scope="release")]


@pytest.mark.parametrize(("event", "builtins", "names"), [
    ("pre-deploy", ["backup", "health"], ["backup", "announce", "migrate"]),
    ("pre-deploy", ["health"], ["announce", "migrate"]),
    ("post-deploy", ["backup", "health", "verify"], ["health", "verify", "notify", "smoke"]),
    ("post-deploy", [], ["notify", "smoke"]),
    ("on-failure", ["backup", "health"], []),
    ("pre-rollback", [], []),
])
def test_built_in_steps_come_first_then_the_environment_then_the_release(event: str, builtins: list[str],
                                                                          names: list[str]) -> None:
    assert [h.name for h in ordered(event, ENV, REL, builtins=builtins)] == names


def test_plan_lines_say_what_runs() -> None:
    lines = plan_lines(ordered("pre-deploy", ENV, REL, builtins=["backup"]))
    assert lines == ["  hook  pre-deploy backup (built-in)",
                     "  hook  pre-deploy announce: a (timeout 300s, environment)",
                     "  hook  pre-deploy migrate: m (timeout 300s, release)"]
    assert plan_lines([Hook("post-deploy", "verify", task="verify")]) == [
        "  hook  post-deploy verify: task verify (timeout 300s, environment)"]


def test_events_cover_helmfiles_and_the_rollback_and_delete_pairs() -> None:
    assert {"prepare", "pre-deploy", "post-deploy", "pre-rollback", "post-rollback", "pre-delete", "post-delete",
            "on-failure"} == set(EVENTS)
