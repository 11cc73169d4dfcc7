"""Interrupt stores: the storage boundary and its backends (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

from jeeves_protocols import DatabaseProtocol, InvalidInterruptError

from .base import (
    TERMINAL_EVENT_TYPES,
    Finish,
    FinishOutcome,
    Guard,
    InterruptEvent,
    InterruptStore,
)
from .memory import MemoryStore

__all__ = [
    "Finish",
    "FinishOutcome",
    "Guard",
    "InterruptEvent",
    "InterruptStore",
    "MemoryStore",
    "TERMINAL_EVENT_TYPES",
    "store_for",
]


def store_for(db: Any) -> InterruptStore:
    """The store behind a service's `db` argument.

    None -> in memory; a shipped database (SQLiteDatabase, PostgresDatabase) -> its own store;
    an InterruptStore -> itself; any other DatabaseProtocol object -> the PostgreSQL-dialect store
    speaking through its fetch_all.
    """
    if db is None:
        return MemoryStore()
    make_store = getattr(db, "interrupt_store", None)
    if callable(make_store):
        store: InterruptStore = make_store()
        return store
    if isinstance(db, InterruptStore):
        return db
    if isinstance(db, DatabaseProtocol):
        from .postgres import PostgresStore  # imported lazily: asyncpg is only needed for PostgreSQL

        return PostgresStore(db)
    raise InvalidInterruptError(
        f"db must satisfy DatabaseProtocol or InterruptStore, not {type(db).__name__}", field="db"
    )
