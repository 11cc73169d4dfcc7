"""More of the store definition, on every store: the seed hooks for every transition, the
background sweeper doing the expiry on its own, a clock that turns naive mid-run, ids and
timeouts of the wrong type, and bad cancel input. Each bad call changes nothing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store import MemoryStore
from jeeves_control_tower.store.listing import InterruptQuery
from jeeves_protocols import (
    InterruptKind,
    InterruptNotFoundError,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    WaitTimeoutError,
)
from tests.integration.conftest import Harness
from tests.support.stores import FakeClock, Recorder, open_service

TERMINAL_EVENTS = {"interrupt.resolved", "interrupt.cancelled", "interrupt.expired"}


def log_events(recorder: Recorder) -> list[str]:
    return [event for _, event, _ in recorder.logs]


# -- the seed hooks -----------------------------------------------------------------------


async def test_every_transition_reaches_logger_otel_and_webhooks(harness: Harness) -> None:
    service, recorder, clock = harness.service, harness.recorder, harness.clock
    answered = await service.create_confirmation("r1", "u", "s", "ok?")
    cancelled = await service.create_interrupt(InterruptKind.AGENT_REVIEW, "r2", "u", "s", message="m")
    swept = await service.create_interrupt(InterruptKind.TIMEOUT, "r3", "u", "s", message="m")
    await service.respond_or_raise(answered.id, InterruptResponse(approved=True))
    await service.cancel_or_raise(cancelled.id, reason="no longer needed")
    clock.advance(minutes=6)
    assert await service.expire_pending() == 1

    expected = [
        ("interrupt.confirmation_needed", answered.id),
        ("interrupt.agent_review", cancelled.id),
        ("interrupt.timeout", swept.id),
        ("interrupt.resolved", answered.id),
        ("interrupt.cancelled", cancelled.id),
        ("interrupt.expired", swept.id),
    ]
    assert [(event, data["id"]) for event, data, _ in recorder.webhooks] == expected
    assert [request for _, _, request in recorder.webhooks] == ["r1", "r2", "r3", "r1", "r2", "r3"]
    assert [(name, attributes["interrupt.id"]) for name, _, attributes in recorder.otel_events] == expected
    assert log_events(recorder) == [
        "interrupt_created", "interrupt_created", "interrupt_created",
        "interrupt_resolved", "interrupt_cancelled", "interrupt_expired",
    ]
    # Each webhook carries the interrupt exactly as the journal's event for it.
    journal = await harness.journal()
    assert [(e.type, e.interrupt_id) for e in journal] == expected
    for event, (_, data, _) in zip(journal, recorder.webhooks, strict=True):
        assert event.interrupt.to_dict() == data


async def test_expiry_event_carries_the_full_interrupt(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?", context={"options": [1, 2]})
    harness.clock.advance(hours=25)
    expired = await harness.service.get_interrupt(created.id)
    assert expired is not None and expired.status is InterruptStatus.EXPIRED
    assert expired.data == {"options": [1, 2]} and expired.question == "q?"
    (event,) = [e for e in await harness.journal() if e.type in TERMINAL_EVENTS]
    assert (event.type, event.sequence) == ("interrupt.expired", 2)
    assert event.interrupt == expired


async def test_rejections_are_logged_with_their_reason(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    assert await harness.service.cancel("missing") is None
    assert await harness.service.respond(created.id, InterruptResponse(approved=True)) is None
    assert await harness.service.respond(created.id, InterruptResponse(text="x"), user_id="other") is None
    rejected = [(event, fields["reason"]) for _, event, fields in harness.recorder.logs if "rejected" in event]
    assert rejected == [
        ("interrupt_cancel_rejected", "not_found"),
        ("interrupt_respond_rejected", "invalid_response"),
        ("interrupt_respond_rejected", "responder_mismatch"),
    ]


# -- the background sweeper ---------------------------------------------------------------


@asynccontextmanager
async def two_services(harness_db_factory: Any, store_kind: str) -> AsyncIterator[tuple[Any, ...]]:
    """A sweeping service and a waiting one over the same data, each with its own clock."""
    shared = MemoryStore() if store_kind == "memory" else None
    sweeper_recorder, waiter_recorder = Recorder(), Recorder()
    sweeper_clock, waiter_clock = FakeClock(), FakeClock()
    sweeper_db = shared if shared is not None else harness_db_factory()
    waiter_db = shared if shared is not None else harness_db_factory()
    async with (
        open_service(sweeper_db, sweeper_recorder, sweeper_clock, sweep_interval=0.005) as sweeper,
        open_service(waiter_db, waiter_recorder, waiter_clock, sweep_interval=0) as waiter,
    ):
        yield sweeper, sweeper_recorder, sweeper_clock, waiter, waiter_recorder


async def _announced(recorder: Recorder, expected: list[str], within: float = 5.0) -> None:
    """Return once `recorder` holds the `expected` webhook events, or after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while recorder.webhook_types() != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)


