"""PostgreSQL group commit: concurrent creates and finishes share one statement and one commit,
and each request still gets exactly what it would have got alone.

A spy on the batch statements (`many`) proves the requests really were batched, so these tests
fail if batching silently stops, not only if it gets something wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store import postgres
from jeeves_control_tower.store.listing import InterruptQuery
from jeeves_control_tower.store.postgres import PostgresDatabase, PostgresStore
from jeeves_protocols import (
    FlowInterrupt,
    InterruptExpiredError,
    InterruptKind,
    InterruptNotPendingError,
    InterruptResponse,
    InterruptStatus,
    InvalidResponseError,
    ResponderMismatchError,
    StoreError,
)
from tests.support.stores import FakeClock, Recorder, UserDatabase, open_service

pytestmark = pytest.mark.postgres

_ALL = InterruptQuery(limit=100)


class Spy:
    """Records the ids each batch statement carried, and whether it failed."""

    def __init__(self) -> None:
        self.creates: list[list[str]] = []
        self.finishes: list[list[str]] = []
        self.failed: list[list[str]] = []

    def batched_with_others(self, calls: list[list[str]], interrupt_id: str) -> bool:
        return any(interrupt_id in ids and len(ids) > 1 for ids in calls)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    recorded = Spy()

    def wrap(cls: type[Any], calls: list[list[str]]) -> None:
        original = cls.many

        async def many(self: Any, connection: Any, items: list[dict[str, Any]]) -> Any:
            ids = [str(item["id"]) for item in items]
            calls.append(ids)
            try:
                return await original(self, connection, items)
            except asyncpg.PostgresError:
                recorded.failed.append(ids)
                raise

        monkeypatch.setattr(cls, "many", many)

    wrap(postgres._Create, recorded.creates)
    wrap(postgres._Finish, recorded.finishes)
    return recorded


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[InterruptService]:
    async with InterruptService(db=PostgresDatabase(pg_dsn, max_size=4), sweep_interval=0) as running:
        yield running


async def journal(service: InterruptService) -> list[Any]:
    return await service.store.events_after(0, 100_000)


async def test_many_concurrent_round_trips_resolve_with_two_journal_rows_each(
    service: InterruptService, spy: Spy
) -> None:
    async def round_trip(n: int) -> FlowInterrupt:
        created = await service.create_clarification(f"r{n}", "u", f"s{n % 7}", "q?")
        return await service.respond_or_raise(created.id, InterruptResponse(text=f"answer {n}"))

    resolved = await asyncio.gather(*(round_trip(n) for n in range(120)))

    assert all(interrupt.status is InterruptStatus.RESOLVED for interrupt in resolved)
    assert [interrupt.response.text for interrupt in resolved if interrupt.response] == [
        f"answer {n}" for n in range(120)
    ]
    events = await journal(service)
    per_interrupt = Counter(event.interrupt_id for event in events)
    assert set(per_interrupt) == {interrupt.id for interrupt in resolved}
    assert set(per_interrupt.values()) == {2}
    for event in events:
        assert (event.sequence, event.type) in {
            (1, "interrupt.clarification_needed"), (2, "interrupt.resolved")
        }
        if event.sequence == 2:
            assert event.interrupt.status is InterruptStatus.RESOLVED
    # Each journal row is the interrupt as committed: what the service returned.
    final = {event.interrupt_id: event.interrupt for event in events if event.sequence == 2}
    assert all(final[interrupt.id] == interrupt for interrupt in resolved)
    assert max(map(len, spy.creates)) > 1 and max(map(len, spy.finishes)) > 1
    assert not spy.failed


async def test_responders_racing_for_one_interrupt_one_winner_each_loser_told_why(
    service: InterruptService, spy: Spy
) -> None:
    target = await service.create_clarification("r", "u", "s", "q?")
    others = [await service.create_clarification(f"r{n}", "u", "s", "q?") for n in range(20)]

    async def attempt(interrupt_id: str, n: int, user_id: str) -> Any:
        try:
            return await service.respond_or_raise(interrupt_id, InterruptResponse(text=f"a{n}"), user_id)
        except (InterruptNotPendingError, ResponderMismatchError) as exc:
            return exc

    # The wrong responder comes first in every pair: the batch must not let it win or block the right one.
    racers = [attempt(target.id, n, "mallory" if n % 2 == 0 else "u") for n in range(30)]
    bystanders = [attempt(other.id, n, "u") for n, other in enumerate(others)]
    mixed = [call for pair in zip(racers, [*bystanders, *([None] * 10)], strict=True) for call in pair if call]
    outcomes = await asyncio.gather(*mixed)

    on_target = [o for o in outcomes if not isinstance(o, Exception) and o.id == target.id]
    assert len(on_target) == 1
    winner = on_target[0]
    assert winner.response is not None and winner.response.responder_id == "u"
    rejected = [o for o in outcomes if isinstance(o, Exception)]
    assert len(rejected) == 29
    assert all(
        isinstance(o, ResponderMismatchError)
        or (isinstance(o, InterruptNotPendingError) and o.status is InterruptStatus.RESOLVED)
        for o in rejected
    )
    resolved_others = [o for o in outcomes if not isinstance(o, Exception) and o.id != target.id]
    assert sorted(o.id for o in resolved_others) == sorted(o.id for o in others)

    terminal = [e for e in await journal(service) if e.interrupt_id == target.id and e.sequence == 2]
    assert len(terminal) == 1 and terminal[0].interrupt == winner
    # The target's finishes really shared statements with the other interrupts' finishes, and
    # no statement ever carried one interrupt twice.
    assert spy.batched_with_others(spy.finishes, target.id)
    assert all(len(ids) == len(set(ids)) for ids in spy.finishes)


async def test_idempotency_key_reused_within_one_batch_stores_one_interrupt(
    service: InterruptService, spy: Spy
) -> None:
    async def create(n: int) -> FlowInterrupt:
        if n == 0:  # a neighbour first, so the repeated key does not take the lone-request path
            return await service.create_clarification("other", "u", "s", "q?")
        return await service.create_clarification("r", "u", "s", "q?", idempotency_key="once")

    created = await asyncio.gather(*(create(n) for n in range(12)))

    keyed = created[1:]
    assert len({interrupt.id for interrupt in keyed}) == 1
    stored = await service.store.get_by_idempotency_key("once")
    assert stored == keyed[0]
    events = [e for e in await journal(service) if e.interrupt.idempotency_key == "once"]
    assert [e.sequence for e in events] == [1]
    # Eleven requests with the same key went to the database together; one row came out.
    assert any(len(ids) >= 11 for ids in spy.creates)
    rows = await service.store.list_interrupts(dataclasses.replace(_ALL, request_id="r"))
    assert len(rows) == 1


async def test_a_response_that_does_not_fit_fails_alone(service: InterruptService, spy: Spy) -> None:
    confirmations = [await service.create_confirmation(f"r{n}", "u", "s", "ok?") for n in range(8)]
    clarification = await service.create_clarification("rc", "u", "s", "q?")

    async def approve(interrupt: FlowInterrupt) -> Any:
        try:
            return await service.respond_or_raise(interrupt.id, InterruptResponse(approved=True))
        except InvalidResponseError as exc:
            return exc

    outcomes = await asyncio.gather(*(approve(i) for i in [confirmations[0], clarification, *confirmations[1:]]))

    assert isinstance(outcomes[1], InvalidResponseError)
    assert all(o.status is InterruptStatus.RESOLVED for o in [outcomes[0], *outcomes[2:]])
    still = await service.get_interrupt(clarification.id)
    assert still is not None and still.status is InterruptStatus.PENDING
    assert spy.batched_with_others(spy.finishes, clarification.id)


async def test_interrupts_due_when_answered_in_a_batch_expire_and_only_they(pg_dsn: str, spy: Spy) -> None:
    clock = FakeClock()
    async with open_service(PostgresDatabase(pg_dsn), Recorder(), clock, sweep_interval=0) as service:
        short = [
            await service.create_interrupt(InterruptKind.CLARIFICATION, f"s{n}", "u", "s", question="q?",
                                           ttl=timedelta(seconds=10))
            for n in range(6)
        ]
        lasting = [
            await service.create_interrupt(InterruptKind.CLARIFICATION, f"l{n}", "u", "s", question="q?",
                                           ttl=timedelta(hours=1))
            for n in range(6)
        ]
        clock.advance(seconds=30)

        async def answer(interrupt: FlowInterrupt) -> Any:
            try:
                return await service.respond_or_raise(interrupt.id, InterruptResponse(text="late?"))
            except InterruptExpiredError as exc:
                return exc

        interleaved = [i for pair in zip(lasting, short, strict=True) for i in pair]
        outcomes = dict(zip((i.id for i in interleaved), await asyncio.gather(*map(answer, interleaved)), strict=True))

        assert all(isinstance(outcomes[i.id], InterruptExpiredError) for i in short)
        assert all(outcomes[i.id].status is InterruptStatus.RESOLVED for i in lasting)
        for interrupt in short:
            stored = await service.get_interrupt(interrupt.id)
            assert stored is not None and stored.status is InterruptStatus.EXPIRED
        assert any(len(ids) > 1 and set(ids) & {i.id for i in short} for ids in spy.finishes)


async def test_a_batch_statement_that_fails_is_retried_one_by_one(pg_dsn: str, spy: Spy) -> None:
    store = PostgresDatabase(pg_dsn).interrupt_store()
    await store.open()
    try:
        requests = [
            FlowInterrupt(
                id=f"00000000-0000-7000-8000-{n:012d}", kind=InterruptKind.CLARIFICATION,
                request_id=f"r{n}", user_id="u", session_id="s",
                # PostgreSQL text cannot hold NUL: this row makes the whole statement fail.
                question="bad\x00question" if n == 3 else "q?",
            )
            for n in range(6)
        ]
        outcomes = await asyncio.gather(
            *(store.create(i, "interrupt.clarification_needed") for i in requests), return_exceptions=True
        )

        assert isinstance(outcomes[3], StoreError)
        assert [o[1] for n, o in enumerate(outcomes) if n != 3] == [True] * 5  # type: ignore[index]
        assert spy.failed and requests[3].id in spy.failed[0] and len(spy.failed[0]) > 1
        events = await store.events_after(0, 100)
        assert sorted(e.interrupt_id for e in events) == [i.id for n, i in enumerate(requests) if n != 3]
        assert await store.get(requests[3].id) is None
    finally:
        await store.close()


async def test_close_waits_for_queued_writes(pg_dsn: str) -> None:
    database = PostgresDatabase(pg_dsn)
    store = database.interrupt_store()
    await store.open()
    requests = [
        FlowInterrupt(
            id=f"00000000-0000-7000-8000-{n:012d}", kind=InterruptKind.CLARIFICATION,
            request_id=f"r{n}", user_id="u", session_id="s",
        )
        for n in range(30)
    ]
    writes = [asyncio.ensure_future(store.create(i, "interrupt.clarification_needed")) for i in requests]
    await asyncio.sleep(0)  # every write is handed over (one running, the rest queued)
    await store.close()
    assert all(write.done() and write.result()[1] for write in writes)

    reopened = PostgresDatabase(pg_dsn).interrupt_store()
    await reopened.open()
    try:
        assert len(await reopened.events_after(0, 100)) == 30
    finally:
        await reopened.close()


async def test_a_user_database_object_takes_the_plain_path(pg_dsn: str, spy: Spy) -> None:
    store = PostgresStore(UserDatabase(pg_dsn))
    async with InterruptService(db=store.db, sweep_interval=0) as service:

        async def round_trip(n: int) -> FlowInterrupt:
            created = await service.create_clarification(f"r{n}", "u", "s", "q?")
            return await service.respond_or_raise(created.id, InterruptResponse(text="yes"))

        resolved = await asyncio.gather(*(round_trip(n) for n in range(20)))
        assert all(i.status is InterruptStatus.RESOLVED for i in resolved)
        assert len(await journal(service)) == 40
    assert spy.creates == [] and spy.finishes == []


async def test_a_caller_cancelled_mid_statement_leaves_the_writers_usable(service: InterruptService) -> None:
    cancelled = 0
    for n in range(20):
        abandoned = asyncio.ensure_future(service.create_clarification(f"gone{n}", "u", "s", "q?"))
        for _ in range(n % 5):  # cancel at different points: before, while and after it is sent
            await asyncio.sleep(0)
        await asyncio.sleep(0.0002 * (n % 3))
        abandoned.cancel()
        outcome = (await asyncio.gather(abandoned, return_exceptions=True))[0]
        cancelled += isinstance(outcome, asyncio.CancelledError)
        created = await service.create_clarification(f"r{n}", "u", "s", "q?")
        answered = await service.respond_or_raise(created.id, InterruptResponse(text="yes"))
        assert answered.status is InterruptStatus.RESOLVED
    assert cancelled
