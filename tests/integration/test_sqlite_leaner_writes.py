"""SQLite migration 0005: the journal without AUTOINCREMENT, webhook fan-out by a cursor, and
pending-only status listing, applied to a file that already holds interrupts and journal rows."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.listing import InterruptQuery, list_statement
from jeeves_control_tower.store.sql import migrations, queries
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_control_tower.webhooks import WebhookService
from jeeves_protocols import InterruptResponse, InterruptStatus
from jeeves_protocols.interrupts import format_time
from tests.support.webhook_receiver import Receiver

LOOPBACK = ["127.0.0.0/8"]


def _at_version_4(path: Path) -> None:
    """A file as 0001-0004 left it: six journal rows, the first four already fanned out."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(queries("sqlite")["create_migrations_table"])
    for migration in migrations("sqlite")[:4]:
        for statement in migration.statements:
            connection.execute(statement)
        record = {"version": migration.version, "name": migration.name}
        connection.execute(queries("sqlite")["record_migration"], record)
    for n in range(3):
        connection.execute(
            "INSERT INTO jeeves_interrupts (id, kind, request_id, user_id, session_id, question, status,"
            " created_at, expires_at) VALUES (?, 'clarification', ?, 'u1', 's1', 'q?', 'pending', ?, NULL)",
            (f"old-{n}", f"r{n}", f"2026-01-01T00:00:0{n}.000000+00:00"),
        )
        for sequence, event_type in ((1, "interrupt.clarification_needed"), (2, "interrupt.cancelled")):
            # As versions 1-4 journalled: a JSON snapshot in every row.
            connection.execute(
                "INSERT INTO jeeves_interrupt_events (interrupt_id, event_type, sequence, request_id, user_id,"
                " session_id, payload, created_at) SELECT id, ?, ?, request_id, user_id, session_id,"
                " json_object('id', id, 'kind', kind, 'request_id', request_id, 'user_id', user_id,"
                " 'session_id', session_id, 'data', json(data), 'status', status, 'created_at', created_at,"
                " 'question', 'as asked then'), created_at FROM jeeves_interrupts WHERE id = ?",
                (event_type, sequence, f"old-{n}"),
            )
    connection.execute("UPDATE jeeves_interrupt_events SET fanned_out_at = created_at WHERE seq <= 4")
    connection.close()


async def test_an_existing_file_keeps_its_journal_and_fans_out_only_what_was_not(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _at_version_4(path)
    async with Receiver() as receiver:
        db = SQLiteDatabase(path)
        webhooks = WebhookService(db, allow_networks=LOOPBACK, poll_interval=0.05)
        async with InterruptService(db, webhook_service=webhooks, sweep_interval=0) as service:
            await webhooks.create_subscription(receiver.url, ["*"])
            await webhooks.run_until_idle()
            # Seqs 5 and 6 were never fanned out: they are delivered, 1-4 are not replayed.
            assert sorted(r.json["data"]["id"] for r in receiver.requests) == ["old-2", "old-2"]

            events = await service.store.events_after(0, 100)
            assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]  # seqs kept across the rebuild
            # Old rows keep the snapshot they were written with (the interrupt row says 'q?').
            assert {e.interrupt.question for e in events} == {"as asked then"}
            assert {r.json["data"]["question"] for r in receiver.requests} == {"as asked then"}
            created = await service.create_clarification("r9", "u1", "s1", "new?")
            await service.respond_or_raise(created.id, InterruptResponse(text="x"))
            await webhooks.run_until_idle()
            later = await service.store.events_after(6, 100)
            assert [(e.seq, e.interrupt.id) for e in later] == [(7, created.id), (8, created.id)]
            assert [r.json["type"] for r in receiver.requests[2:]] == [
                "interrupt.clarification_needed", "interrupt.resolved"
            ]
        await webhooks.stop()

    connection = sqlite3.connect(path)
    try:
        schema = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'jeeves_interrupt_events'"
        ).fetchone()[0]
        assert "AUTOINCREMENT" not in schema.upper() and "fanned_out_at" not in schema
        assert connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'"
                                  " AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jeeves_interrupt_events')"
                                  ).fetchone()[0] == 0
        assert connection.execute("SELECT last_seq FROM jeeves_webhook_fanout").fetchone()[0] == 8
    finally:
        connection.close()


async def test_listing_pending_reads_the_partial_index_and_other_statuses_still_list(tmp_path: Path) -> None:
    path = tmp_path / "list.db"
    async with InterruptService(SQLiteDatabase(path), sweep_interval=0) as service:
        first = await service.create_clarification("r1", "u1", "s1", "q?")
        await service.create_clarification("r2", "u1", "s1", "q?")
        await service.cancel_or_raise(first.id)
        pending = await service.store.list_interrupts(InterruptQuery(status=InterruptStatus.PENDING))
        cancelled = await service.store.list_interrupts(InterruptQuery(status=InterruptStatus.CANCELLED))
        assert [i.request_id for i in pending] == ["r2"] and [i.id for i in cancelled] == [first.id]

    connection = sqlite3.connect(path)
    try:
        # As the service lists pending ones: with `now`, due ones are left out by a filter on the rows.
        for query in (InterruptQuery(status=InterruptStatus.PENDING),
                      InterruptQuery(status=InterruptStatus.PENDING, now=datetime.now(UTC))):
            statement, params = list_statement(query)
            params = {k: format_time(v) if isinstance(v, datetime) else v for k, v in params.items()}
            plan = [str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + statement, params)]
            assert any("USING INDEX jeeves_interrupts_pending_created" in step for step in plan), plan
    finally:
        connection.close()