async def test_background_sweeper_expires_on_its_own(db_factory: Any, store_kind: str) -> None:
    async with two_services(db_factory, store_kind) as (sweeper, swept_log, sweeper_clock, waiter, waiter_log):
        created = await waiter.create_interrupt(InterruptKind.TIMEOUT, "r", "u", "s", message="m")
        sweeper_clock.advance(minutes=10)
        # The waiter's clock has not moved, so it cannot expire the interrupt itself: only the
        # sweeper's expiry (pushed, or polled across connections) can end this wait in time.
        finished = await waiter.wait_for_response(created.id, timeout=30)
        assert finished.status is InterruptStatus.EXPIRED
        # The waiter can wake on the commit's NOTIFY before the sweeper's task has resumed from
        # that same commit to announce it: give the announcement its turn, then check it.
        await _announced(swept_log, ["interrupt.expired"])
        assert swept_log.webhook_types() == ["interrupt.expired"]
        assert waiter_log.webhook_types() == ["interrupt.timeout"]
        # Later sweeps find nothing left to announce.
        assert await sweeper.expire_pending() == 0
        journal = await waiter.store.events_after(0, 100)
        assert [e.type for e in journal] == ["interrupt.timeout", "interrupt.expired"]
    assert swept_log.webhook_types() == ["interrupt.expired"]


# -- bad input changes nothing ------------------------------------------------------------


