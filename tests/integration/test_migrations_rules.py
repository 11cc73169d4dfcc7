"""Migrations, precisely: re-applying changes no byte of the schema, the pending indexes are
partial, the journal's one-terminal-event rule is the database's own, and each hot query reads
through the index made for it (not merely some index)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.connector import positional_query
from jeeves_control_tower.store.sql import migrations, queries
from jeeves_control_tower.store.sqlite import SQLiteDatabase

#: The hot queries of the core and the partial index each must use.
HOT_QUERY_INDEX = {
    "pending_for_session": "jeeves_interrupts_pending_session",
    "pending_for_request": "jeeves_interrupts_pending_request",
    "expire_due": "jeeves_interrupts_pending_expiry",
}
PARTIAL = {
    "jeeves_interrupts_pending_session": "status = 'pending'",
    "jeeves_interrupts_pending_request": "status = 'pending'",
    "jeeves_interrupts_pending_expiry": "status = 'pending'",
    "jeeves_interrupts_idempotency_key": "idempotency_key IS NOT NULL",
}


def sqlite_schema(path: Path) -> tuple[list[Any], list[Any]]:
    connection = sqlite3.connect(path)
    try:
        objects = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        applied = connection.execute("SELECT * FROM jeeves_schema_migrations ORDER BY version").fetchall()
    finally:
        connection.close()
    return objects, applied


async def test_sqlite_reapplying_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        await service.create_clarification("r", "u", "s", "q?")
    first = sqlite_schema(path)
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        assert len(await service.get_pending_for_session("s")) == 1  # data kept across re-open
    assert sqlite_schema(path) == first
    assert [row[0] for row in first[1]] == [m.version for m in migrations("sqlite")]


async def test_sqlite_partial_indexes_and_hot_query_plans(tmp_path: Path) -> None:
    path = tmp_path / "plans.db"
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0):
        pass
    connection = sqlite3.connect(path)
    try:
        definitions = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())
        for index, condition in PARTIAL.items():
            assert condition in definitions[index].split("WHERE", 1)[1], definitions[index]
        q = queries("sqlite")
        params: dict[str, dict[str, Any]] = {
            "pending_for_session": {"session_id": "s", "now": "x", "kinds": None},
            "pending_for_request": {"request_id": "r", "now": "x"},
            "expire_due": {"now": "x", "received_at": "x", "limit": 10},
        }
        for name, index in HOT_QUERY_INDEX.items():
            steps = [str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + q[name], params[name])]
            assert any(f"USING INDEX {index}" in step for step in steps), (name, steps)
            assert not any(step.startswith("SCAN jeeves_interrupts") for step in steps), (name, steps)
    finally:
        connection.close()


async def test_sqlite_database_refuses_a_second_terminal_event(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        created = await service.create_clarification("r", "u", "s", "q?")
        await service.cancel_or_raise(created.id)
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at "
            "FROM jeeves_interrupt_events WHERE sequence = 2"
        ).fetchone()
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute(
                "INSERT INTO jeeves_interrupt_events (interrupt_id, event_type, sequence, request_id, user_id, "
                "session_id, payload, created_at) VALUES (?, 'interrupt.resolved', ?, ?, ?, ?, ?, ?)",
                (row[0], *row[2:]),
            )
    finally:
        connection.close()


async def postgres_schema(connection: asyncpg.Connection) -> tuple[list[Any], ...]:
    schema = await connection.fetchval("SELECT current_schema()")
    columns = await connection.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = $1 ORDER BY table_name, ordinal_position", schema,
    )
    indexes = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname", schema
    )
    applied = await connection.fetch("SELECT * FROM jeeves_schema_migrations ORDER BY version")
    return [tuple(r) for r in columns], [tuple(r) for r in indexes], [tuple(r) for r in applied]


@pytest.mark.postgres
async def test_postgres_reapplying_changes_nothing_and_plans_use_their_index(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0):
        pass
    connection = await asyncpg.connect(pg_dsn)
    try:
        first = await postgres_schema(connection)
        async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0):
            pass
        assert await postgres_schema(connection) == first
        assert [row[0] for row in first[2]] == [m.version for m in migrations("postgres")]
        event_columns = [c[1] for c in first[0] if c[0] == "jeeves_interrupt_events"]
        assert event_columns[:9] == [
            "seq", "interrupt_id", "event_type", "sequence", "request_id", "user_id", "session_id", "payload",
            "created_at",
        ]
        definitions = dict(first[1])
        for index, condition in PARTIAL.items():
            assert condition in definitions[index].split("WHERE", 1)[1], definitions[index]

        # Plans as a working table gets them: some thousands of interrupts over many sessions and
        # requests, analysed. (On an empty table every index costs the same, and the planner's
        # pick among them says nothing; pool connections re-plan as the table grows.)
        now = datetime.now(UTC)
        await connection.copy_records_to_table(
            "jeeves_interrupts",
            records=[(f"id-{n:05d}", "clarification", f"r{n}", f"u{n % 50}", f"s{n % 500}", "{}",
                      "pending" if n % 3 else "resolved", now, now + timedelta(hours=1)) for n in range(5_000)],
            columns=["id", "kind", "request_id", "user_id", "session_id", "data", "status", "created_at",
                     "expires_at"],
        )
        await connection.execute("ANALYZE jeeves_interrupts")
        params: dict[str, tuple[Any, ...]] = {
            "pending_for_session": ("s", now, None),
            "pending_for_request": ("r", now),
            "expire_due": (now, 10, "2026-01-01T00:00:00.000000+00:00"),
        }
        for name, index in HOT_QUERY_INDEX.items():
            # Named parameters become $n in the order they first appear, as the connector binds them.
            statement = await connection.prepare("EXPLAIN " + positional_query("postgres", name)[0])
            plan = "\n".join(r[0] for r in await statement.fetch(*params[name]))
            # An index scan ("using X on") or a bitmap scan of it ("Bitmap Index Scan on X").
            assert f"using {index} on jeeves_interrupts" in plan or f"Index Scan on {index}" in plan, (name, plan)
            assert "Seq Scan on jeeves_interrupts" not in plan, (name, plan)
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_postgres_database_refuses_a_second_terminal_event(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0) as service:
        created = await service.create_clarification("r", "u", "s", "q?")
        await service.cancel_or_raise(created.id)
    connection = await asyncpg.connect(pg_dsn)
    try:
        with pytest.raises(asyncpg.UniqueViolationError):
            await connection.execute(
                "INSERT INTO jeeves_interrupt_events (interrupt_id, event_type, sequence, request_id, user_id, "
                "session_id, payload, created_at) SELECT interrupt_id, 'interrupt.resolved', sequence, request_id, "
                "user_id, session_id, payload, created_at FROM jeeves_interrupt_events WHERE sequence = 2"
            )
    finally:
        await connection.close()
