"""The store queries the API needs, on memory, SQLite and PostgreSQL: listing and the filtered journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.listing import EventQuery, InterruptQuery
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import InterruptKind, InterruptStatus


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    # A sync fixture: pg_dsn runs its own event loop, which an async fixture cannot host.
    if request.param == "sqlite":
        return SQLiteDatabase(tmp_path / "l.db")
    if request.param == "postgres":
        return PostgresDatabase(request.getfixturevalue("pg_dsn"))
    return None


@pytest.fixture
async def service(db: Any) -> AsyncIterator[InterruptService]:
    async with InterruptService(db, sweep_interval=3600) as running:
        yield running


async def test_listing_filters_orders_newest_first_and_pages(service: InterruptService) -> None:
    made = []
    for i in range(7):
        made.append(
            await service.create_clarification(
                f"r{i}", "alice" if i % 2 else "bob", f"s{i % 3}", question=f"q{i}"
            )
        )
    await service.cancel_or_raise(made[0].id)
    store = service.store
    newest_first = [m.id for m in sorted(made, key=lambda m: (m.created_at, m.id), reverse=True)]
    assert [i.id for i in await store.list_interrupts(InterruptQuery())] == newest_first
    alice = await store.list_interrupts(InterruptQuery(user_id="alice"))
    assert {i.user_id for i in alice} == {"alice"} and len(alice) == 3
    both = await store.list_interrupts(InterruptQuery(user_id="bob", session_id="s0"))
    assert sorted(i.request_id for i in both) == ["r0", "r6"]
    cancelled = await store.list_interrupts(InterruptQuery(status=InterruptStatus.CANCELLED))
    assert [i.id for i in cancelled] == [made[0].id]
    assert await store.list_interrupts(InterruptQuery(kind=InterruptKind.CONFIRMATION)) == []
    paged: list[str] = []
    before = None
    while True:
        page = await store.list_interrupts(InterruptQuery(before=before, limit=3))
        paged.extend(i.id for i in page)
        if len(page) < 3:
            break
        before = (page[-1].created_at, page[-1].id)
    assert paged == newest_first


async def test_journal_filtered_by_user_and_session_resumes_after_a_position(
    service: InterruptService,
) -> None:
    a = await service.create_clarification("r1", "alice", "s1", question="q")
    b = await service.create_clarification("r2", "bob", "s2", question="q")
    await service.cancel_or_raise(a.id)
    store = service.store
    alice_events = await store.events_for(EventQuery(user_id="alice"))
    assert [(e.interrupt.id, e.type) for e in alice_events] == [
        (a.id, "interrupt.clarification_needed"),
        (a.id, "interrupt.cancelled"),
    ]
    assert [e.interrupt.id for e in await store.events_for(EventQuery(session_id="s2"))] == [b.id]
    later = await store.events_for(EventQuery(after_seq=alice_events[0].seq, user_id="alice"))
    assert [e.type for e in later] == ["interrupt.cancelled"]
    assert await store.events_for(EventQuery(user_id="alice", session_id="s2")) == []


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_due_interrupt_is_never_listed_as_pending(db: Any) -> None:
    clock = _Clock()
    async with InterruptService(db, sweep_interval=0, clock=clock) as service:
        ask = service.create_interrupt
        soon = await ask(InterruptKind.CLARIFICATION, "r1", "alice", "s", question="q", ttl=timedelta(minutes=1))
        later = await ask(InterruptKind.CLARIFICATION, "r2", "alice", "s", question="q", ttl=timedelta(hours=1))
        never = await ask(InterruptKind.CHECKPOINT, "r3", "alice", "s", message="m")  # auto_expire off
        due_unlisted = await ask(InterruptKind.CLARIFICATION, "r4", "bob", "t", question="q", ttl=timedelta(minutes=1))
        clock.now += timedelta(minutes=2)  # two are due now; no sweeper has run

        pending = await service.list_interrupts(InterruptQuery(status=InterruptStatus.PENDING))
        assert {i.id for i in pending} == {later.id, never.id}
        # The store's own query leaves them out given the moment, in SQL as in memory.
        raw = await service.store.list_interrupts(InterruptQuery(status=InterruptStatus.PENDING, now=clock.now))
        assert {i.id for i in raw} == {later.id, never.id}
        # A page is filled past a due one, not cut short by it.
        page = await service.list_interrupts(InterruptQuery(user_id="alice", status=InterruptStatus.PENDING, limit=2))
        assert {i.id for i in page} == {later.id, never.id}

        # Unfiltered, the due one of alice's is expired on the spot and listed as expired.
        alices = await service.list_interrupts(InterruptQuery(user_id="alice"))
        assert {i.id: i.status for i in alices} == {
            soon.id: InterruptStatus.EXPIRED, later.id: InterruptStatus.PENDING, never.id: InterruptStatus.PENDING}
        # The expired filter expires what is due first: bob's, never listed before, is there too.
        expired = await service.list_interrupts(InterruptQuery(status=InterruptStatus.EXPIRED))
        assert {i.id for i in expired} == {soon.id, due_unlisted.id}
        # Each expiry journalled once, however often it was listed.
        await service.list_interrupts(InterruptQuery(user_id="alice"))
        journal = await service.store.events_after(0, 100)
        assert sorted(e.interrupt.id for e in journal if e.type == "interrupt.expired") == sorted(
            [soon.id, due_unlisted.id])
