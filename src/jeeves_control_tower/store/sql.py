"""SQL kept in `.sql` files: named query blocks (`queries/common/`, `queries/<dialect>/`), and numbered
migrations (`migrations/<dialect>/`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")


_REFERENCE = re.compile(r"\{(\w+)\}")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("--")


def _blocks(text: str) -> dict[str, str]:
    """The `-- name: x` blocks of a `.sql` file's text, by name, comment lines dropped."""
    parts = _NAME.split(text)
    return {
        name: "\n".join(line for line in body.strip().rstrip(";").splitlines() if not _is_comment(line))
        for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


@cache
def queries(dialect: Dialect) -> dict[str, str]:
    """Every `-- name: x` block of `queries/common/*.sql` (statements that read the same in both
    dialects) and `queries/<dialect>/*.sql`, by name: a name is defined once across them. A block
    may use another (say, an expression several statements share) as `{name}`."""
    root = resources.files(__package__).joinpath("queries")
    blocks: dict[str, str] = {}
    for folder in ("common", dialect):
        for entry in sorted(root.joinpath(folder).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                for name, body in _blocks(entry.read_text("utf-8")).items():
                    if name in blocks:
                        raise ValueError(f"query {name!r} is named twice in queries/common/ and {dialect}/")
                    blocks[name] = body
    return {
        name: _REFERENCE.sub(lambda m: blocks[m[1]] if m[1] in blocks else m[0], body)
        for name, body in blocks.items()
    }


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


@cache
def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """The numbered migrations of `migrations/<dialect>/`, in order, split into statements."""
    folder = resources.files(__package__).joinpath(f"migrations/{dialect}")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(
                Migration(int(match[1]), match[2], tuple(split_statements(entry.read_text("utf-8"))))
            )
    return tuple(sorted(found, key=lambda migration: migration.version))


def split_statements(script: str) -> list[str]:
    """Statements of a migration script: they end with `;` at the end of a line; comments dropped."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    statements = (stmt.strip().rstrip(";").strip() for stmt in "\n".join(lines).split(";\n"))
    return [stmt for stmt in statements if stmt]
