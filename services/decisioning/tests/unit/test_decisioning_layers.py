"""The service's layers import only downwards, at module level, in modules of modest size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rapport" / "decisioning"
SERVICE = "rapport.decisioning"
MAX_LINES = 400

# Layer -> prefixes its modules must not import.
FORBIDDEN = {
    "domain": (
        f"{SERVICE}.adapters",
        f"{SERVICE}.service_layer",
        f"{SERVICE}.entrypoints",
        f"{SERVICE}.bootstrap",
        f"{SERVICE}.v1",
        "sqlalchemy",
        "grpc",
        "google.protobuf",
        "rapport.consent.v1",
        "rapport.delivery.v1",
        "rapport.profile.v1",
        "rapport.type.v1",
    ),
    "adapters": (f"{SERVICE}.service_layer", f"{SERVICE}.entrypoints", f"{SERVICE}.bootstrap"),
    "service_layer": (f"{SERVICE}.entrypoints", f"{SERVICE}.bootstrap"),
    "entrypoints": (f"{SERVICE}.adapters", f"{SERVICE}.bootstrap"),
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join((SERVICE, *parts))


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import of the file."""
    tree = ast.parse(path.read_text())
    package = _module_name(path).rsplit(".", 1)[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, id(node) in top_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
            found.extend((name, id(node) in top_level) for name in [base, *names])
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downwards_only(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    forbidden = FORBIDDEN.get(layer, ())
    for name, at_top in _imports(path):
        assert at_top, f"deferred import of {name}"
        assert not any(name == f or name.startswith(f"{f}.") for f in forbidden), name


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_resource_name_patterns_live_in_names_only() -> None:
    for path in _modules():
        if path.name == "names.py":
            continue
        assert "workspaces/{" not in path.read_text(), path
        assert 'f"workspaces/' not in path.read_text(), path