async def test_clock_turning_naive_mid_run_is_refused(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    before = await harness.journal()
    aware_now = harness.clock.now
    harness.clock.now = datetime(2026, 1, 1, 13, 0)  # no tzinfo
    with pytest.raises(InvalidInterruptError) as raised:
        await harness.service.create_clarification("r2", "u", "s", "q?")
    assert raised.value.field == "clock()"
    with pytest.raises(InvalidInterruptError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(text="x"))
    assert await harness.service.respond(created.id, InterruptResponse(text="x")) is None
    assert await harness.service.cancel(created.id) is None
    with pytest.raises(InvalidInterruptError):
        await harness.service.expire_pending()
    harness.clock.now = aware_now
    assert await harness.journal() == before
    still = await harness.service.get_interrupt(created.id)
    assert still is not None and still.status is InterruptStatus.PENDING


@pytest.mark.parametrize("bad_id", [None, 5, b"bytes", "\ud800"])
async def test_ids_of_the_wrong_type_are_simply_not_found(harness: Harness, bad_id: Any) -> None:
    """Every store answers alike (PostgreSQL would otherwise fail to bind the parameter)."""
    await harness.service.create_clarification("r", "u", "s", "q?")
    before = await harness.journal()
    service = harness.service
    assert await service.get_interrupt(bad_id) is None
    assert await service.get_pending_for_request(bad_id) is None
    assert await service.get_pending_for_session(bad_id) == []
    if bad_id is not None:  # None as a listing filter means "any"
        assert await service.list_interrupts(InterruptQuery(session_id=bad_id)) == []
        assert await service.list_interrupts(InterruptQuery(user_id=bad_id, status=InterruptStatus.PENDING)) == []
    assert await service.respond(bad_id, InterruptResponse(text="x")) is None
    assert await service.cancel(bad_id) is None
    with pytest.raises(InterruptNotFoundError):
        await service.respond_or_raise(bad_id, InterruptResponse(text="x"))
    with pytest.raises(InterruptNotFoundError):
        await service.cancel_or_raise(bad_id)
    with pytest.raises(InterruptNotFoundError):
        await service.wait_for_response(bad_id, timeout=1)
    assert await harness.journal() == before


@pytest.mark.parametrize("timeout", ["30", math.nan, math.inf, True, [1]])
async def test_wait_timeout_must_be_a_finite_number(harness: Harness, timeout: Any) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    with pytest.raises(InvalidInterruptError) as raised:
        await harness.service.wait_for_response(created.id, timeout=timeout)
    assert raised.value.field == "timeout"


@pytest.mark.parametrize(("reason", "field"), [("x" * 2_001, "reason"), (42, "reason")])
async def test_bad_cancel_reason_changes_nothing(harness: Harness, reason: Any, field: str) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    before = await harness.journal()
    with pytest.raises(InvalidInterruptError) as raised:
        await harness.service.cancel_or_raise(created.id, reason)
    assert raised.value.field == field
    assert await harness.service.cancel(created.id, reason) is None
    assert await harness.journal() == before
    stored = await harness.service.get_interrupt(created.id)
    assert stored is not None and stored.status is InterruptStatus.PENDING and stored.data == {}


async def test_bad_response_data_changes_nothing(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    before = await harness.journal()
    for bad in (
        InterruptResponse(text="ok", data={"big": "x" * (256 * 1024)}),
        InterruptResponse(text="ok", data={"inf": math.inf}),
        InterruptResponse(text="y" * 20_001),
        InterruptResponse(decision=7),  # type: ignore[arg-type]
        InterruptResponse(text="\ud800"),
        InterruptResponse(decision="go\udc00"),
        InterruptResponse(text="ok", responder_id=object()),  # type: ignore[arg-type]
        InterruptResponse(text="ok", responder_id=""),
    ):
        assert await harness.service.respond(created.id, bad) is None
    assert await harness.journal() == before
    assert harness.recorder.webhook_types() == ["interrupt.clarification_needed"]


async def test_zero_retry_after_is_due_at_once(harness: Harness) -> None:
    exhausted = await harness.service.create_resource_exhausted("r", "u", "s", "tokens", 0)
    assert exhausted.expires_at == harness.clock.now
    assert await harness.service.get_pending_for_request("r") is None
    with pytest.raises(InvalidInterruptError):
        await harness.service.create_resource_exhausted("r", "u", "s", "tokens", -1)
    with pytest.raises(InvalidInterruptError):
        await harness.service.create_resource_exhausted("r", "u", "s", "", 5)
    assert [e.type for e in await harness.journal()] == ["interrupt.resource_exhausted"]


async def test_a_due_interrupt_cannot_be_cancelled(harness: Harness) -> None:
    created = await harness.service.create_interrupt(
        InterruptKind.CONFIRMATION, "r", "u", "s", message="ok?", ttl=timedelta(seconds=1)
    )
    harness.clock.advance(seconds=1)  # exactly at its expiry: due
    assert await harness.service.cancel(created.id, "too late") is None
    stored = await harness.service.get_interrupt(created.id)
    assert stored is not None and stored.status is InterruptStatus.EXPIRED
    assert "cancel_reason" not in stored.data
    assert [e.type for e in await harness.journal()] == ["interrupt.confirmation_needed", "interrupt.expired"]


async def test_service_without_hooks_works_and_checks_its_clock() -> None:
    """The seed's optional collaborators really are optional; the clock is probed at once."""
    clock = FakeClock()
    async with InterruptService(clock=clock, sweep_interval=0) as service:
        created = await service.create_clarification("r", "u", "s", "q?")
        assert created.trace_id is None and created.span_id is None
        resolved = await service.respond_or_raise(created.id, InterruptResponse(text="a"))
        assert resolved.status is InterruptStatus.RESOLVED
    with pytest.raises(InvalidInterruptError):
        InterruptService(clock=lambda: datetime(2026, 1, 1))


# -- waiting ------------------------------------------------------------------------------


async def test_every_waiter_wakes_on_cancel(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    waiters = [asyncio.create_task(harness.service.wait_for_response(created.id, timeout=30)) for _ in range(3)]
    await asyncio.sleep(0)  # let the waiters start (on memory this parks them on their wake-up)
    await harness.service.cancel_or_raise(created.id, reason="gone")
    for finished in await asyncio.gather(*waiters):
        assert finished.status is InterruptStatus.CANCELLED
        assert finished.data == {"cancel_reason": "gone"}


async def test_wait_with_zero_timeout_looks_once(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")
    with pytest.raises(WaitTimeoutError):
        await harness.service.wait_for_response(created.id, timeout=0)
    await harness.service.respond_or_raise(created.id, InterruptResponse(text="a"))
    assert (await harness.service.wait_for_response(created.id, timeout=0)).status is InterruptStatus.RESOLVED


# -- failing collaborators ----------------------------------------------------------------


class BrokenWebhooks:
    async def emit_event(self, event_type: str, data: dict[str, Any], request_id: Any = None) -> int:
        raise ConnectionError("receiver down")


class BrokenOTel:
    def record_event(self, name: str, request_id: str, attributes: Any = None) -> None:
        raise RuntimeError("exporter down")

    def get_trace_context(self, request_id: str) -> Any:
        raise RuntimeError("no tracer")


async def test_failing_announcers_never_fail_an_operation(db_factory: Any) -> None:
    """The store already committed; a broken hook is logged and the caller gets the result."""
    from tests.support.stores import RecordingLogger

    recorder, clock = Recorder(), FakeClock()
    service = InterruptService(
        db=db_factory(), logger=RecordingLogger(recorder), webhook_service=BrokenWebhooks(),
        otel_adapter=BrokenOTel(), clock=clock, sweep_interval=0,
    )
    async with service:
        created = await service.create_clarification("r", "u", "s", "q?")
        assert created.trace_id is None
        resolved = await service.respond_or_raise(created.id, InterruptResponse(text="a"))
        assert resolved.status is InterruptStatus.RESOLVED
        journal = await service.store.events_after(0, 10)
        assert [e.type for e in journal] == ["interrupt.clarification_needed", "interrupt.resolved"]
    assert log_events(recorder) == [
        "otel_trace_context_failed",
        "interrupt_created", "otel_record_failed", "webhook_emit_failed",
        "interrupt_resolved", "otel_record_failed", "webhook_emit_failed",
    ]


# -- lifecycle ----------------------------------------------------------------------------


async def test_lazy_open_and_restart(db_factory: Any) -> None:
    """Calls open the store on first use; a stopped service may be started again."""
    service = InterruptService(db=db_factory(), clock=FakeClock(), sweep_interval=0)
    created = await service.create_clarification("r", "u", "s", "q?")  # never started
    await service.stop()
    async with service:
        assert await service.get_interrupt(created.id) == created
        await service.respond_or_raise(created.id, InterruptResponse(text="a"))
    async with service:
        stored = await service.get_interrupt(created.id)
        assert stored is not None and stored.status is InterruptStatus.RESOLVED
        assert len(await service.store.events_after(0, 10)) == 2


async def test_waiter_returns_expired_when_the_expiry_passes_while_it_waits(db_factory: Any) -> None:
    """Real clock, no sweeper, nobody else acting: the waiter itself notices the expiry."""
    async with InterruptService(db=db_factory(), sweep_interval=0) as service:
        created = await service.create_interrupt(
            InterruptKind.CONFIRMATION, "r", "u", "s", message="ok?", ttl=timedelta(milliseconds=50)
        )
        assert created.status is InterruptStatus.PENDING
        finished = await service.wait_for_response(created.id, timeout=30)
        assert finished.status is InterruptStatus.EXPIRED
        journal = await service.store.events_after(0, 10)
        assert [e.type for e in journal] == ["interrupt.confirmation_needed", "interrupt.expired"]
