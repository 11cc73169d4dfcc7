"""Applying every migration yields the expected schema; again is a no-op; hot queries use indexes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.connector import positional_query
from jeeves_control_tower.store.sql import migrations, queries
from jeeves_control_tower.store.sqlite import SQLiteDatabase

INTERRUPT_COLUMNS = [
    "id", "kind", "request_id", "user_id", "session_id", "envelope_id", "question", "message", "data",
    "status", "response", "created_at", "expires_at", "resolved_at", "trace_id", "span_id", "idempotency_key",
]
EVENT_COLUMNS = [
    "seq", "interrupt_id", "event_type", "sequence", "request_id", "user_id", "session_id", "payload", "created_at",
]
INDEXES = {
    "jeeves_interrupts_idempotency_key",
    "jeeves_interrupts_pending_session",
    "jeeves_interrupts_pending_request",
    "jeeves_interrupts_pending_expiry",
    "jeeves_interrupts_user_id",
}


def test_every_dialect_has_the_same_migration_versions() -> None:
    assert [m.version for m in migrations("sqlite")] == [m.version for m in migrations("postgres")]
    assert migrations("sqlite")[0].version == 1


async def test_sqlite_schema(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    for _ in range(2):  # the second open applies nothing
        async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0):
            pass
    connection = sqlite3.connect(path)
    columns = [row[1] for row in connection.execute("PRAGMA table_info(jeeves_interrupts)")]
    assert columns[: len(INTERRUPT_COLUMNS)] == INTERRUPT_COLUMNS
    events = [row[1] for row in connection.execute("PRAGMA table_info(jeeves_interrupt_events)")]
    assert events[: len(EVENT_COLUMNS)] == EVENT_COLUMNS
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert indexes >= INDEXES
    versions = [row[0] for row in connection.execute("SELECT version FROM jeeves_schema_migrations")]
    assert versions == [m.version for m in migrations("sqlite")]
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    q = queries("sqlite")
    plans = {
        "pending_for_session": {"session_id": "s", "now": "x", "kinds": None},
        "pending_for_request": {"request_id": "r", "now": "x"},
        "expire_due": {"now": "x", "received_at": "x", "limit": 10},
    }
    for name, params in plans.items():
        steps = [str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + q[name], params)]
        touching = [step for step in steps if "jeeves_interrupts" in step]
        assert touching, (name, steps)
        assert all("INDEX" in step or "PRIMARY KEY" in step for step in touching), (name, steps)
    connection.close()


@pytest.mark.postgres
async def test_postgres_schema(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    for _ in range(2):
        async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0):
            pass
    connection = await asyncpg.connect(pg_dsn)
    try:
        schema = await connection.fetchval("SELECT current_schema()")
        columns = [
            r["column_name"]
            for r in await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
                "AND table_name = 'jeeves_interrupts' ORDER BY ordinal_position", schema,
            )
        ]
        assert columns[: len(INTERRUPT_COLUMNS)] == INTERRUPT_COLUMNS
        indexes = {r["indexname"] for r in await connection.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = $1", schema)}
        assert indexes >= INDEXES
        versions = [r["version"] for r in await connection.fetch("SELECT version FROM jeeves_schema_migrations")]
        assert versions == [m.version for m in migrations("postgres")]

        await connection.execute("SET enable_seqscan = off")
        plans = {
            "pending_for_session": ("s", None, None),
            "pending_for_request": ("r", None),
        }
        for name, params in plans.items():
            # Named parameters become $n in the order they first appear, as the connector binds them.
            statement = await connection.prepare("EXPLAIN " + positional_query("postgres", name)[0])
            plan = "\n".join(r[0] for r in await statement.fetch(*params))
            assert "Index" in plan and "Seq Scan" not in plan, (name, plan)
    finally:
        await connection.close()
