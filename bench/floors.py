"""The raw-driver floors every figure is compared with, measured in the same run.

Each floor makes its ids as the service does (`new_interrupt_id`: UUIDv7, random bits read in
bulk), so the floor pays for an id like the service and its keys land where the service's do.
`uuid.uuid4()` was a system call per id: most of the dict floor, and keys scattered over the
floor table's index.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bench.stats import Timing, timed
from jeeves_control_tower.services.ids import new_interrupt_id

FLOOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_interrupts (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT NOT NULL,
    session_id TEXT NOT NULL, question TEXT, data TEXT NOT NULL, status TEXT NOT NULL,
    response TEXT, created_at TEXT NOT NULL, expires_at TEXT, resolved_at TEXT)
"""
INSERT = (
    "INSERT INTO floor_interrupts (id, kind, request_id, user_id, session_id, question, data, status, created_at, expires_at)"
    " VALUES (?, 'clarification', ?, 'user', 'sess', 'q?', '{}', 'pending', ?, ?)"
)
UPDATE = (
    "UPDATE floor_interrupts SET status = 'resolved', response = ?, resolved_at = ?"
    " WHERE id = ? AND status = 'pending'"
)


def sqlite_floor(path: Path, count: int) -> Timing:
    """stdlib sqlite3, WAL, synchronous=NORMAL: one INSERT and one conditional UPDATE, each committed."""

    def round_trip(connection: sqlite3.Connection, n: int, interrupt_id: str, now: str) -> None:
        connection.execute(INSERT, (interrupt_id, f"req-{n}", now, now))
        cursor = connection.execute(UPDATE, ('{"text":"yes"}', now, interrupt_id))
        assert cursor.rowcount == 1

    return _timed_sqlite(path, count, (FLOOR_SCHEMA,), round_trip)


def _timed_sqlite(
    path: Path,
    count: int,
    schema: tuple[str, ...],
    round_trip: Callable[[sqlite3.Connection, int, str, str], None],
) -> Timing:
    """`count` round trips on a bare autocommit connection (WAL, synchronous=NORMAL), each making
    its id as the service does; the schema is made before the clock starts."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in schema:
        connection.execute(statement)
    latencies = []
    start = time.perf_counter()
    for n in range(count):
        began = time.perf_counter()
        round_trip(connection, n, new_interrupt_id(), "2026-01-01T00:00:00.000000+00:00")
        latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    connection.close()
    return Timing(count, elapsed, latencies)


JOURNALLED_SCHEMA = (
    FLOOR_SCHEMA.replace("floor_interrupts", "floor_j_interrupts"),
    # The indexes the seed's queries need, and no more: pending by request (get_pending_for_request),
    # by session (get_pending_for_session) and by expiry (the sweep).
    "CREATE INDEX IF NOT EXISTS floor_j_pending_request ON floor_j_interrupts (request_id)"
    " WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS floor_j_pending_session ON floor_j_interrupts (session_id)"
    " WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS floor_j_pending_expiry ON floor_j_interrupts (expires_at)"
    " WHERE status = 'pending'",
    "CREATE TABLE IF NOT EXISTS floor_j_events (seq INTEGER PRIMARY KEY, interrupt_id TEXT NOT NULL,"
    " event_type TEXT NOT NULL, created_at TEXT NOT NULL)",
)
JOURNAL = "INSERT INTO floor_j_events (interrupt_id, event_type, created_at) VALUES (?, ?, ?)"


def sqlite_journalled_floor(path: Path, count: int) -> Timing:
    """stdlib sqlite3, WAL, synchronous=NORMAL, doing exactly the rows a round trip must write: the
    interrupt row and its creation journal row in one commit, then the conditional update and its
    terminal journal row in a second, on a schema with only the indexes the seed's queries need."""
    insert, update = (s.replace("floor_interrupts", "floor_j_interrupts") for s in (INSERT, UPDATE))

    def round_trip(connection: sqlite3.Connection, n: int, interrupt_id: str, now: str) -> None:
        connection.execute("BEGIN")
        connection.execute(insert, (interrupt_id, f"req-{n}", now, now))
        connection.execute(JOURNAL, (interrupt_id, "interrupt.clarification_needed", now))
        connection.execute("COMMIT")
        connection.execute("BEGIN")
        cursor = connection.execute(update, ('{"text":"yes"}', now, interrupt_id))
        assert cursor.rowcount == 1
        connection.execute(JOURNAL, (interrupt_id, "interrupt.resolved", now))
        connection.execute("COMMIT")

    return _timed_sqlite(path, count, JOURNALLED_SCHEMA, round_trip)


async def postgres_floor(dsn: str, count: int) -> Timing:
    """The bare asyncpg driver doing the same two statements on one connection (autocommit)."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(FLOOR_SCHEMA)
        insert = await connection.prepare(
            "INSERT INTO floor_interrupts (id, kind, request_id, user_id, session_id, question, data, status,"
            " created_at, expires_at) VALUES ($1, 'clarification', $2, 'user', 'sess', 'q?', '{}', 'pending', $3, $3)"
        )
        update = await connection.prepare(
            "UPDATE floor_interrupts SET status = 'resolved', response = $1, resolved_at = $2"
            " WHERE id = $3 AND status = 'pending'"
        )

        async def one(n: int) -> None:
            interrupt_id = new_interrupt_id()
            await insert.fetch(interrupt_id, f"req-{n}", "2026-01-01T00:00:00+00:00")
            await update.fetch('{"text":"yes"}', "2026-01-01T00:00:00+00:00", interrupt_id)

        return await timed(one, count)
    finally:
        await connection.close()


def dict_floor(count: int) -> Timing:
    """The memory store's reference: a plain dict insert and update."""
    table: dict[str, dict[str, object]] = {}
    latencies = []
    start = time.perf_counter()
    for n in range(count):
        began = time.perf_counter()
        interrupt_id = new_interrupt_id()
        table[interrupt_id] = {"request_id": f"req-{n}", "status": "pending"}
        row = table[interrupt_id]
        if row["status"] == "pending":
            row["status"] = "resolved"
        latencies.append(time.perf_counter() - began)
    return Timing(count, time.perf_counter() - start, latencies)
