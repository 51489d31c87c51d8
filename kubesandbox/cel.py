"""A small subset of CEL, enough for the ``x-kubernetes-validations`` rules CRDs commonly carry.

Supported: literals (ints, floats, strings, true/false/null, lists, maps), ``self`` and field selection,
indexing, ``has(self.x)``, ``size()``, ``startsWith``/``endsWith``/``contains``/``matches``, ``all``/``exists``
macros, ``in``, arithmetic, comparisons, ``!``, ``&&``, ``||`` and ``?:``. Anything else raises
:class:`CelError`, and the caller then skips the rule (the sandbox never refuses what it cannot evaluate).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(r"""\s*(?:(?P<num>\d+\.\d+|\d+)[uU]?|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|"""
                    r"""(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])|(?P<id>[A-Za-z_][A-Za-z0-9_]*))""")


class CelError(Exception):
    """The rule uses something this subset does not evaluate, or evaluation failed."""


class _Missing(CelError):
    pass


def _tokens(src: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if not m:
            raise CelError(f"cannot parse {src[pos:]!r}")
        pos = m.end()
        if m.group("num"):
            text = m.group("num")
            out.append(("lit", float(text) if "." in text else int(text)))
        elif m.group("str"):
            out.append(("lit", bytes(m.group("str")[1:-1], "utf-8").decode("unicode_escape")))
        elif m.group("op"):
            out.append(("op", m.group("op")))
        else:
            word = m.group("id")
            consts = {"true": True, "false": False, "null": None}
            out.append(("lit", consts[word]) if word in consts else ("id", word))
    out.append(("end", None))
    return out


Node = Callable[[dict[str, Any]], Any]


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokens(src)
        self.i = 0

    def peek(self) -> tuple[str, Any]:
        return self.toks[self.i]

    def take(self, op: str | None = None) -> tuple[str, Any]:
        tok = self.toks[self.i]
        if op is not None and tok != ("op", op):
            raise CelError(f"expected {op!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def at(self, op: str) -> bool:
        return self.peek() == ("op", op)

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek()[0] != "end":
            raise CelError(f"unexpected {self.peek()[1]!r}")
        return node

    def ternary(self) -> Node:
        cond = self.binary(0)
        if self.at("?"):
            self.take("?")
            a = self.ternary()
            self.take(":")
            b = self.ternary()
            return lambda env: a(env) if _truth(cond(env)) else b(env)
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"),
                                              ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        ops = self._LEVELS[level]
        while True:
            tok = self.peek()
            op = tok[1] if tok[0] == "op" or tok == ("id", "in") else None
            if op not in ops:
                return left
            self.take()
            right = self.binary(level + 1)
            left = _binop(str(op), left, right)

    def unary(self) -> Node:
        if self.at("!"):
            self.take()
            inner = self.unary()
            return lambda env: not _truth(inner(env))
        if self.at("-"):
            self.take()
            inner = self.unary()
            return lambda env: -inner(env)
        return self.member(self.primary())

    def args(self) -> list[Node]:
        self.take("(")
        out: list[Node] = []
        while not self.at(")"):
            out.append(self.ternary())
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return out

    def member(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take()
                kind, name = self.take()
                if kind != "id":
                    raise CelError("field name expected")
                node = self.method(node, str(name)) if self.at("(") else _select(node, str(name))
            elif self.at("["):
                self.take()
                idx = self.ternary()
                self.take("]")
                node = _index(node, idx)
            else:
                return node

    def method(self, target: Node, name: str) -> Node:
        if name in ("all", "exists"):
            self.take("(")
            kind, var = self.take()
            if kind != "id":
                raise CelError("macro variable expected")
            self.take(",")
            body = self.ternary()
            self.take(")")
            test = all if name == "all" else any

            def macro(env: dict[str, Any]) -> bool:
                items = target(env)
                keys = list(items) if isinstance(items, dict | list) else []
                return test(_truth(body({**env, str(var): k})) for k in keys)
            return macro
        args = self.args()
        funcs: dict[str, Callable[..., Any]] = {
            "size": len, "startsWith": str.startswith, "endsWith": str.endswith,
            "contains": lambda s, x: x in s, "matches": lambda s, p: re.search(p, s) is not None,
        }
        if name not in funcs:
            raise CelError(f"unsupported function {name}")
        fn = funcs[name]
        return lambda env: fn(target(env), *(a(env) for a in args))

    def primary(self) -> Node:
        kind, val = self.take()
        if kind == "lit":
            return lambda env: val
        if kind == "op" and val == "(":
            inner = self.ternary()
            self.take(")")
            return inner
        if kind == "op" and val == "[":
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.ternary())
                if not self.at("]"):
                    self.take(",")
            self.take("]")
            return lambda env: [i(env) for i in items]
        if kind == "id":
            if val == "has" and self.at("("):
                self.take("(")
                path = self.ternary()
                self.take(")")
                return lambda env: _has(path, env)
            if val == "size" and self.at("("):
                (arg,) = self.args()
                return lambda env: len(arg(env))
            if self.at("("):
                raise CelError(f"unsupported function {val}")
            name = str(val)

            def ident(env: dict[str, Any]) -> Any:
                if name not in env:
                    raise CelError(f"undeclared reference to {name!r}")
                return env[name]
            return ident
        raise CelError(f"unexpected {val!r}")


def _truth(v: Any) -> bool:
    if not isinstance(v, bool):
        raise CelError("no such overload: a condition must be a bool")
    return v


def _select(node: Node, name: str) -> Node:
    def get(env: dict[str, Any]) -> Any:
        obj = node(env)
        if not isinstance(obj, dict) or name not in obj:
            raise _Missing(f"no such key: {name}")
        return obj[name]
    return get


def _index(node: Node, idx: Node) -> Node:
    def get(env: dict[str, Any]) -> Any:
        obj, key = node(env), idx(env)
        try:
            return obj[key]
        except (KeyError, IndexError, TypeError) as e:
            raise _Missing(f"no such key: {key}") from e
    return get


def _has(path: Node, env: dict[str, Any]) -> bool:
    try:
        path(env)
    except _Missing:
        return False
    return True


def _binop(op: str, a: Node, b: Node) -> Node:
    if op == "&&":
        return lambda env: _truth(a(env)) and _truth(b(env))
    if op == "||":
        return lambda env: _truth(a(env)) or _truth(b(env))
    table: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
        "in": lambda x, y: x in y, "+": lambda x, y: x + y, "-": lambda x, y: x - y,
        "*": lambda x, y: x * y, "/": lambda x, y: x // y if isinstance(x, int) and isinstance(y, int) else x / y,
        "%": lambda x, y: x % y}
    fn = table[op]

    def run(env: dict[str, Any]) -> Any:
        try:
            return fn(a(env), b(env))
        except (TypeError, ZeroDivisionError) as e:
            raise CelError(str(e)) from e
    return run


def compile_rule(rule: str) -> Node:
    return _Parser(rule).parse()


def evaluate(rule: str, self_value: Any, old_self: Any = None) -> bool:
    """True when ``rule`` holds for ``self`` (raises :class:`CelError` when it cannot be evaluated)."""
    env: dict[str, Any] = {"self": self_value}
    if old_self is not None:
        env["oldSelf"] = old_self
    result = compile_rule(rule)(env)
    if not isinstance(result, bool):
        raise CelError("a rule must evaluate to a bool")
    return result
