"""The raw-driver floors every figure is compared with, measured in the same run.

Each floor makes its ids as the service does (`new_interrupt_id`: UUIDv7, random bits read in
bulk), so the floor pays for an id like the service and its keys land where the service's do.
`uuid.uuid4()` was a system call per id: most of the dict floor, and keys scattered over the
floor table's index.
"""

from __future__ import annotations

import sqlite3
import time
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
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(FLOOR_SCHEMA)
    latencies = []
    start = time.perf_counter()
    for n in range(count):
        began = time.perf_counter()
        interrupt_id = new_interrupt_id()
        now = "2026-01-01T00:00:00.000000+00:00"
        connection.execute(INSERT, (interrupt_id, f"req-{n}", now, now))
        cursor = connection.execute(UPDATE, ('{"text":"yes"}', now, interrupt_id))
        assert cursor.rowcount == 1
        latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    connection.close()
    return Timing(count, elapsed, latencies)


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
