"""PostgreSQL: the journal's seq follows commit order (migration 0006), so a reader following it by
"seq > the last one seen", as the event stream does, can never pass a row that commits later."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.listing import EventQuery
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_protocols import InterruptResponse
from tests.support.stores import Recorder, RecordingLogger

pytestmark = pytest.mark.postgres

#: Another writer's journal row (a copy of the creation event, under another interrupt id).
_HELD_ROW = (
    "INSERT INTO jeeves_interrupt_events"
    " (interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)"
    " SELECT 'someone-else', event_type, sequence, request_id, user_id, session_id, payload, created_at"
    " FROM jeeves_interrupt_events WHERE interrupt_id = $1 RETURNING seq"
)


async def test_a_journal_row_waits_for_an_uncommitted_earlier_one(pg_dsn: str) -> None:
    async with InterruptService(PostgresDatabase(pg_dsn), logger=RecordingLogger(Recorder()), sweep_interval=0) as service:
        created = await service.create_clarification("r0", "u", "s", "q?")
        other_writer = await asyncpg.connect(pg_dsn)
        try:
            transaction = other_writer.transaction()
            await transaction.start()
            held_seq = await other_writer.fetchval(_HELD_ROW, created.id)  # drawn, not committed
            answer = asyncio.ensure_future(service.respond_or_raise(created.id, InterruptResponse(text="ok")))
            await asyncio.sleep(0.3)
            # With an identity column the answer committed at once with a higher seq: a reader at
            # this moment moved past held_seq, and never saw that row once it committed.
            assert not answer.done()
            assert [e.type for e in await service.store.events_for(EventQuery())] == ["interrupt.clarification_needed"]
            await transaction.commit()
            await asyncio.wait_for(answer, 5)
        finally:
            await other_writer.close()
        journal = await service.store.events_for(EventQuery())
        assert [e.seq for e in journal] == sorted(e.seq for e in journal)
        assert journal[-1].type == "interrupt.resolved" and journal[-1].seq > held_seq


async def test_a_follower_of_several_instances_misses_nothing(pg_dsn: str) -> None:
    services = [InterruptService(PostgresDatabase(pg_dsn), logger=RecordingLogger(Recorder()), sweep_interval=0) for _ in range(3)]
    for service in services:
        await service.start()
    try:
        reader, seen, after, producing = services[0].store, set(), 0, True

        async def follow() -> None:
            nonlocal after
            while producing:
                for event in await reader.events_for(EventQuery(after_seq=after, limit=500)):
                    after = event.seq
                    seen.add(event.seq)
                await asyncio.sleep(0)

        async def produce(service: InterruptService, agent: str) -> None:
            for n in range(25):
                asked = await service.create_clarification(f"{agent}-{n}", "u", "s", "q?")
                await service.cancel_or_raise(asked.id)

        follower = asyncio.ensure_future(follow())
        await asyncio.gather(*(produce(s, uuid.uuid4().hex) for s in services for _ in range(6)))
        producing = False
        await follower
        seen.update(e.seq for e in await reader.events_for(EventQuery(after_seq=after, limit=10_000)))
        connection = await asyncpg.connect(pg_dsn)
        try:
            journal = {seq for (seq,) in await connection.fetch("SELECT seq FROM jeeves_interrupt_events")}
        finally:
            await connection.close()
        assert len(journal) == 3 * 6 * 25 * 2
        assert journal == seen
    finally:
        for service in services:
            await service.stop()
