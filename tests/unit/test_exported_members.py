"""Each public package's `__all__` is exactly its public names, sorted (as httpx's
tests/test_exported_members.py): a name added without exporting it, or exported without
existing, fails here. Submodules and `from __future__` features are not members."""

from __future__ import annotations
import __future__

import importlib
import types

import pytest

PUBLIC_PACKAGES = [
    "jeeves_protocols",
    "jeeves_control_tower",
    "jeeves_control_tower.api",
    "jeeves_control_tower.observability",
    "jeeves_control_tower.services",
    "jeeves_control_tower.store",
    "jeeves_control_tower.webhooks",
]
#: Provided on first access by the package's __getattr__ (PostgresDatabase needs asyncpg).
LAZY = {"jeeves_control_tower": {"PostgresDatabase"}}


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_is_exactly_the_public_members(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_") and not isinstance(value, (types.ModuleType, __future__._Feature))
    } | LAZY.get(name, set())
    assert module.__all__ == sorted(public, key=str.casefold)
    for member in module.__all__:
        assert getattr(module, member) is not None


def test_the_bench_uses_only_exported_names() -> None:
    """bench/ times the store's SQL through a supported API, never a private name."""
    import ast
    from pathlib import Path

    for path in Path(__file__).resolve().parents[2].joinpath("bench").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jeeves"):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert not alias.name.startswith("_"), (path.name, alias.name)
                    exported = getattr(module, "__all__", None)
                    assert exported is None or alias.name in exported, (path.name, node.module, alias.name)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                assert not (isinstance(owner, ast.Name) and owner.id not in ("self", "os")), (path.name, node.attr)
