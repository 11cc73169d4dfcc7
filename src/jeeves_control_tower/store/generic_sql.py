"""The seed's table-level DatabaseProtocol calls (insert/update), built once for both dialects.

Identifiers are checked against a strict pattern and quoted; values always travel as parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jeeves_protocols import InvalidInterruptError

Placeholder = Callable[[int], str]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def qmark(_: int) -> str:
    return "?"


def dollar(position: int) -> str:
    return f"${position}"


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise InvalidInterruptError(f"not a valid SQL identifier: {name!r}", field="table")
    return f'"{name}"'


def insert_statement(
    table: str, data: Mapping[str, Any], placeholder: Placeholder
) -> tuple[str, tuple[Any, ...]]:
    if not data:
        raise InvalidInterruptError("insert needs at least one column", field="data")
    columns = ", ".join(_identifier(name) for name in data)
    values = ", ".join(placeholder(i) for i in range(1, len(data) + 1))
    return f"INSERT INTO {_identifier(table)} ({columns}) VALUES ({values})", tuple(data.values())


def update_statement(
    table: str, data: Mapping[str, Any], where: Mapping[str, Any], placeholder: Placeholder
) -> tuple[str, tuple[Any, ...]]:
    if not data:
        raise InvalidInterruptError("update needs at least one column to set", field="data")
    if not where:
        # An update of every row is never what an interrupt store means; refuse it outright.
        raise InvalidInterruptError("update needs a where clause", field="where")
    sets = ", ".join(f"{_identifier(name)} = {placeholder(i)}" for i, name in enumerate(data, 1))
    offset = len(data)
    conditions = " AND ".join(
        f"{_identifier(name)} = {placeholder(i)}" for i, name in enumerate(where, offset + 1)
    )
    return f"UPDATE {_identifier(table)} SET {sets} WHERE {conditions}", (*data.values(), *where.values())


def is_read_only(query: str) -> bool:
    """Whether a statement only reads (so it may go to a read connection)."""
    head = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
    return head == "SELECT" or (head == "WITH" and not re.search(r"\b(INSERT|UPDATE|DELETE)\b", query, re.I))
