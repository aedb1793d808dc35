"""The service's shape beyond the import contracts of `make lint`: names in one place,
no deferred imports, small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "rapport" / "profile"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
NAMES_MODULE = PACKAGE / "domain" / "names.py"
# A resource-name pattern or the start of one.
NAME_TEXT = re.compile(r"workspaces/|/customers/|customers/\{|/events/|/profile\b")
MAX_LINES = 400


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def _name_literals(path: Path) -> list[str]:
    """String literals that look like resource names; docstrings may describe them."""
    tree = ast.parse(path.read_text())
    docstrings = {
        ast.get_docstring(node, clean=False)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and NAME_TEXT.search(node.value)
        and node.value not in docstrings
    ]


def _deferred_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    top_level = set(map(id, tree.body))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level
    ]


def test_resource_names_are_written_only_in_domain_names() -> None:
    found = {_relative(p): _name_literals(p) for p in SOURCES if p != NAMES_MODULE}
    assert {module: texts for module, texts in found.items() if texts} == {}


def test_imports_are_at_module_level() -> None:
    found = {_relative(p): _deferred_imports(p) for p in SOURCES}
    assert {module: lines for module, lines in found.items() if lines} == {}


def test_modules_stay_small() -> None:
    sizes = {_relative(p): len(p.read_text().splitlines()) for p in SOURCES}
    assert {module: n for module, n in sizes.items() if n > MAX_LINES} == {}
