"""The narrow boundary between the SQL stores and a database: one `Connector` per database.

A store names a query (a `-- name:` block of `queries/<dialect>/*.sql`) and passes its parameters
by name; the connector runs it. Dialects differ only in those files, never in a store's Python:

    rows = await connector.fetch("list_subscriptions")
    changed = await connector.execute("redeliver", delivery_id=delivery_id, at=now)
    await connector.transaction(work)     # work(tx) runs every statement in one transaction

Parameters travel as values the database understands: a `datetime` is ISO 8601 text on SQLite
and timestamptz on PostgreSQL, a `bool` an integer on SQLite, and a list an array on PostgreSQL
and JSON text on SQLite (which a query reads with `json_each`). A query may be given more
parameters than it names; it takes the ones it names.

A connector is the only place a driver error becomes StoreError (with the cause kept). The
SQLite and PostgreSQL databases translate their own drivers' errors (`SQLiteDatabase.store_error`,
`_driver_errors.pg_errors`); anything a user's DatabaseProtocol object raises is wrapped here.

Transactions on SQLite run inside the database's group commit, on the event-loop thread, so
`work` must await nothing but its own statements (they complete without suspending); that is
checked, and anything else is a programming error, not a silent loss of atomicity.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Optional, Protocol, TypeVar

from jeeves_protocols import DatabaseProtocol
from jeeves_protocols.interrupts import format_time

from ._driver_errors import any_db_errors
from .generic_sql import is_read_only
from .sql import Dialect
from .sql import queries as named_queries

if TYPE_CHECKING:
    from .postgres import PostgresDatabase
    from .sqlite import SQLiteDatabase

__all__ = [
    "Connector",
    "Transaction",
    "SQLiteConnector",
    "PostgresConnector",
    "ProtocolConnector",
    "named_queries",
    "connector_for",
    "positional_query",
    "pg_named_arguments",
    "fetch_tolerantly",
    "Rows",
]

T = TypeVar("T")
Rows = list[dict[str, Any]]
#: Seconds a migration statement may run (a schema change on a big table), past the usual bound.
MIGRATION_TIMEOUT = 3600.0


class Transaction(Protocol):
    """Statements inside one transaction."""

    async def fetch(self, query: str, **params: Any) -> Rows: ...

    async def execute(self, query: str, **params: Any) -> int:
        """Run a statement; how many rows it changed."""

    async def execute_many(self, query: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    async def execute_script(self, statement: str) -> None:
        """One statement of a migration file (not a named query), with no time limit."""


class Connector(Protocol):
    dialect: Dialect

    async def fetch(self, query: str, **params: Any) -> Rows: ...

    async def fetch_built(self, statement: str, params: Mapping[str, Any]) -> Rows:
        """A read built at run time (listing.py's filtered listings) with `:name` placeholders:
        the named-query rules apply to it, only the text comes from the caller."""

    async def execute(self, query: str, **params: Any) -> int: ...

    async def transaction(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T: ...

    async def listen(self, channel: str, callback: Callable[[Optional[str]], None]) -> Optional[Any]:
        """Call `callback(payload)` on every NOTIFY on `channel` (None: some may have been
        missed); an object with `close()`, or None where the database cannot push."""


# -- named queries ----------------------------------------------------------------------------

#: `:name`, but not the second colon of a PostgreSQL cast (`::text`) nor part of a word.
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)  # named queries, and the few shapes a listing's filters can take
def _numbered(text: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders rewritten as `$1`, and the parameter names in position order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    return _PARAMETER.sub(number, text), tuple(order)


def positional_query(dialect: Dialect, name: str) -> tuple[str, tuple[str, ...]]:
    """A named query rewritten for a `$1` driver, and the parameter names in position order (for a
    caller that binds them itself: PostgreSQL's group-commit writers pass arrays of them)."""
    return _numbered(named_queries(dialect)[name])


def _pg_arguments(statement: str, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """A `:name` statement (a named query's text, or a built one) and its values, for asyncpg."""
    text, order = _numbered(statement)
    try:
        return text, tuple(params[key] for key in order)
    except KeyError as missing:
        raise TypeError(f"statement needs parameter {missing}: {statement[:80]!r}") from None


def pg_named_arguments(name: str, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The named PostgreSQL query as a `$1` driver takes it, and its values in parameter order."""
    return _pg_arguments(named_queries("postgres")[name], params)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return value


def _sqlite_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _sqlite_value(value) for key, value in params.items()}


@cache
def _read_only(text: str) -> bool:
    return is_read_only(text)


def _run_to_completion(work: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (a SQLite transaction's work)."""
    try:
        work.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    work.close()
    raise RuntimeError("a SQLite transaction may await only its own statements")


# -- SQLite -----------------------------------------------------------------------------------


def _text_or_bytes(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # from_db_row refuses bytes where text belongs: only this row is unreadable


def fetch_tolerantly(
    connection: sqlite3.Connection, statement: str, params: Any, *, tolerant: bool = False
) -> list[sqlite3.Row]:
    """The rows of a read. Text that is not UTF-8 (written by another tool) fails a whole fetch
    in sqlite3; then the read runs again with such text as bytes, so that only its row is
    unreadable. A write's RETURNING must not run twice, so it asks for `tolerant` up front."""
    if not tolerant:
        try:
            return connection.execute(statement, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):
                raise
    connection.text_factory = _text_or_bytes
    try:
        return connection.execute(statement, params).fetchall()
    finally:
        connection.text_factory = str



class _SQLiteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    async def fetch(self, query: str, **params: Any) -> Rows:
        text = named_queries("sqlite")[query]
        # A read runs again, tolerantly, only if text that is not UTF-8 failed it; a write is
        # tolerant up front (its RETURNING must not run twice).
        rows = fetch_tolerantly(self.connection, text, _sqlite_params(params), tolerant=not _read_only(text))
        return [dict(row) for row in rows]

    async def execute(self, query: str, **params: Any) -> int:
        return self.connection.execute(named_queries("sqlite")[query], _sqlite_params(params)).rowcount

    async def execute_many(self, query: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.connection.executemany(named_queries("sqlite")[query], [_sqlite_params(row) for row in rows])

    async def execute_script(self, statement: str) -> None:
        self.connection.execute(statement)


class SQLiteConnector:
    """Reads on the database's read connection; every write is a job of its group commit."""

    dialect: Dialect = "sqlite"

    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database

    async def fetch(self, query: str, **params: Any) -> Rows:
        return await self.fetch_built(named_queries("sqlite")[query], params)

    async def fetch_built(self, statement: str, params: Mapping[str, Any]) -> Rows:
        values = _sqlite_params(params)
        read_only = _read_only(statement)

        def run(connection: sqlite3.Connection) -> Rows:
            # A read runs again, tolerantly, only if text that is not UTF-8 failed it.
            rows = fetch_tolerantly(connection, statement, values, tolerant=not read_only)
            return [dict(row) for row in rows]

        if read_only:
            return self.database.read(run)
        return await self.database.commit(run)

    async def execute(self, query: str, **params: Any) -> int:
        text = named_queries("sqlite")[query]
        values = _sqlite_params(params)
        count: int = await self.database.commit(lambda connection: connection.execute(text, values).rowcount)
        return count

    async def transaction(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        def run(connection: sqlite3.Connection) -> T:
            return _run_to_completion(work(_SQLiteTransaction(connection)))

        return await self.database.commit(run)

    async def listen(self, channel: str, callback: Callable[[Optional[str]], None]) -> None:
        """A SQLite file cannot push another process's commits: callers poll."""
        return None


# -- PostgreSQL -------------------------------------------------------------------------------


class _PostgresTransaction:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def fetch(self, query: str, **params: Any) -> Rows:
        text, values = pg_named_arguments(query, params)
        return [dict(record) for record in await self.connection.fetch(text, *values)]

    async def execute(self, query: str, **params: Any) -> int:
        text, values = pg_named_arguments(query, params)
        return _changed(await self.connection.execute(text, *values))

    async def execute_many(self, query: str, rows: Sequence[Mapping[str, Any]]) -> None:
        text, order = positional_query("postgres", query)
        await self.connection.executemany(text, [tuple(row[key] for key in order) for row in rows])

    async def execute_script(self, statement: str) -> None:
        # A migration may rewrite a big table: past the pool's per-statement bound.
        await self.connection.execute(statement, timeout=MIGRATION_TIMEOUT)


def _changed(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1"); 0 for one without a count."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresConnector:
    """Statements on the database's pool; a transaction holds one pool connection."""

    dialect: Dialect = "postgres"

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    async def fetch(self, query: str, **params: Any) -> Rows:
        return await self.fetch_built(named_queries("postgres")[query], params)

    async def fetch_built(self, statement: str, params: Mapping[str, Any]) -> Rows:
        text, values = _pg_arguments(statement, params)
        async with self.database.connection() as connection:
            return [dict(record) for record in await connection.fetch(text, *values)]

    async def execute(self, query: str, **params: Any) -> int:
        text, values = pg_named_arguments(query, params)
        async with self.database.connection() as connection:
            return _changed(await connection.execute(text, *values))

    async def transaction(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        # connection() turns driver failures anywhere in its block into StoreError.
        async with self.database.connection() as connection, connection.transaction():
            return await work(_PostgresTransaction(connection))

    async def listen(self, channel: str, callback: Callable[[Optional[str]], None]) -> Any:
        return await self.database.listen(channel, callback)


# -- a user's DatabaseProtocol object ---------------------------------------------------------


class _ProtocolStatements:
    """Statements through the object's fetch_all ($1 placeholders): it offers no transaction, so
    each statement stands alone (queries meant for it are written to be safe that way)."""

    def __init__(self, db: DatabaseProtocol) -> None:
        self.db = db

    async def fetch(self, query: str, **params: Any) -> Rows:
        return await self.fetch_built(named_queries("postgres")[query], params)

    async def fetch_built(self, statement: str, params: Mapping[str, Any]) -> Rows:
        text, values = _pg_arguments(statement, params)
        with any_db_errors():
            return [dict(row) for row in await self.db.fetch_all(text, values)]

    async def execute(self, query: str, **params: Any) -> int:
        # fetch_all returns rows, not a count: queries run through here RETURN what they change.
        return len(await self.fetch(query, **params))

    async def execute_many(self, query: str, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            await self.fetch(query, **row)

    async def execute_script(self, statement: str) -> None:
        with any_db_errors():
            await self.db.fetch_all(statement, ())


class ProtocolConnector(_ProtocolStatements):
    """The PostgreSQL dialect through any object with the seed's DatabaseProtocol methods."""

    dialect: Dialect = "postgres"

    async def transaction(self, work: Callable[[Transaction], Coroutine[Any, Any, T]]) -> T:
        return await work(self)

    async def listen(self, channel: str, callback: Callable[[Optional[str]], None]) -> None:
        return None


def connector_for(db: Any) -> Connector:
    """The connector of a database the package ships, or of any DatabaseProtocol object."""
    from .sqlite import SQLiteDatabase

    if isinstance(db, SQLiteDatabase):
        return SQLiteConnector(db)
    from .postgres import PostgresDatabase  # asyncpg is imported only when PostgreSQL is used

    if isinstance(db, PostgresDatabase):
        return PostgresConnector(db)
    return ProtocolConnector(db)
