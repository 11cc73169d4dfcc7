"""The import graph the design draws: data flows one way. Only store/ imports a database driver;
nothing in api/ imports store/ (the API goes through the service); jeeves_protocols imports
nothing of ours. Read from the source with `ast`, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import jeeves_control_tower
import jeeves_protocols

DRIVERS = {"asyncpg", "sqlite3", "psycopg", "psycopg2", "aiosqlite"}
PACKAGE = Path(str(resources.files(jeeves_control_tower)))


def _imports(path: Path, package: str) -> set[str]:
    """Absolute module names imported anywhere in the file (relative ones resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _modules(root: Path, top: str) -> dict[Path, set[str]]:
    result = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        package = ".".join((top, *parts[:-1]))  # what a relative import in it starts from
        result[path] = _imports(path, package)
    return result


def test_only_the_store_imports_a_database_driver() -> None:
    modules = _modules(PACKAGE, "jeeves_control_tower")
    assert len(modules) > 40
    for path, imported in modules.items():
        if path.relative_to(PACKAGE).parts[0] == "store":
            continue
        drivers = {name.split(".")[0] for name in imported} & DRIVERS
        assert not drivers, (path, drivers)


def test_the_api_reaches_storage_only_through_the_service() -> None:
    for path, imported in _modules(PACKAGE, "jeeves_control_tower").items():
        if path.relative_to(PACKAGE).parts[0] == "api":
            store = {name for name in imported if name.startswith("jeeves_control_tower.store")}
            assert not store, (path, store)


def test_the_protocols_import_nothing_of_ours() -> None:
    root = Path(str(resources.files(jeeves_protocols)))
    for path, imported in _modules(root, "jeeves_protocols").items():
        ours = {name for name in imported if name.startswith("jeeves_control_tower")}
        assert not ours, (path, ours)
