"""Layering rules, checked on the source: the library never imports Invoke, and only the Helm adapter
imports Helm's SDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "prjdevops"
MODULES = sorted(LIBRARY.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_library_is_not_empty() -> None:
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_library_never_imports_invoke(path: Path) -> None:
    assert "invoke" not in _imports(path)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_only_the_helm_adapter_imports_helm_sdk(path: Path) -> None:
    if path == LIBRARY / "adapters" / "helm.py":
        assert "helm_python" in _imports(path)
    else:
        assert "helm_python" not in _imports(path)
