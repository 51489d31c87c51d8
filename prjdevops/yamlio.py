"""Strict YAML reading shared by environment and values files.

Safe loading only; duplicate keys are an error (PyYAML silently keeps the last one); every error names the
file and line so the user can jump to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from prjdevops.errors import ConfigError

MAX_BYTES = 4 * 1024 * 1024  # a values or environment file is small; refuse anything absurd
MAX_ALIASES = 100  # alias expansion is how "billion laughs" YAML bombs blow up memory
# Few aliases can still expand exponentially (9 levels of 9 aliases = 72 aliases, 9**9 leaves), and every
# consumer that walks the data (merging, redaction, dumping) expands them: cap the nodes aliases add.
MAX_ALIAS_EXPANSION = 100_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and caps alias use."""

    alias_count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_ALIASES} aliases (refusing a possible YAML bomb)", mark)
        return super().compose_node(parent, index)

    def construct_document(self, node: yaml.Node) -> Any:
        memo: dict[int, int] = {}
        if _expanded_size(node, memo) - len(memo) > MAX_ALIAS_EXPANSION:
            raise yaml.constructor.ConstructorError(
                None, None, f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes "
                "(refusing a possible YAML bomb)", node.start_mark)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r}", key_node.start_mark)
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in ``node`` with every alias expanded; ``memo`` ends up holding each distinct node once."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias (`&a [*a]`) counts once instead of looping
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    size = 1
    for child in children:
        size += _expanded_size(child, memo)
        if size > MAX_ALIAS_EXPANSION + len(memo):  # stop early: no need to count a billion laughs
            break
    memo[key] = size
    return size


def _line(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return f"line {mark.line + 1}" if mark is not None else "unknown line"


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document; ``source`` names it in errors."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise ConfigError(f"{source}: file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{source}: malformed YAML at {_line(e)}: {problem}") from e


def read_yaml(path: Path, *, what: str = "file") -> Any:
    """Read a YAML file; a missing or unreadable file is one clear ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{what} {path} does not exist") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{what} {path} is a directory, expected a YAML file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {path} cannot be read: {e}") from e
    return parse_yaml(text, str(path))
