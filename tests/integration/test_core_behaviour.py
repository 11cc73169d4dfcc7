"""The definition of a store: the whole seed API and its rules, on memory, SQLite, PostgreSQL and
a user's own DatabaseProtocol object. Every test runs once per store."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from jeeves_control_tower.services import EventQuery, InterruptConfig
from jeeves_protocols import (
    IdempotencyConflictError,
    InterruptError,
    InterruptExpiredError,
    InterruptKind,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    InvalidResponseError,
    ResponderMismatchError,
    StoreError,
    WaitTimeoutError,
)
from tests.integration.conftest import Harness
from tests.support.stores import open_service

TERMINAL_EVENTS = {"interrupt.resolved", "interrupt.cancelled", "interrupt.expired"}


async def ask(h: Harness, request_id: str = "req-1", **kwargs: Any) -> Any:
    return await h.service.create_clarification(
        request_id=request_id,
        user_id=kwargs.pop("user_id", "user-1"),
        session_id=kwargs.pop("session_id", "sess-1"),
        question=kwargs.pop("question", "Which module first?"),
        **kwargs,
    )


def terminal_events(journal: list[Any], interrupt_id: str) -> list[Any]:
    return [e for e in journal if e.interrupt_id == interrupt_id and e.type in TERMINAL_EVENTS]


# -- creation -----------------------------------------------------------------------------


async def test_create_clarification_stores_announces_and_journals(harness: Harness) -> None:
    created = await ask(harness, context={"options": ["OAuth", "JWT"]}, envelope_id="env-1")
    assert created.kind is InterruptKind.CLARIFICATION
    assert created.status is InterruptStatus.PENDING
    assert created.data == {"options": ["OAuth", "JWT"]}
    assert created.expires_at == harness.clock.now + timedelta(hours=24)
    assert created.created_at.tzinfo is not None
    assert (created.trace_id, created.span_id) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")

    stored = await harness.service.get_interrupt(created.id)
    assert stored == created
    assert harness.recorder.webhook_types() == ["interrupt.clarification_needed"]
    assert harness.recorder.webhooks[0][1] == created.to_dict()
    assert harness.recorder.webhooks[0][2] == "req-1"
    assert [name for name, _, _ in harness.recorder.otel_events] == ["interrupt.clarification_needed"]
    assert any(event == "interrupt_created" for _, event, _ in harness.recorder.logs)
    journal = await harness.journal()
    assert [(e.type, e.sequence) for e in journal] == [("interrupt.clarification_needed", 1)]
    assert journal[0].interrupt == created


@pytest.mark.parametrize(
    ("kind", "event", "ttl"),
    [
        (InterruptKind.CLARIFICATION, "interrupt.clarification_needed", timedelta(hours=24)),
        (InterruptKind.CONFIRMATION, "interrupt.confirmation_needed", timedelta(hours=1)),
        (InterruptKind.AGENT_REVIEW, "interrupt.agent_review", timedelta(minutes=30)),
        (InterruptKind.CHECKPOINT, "interrupt.checkpoint", None),
        (InterruptKind.RESOURCE_EXHAUSTED, "interrupt.resource_exhausted", timedelta(minutes=5)),
        (InterruptKind.TIMEOUT, "interrupt.timeout", timedelta(minutes=5)),
        (InterruptKind.SYSTEM_ERROR, "interrupt.system_error", timedelta(hours=1)),
    ],
)
async def test_each_kind_gets_its_event_and_default_ttl(
    harness: Harness, kind: InterruptKind, event: str, ttl: timedelta | None
) -> None:
    created = await harness.service.create_interrupt(kind, "req-1", "user-1", "sess-1", message="m")
    assert created.expires_at == (harness.clock.now + ttl if ttl else None)
    assert harness.recorder.webhook_types() == [event]
    assert [e.type for e in await harness.journal()] == [event]


async def test_confirmation_and_resource_exhausted_helpers(harness: Harness) -> None:
    confirm = await harness.service.create_confirmation(
        "req-1", "user-1", "sess-1", "This will modify 15 files. Proceed?",
        action_data={"files_count": 15, "operation": "refactor"},
    )
    assert confirm.message == "This will modify 15 files. Proceed?"
    assert confirm.data == {"files_count": 15, "operation": "refactor"}
    exhausted = await harness.service.create_resource_exhausted(
        "req-2", "user-1", "sess-1", resource_type="max_llm_calls", retry_after_seconds=60.0
    )
    assert exhausted.kind is InterruptKind.RESOURCE_EXHAUSTED
    assert exhausted.data == {"resource_type": "max_llm_calls", "retry_after_seconds": 60.0}
    assert exhausted.expires_at == harness.clock.now + timedelta(seconds=60)


async def test_explicit_ttl_is_honoured_zero_and_negative_are_due(harness: Harness) -> None:
    service = harness.service
    long = await service.create_interrupt(
        InterruptKind.CLARIFICATION, "r1", "u", "s", question="q", ttl=timedelta(days=3)
    )
    assert long.expires_at == harness.clock.now + timedelta(days=3)
    zero = await service.create_interrupt(InterruptKind.CLARIFICATION, "r2", "u", "s", question="q", ttl=timedelta(0))
    negative = await service.create_interrupt(
        InterruptKind.CLARIFICATION, "r3", "u", "s", question="q", ttl=timedelta(seconds=-5)
    )
    # Already due: never listed as pending, even before any sweep.
    assert [p.id for p in await service.get_pending_for_session("s")] == [long.id]
    assert await service.get_pending_for_request("r2") is None
    assert await service.expire_pending() == 2
    assert (await service.get_interrupt(zero.id)).status is InterruptStatus.EXPIRED  # type: ignore[union-attr]
    assert (await service.get_interrupt(negative.id)).status is InterruptStatus.EXPIRED  # type: ignore[union-attr]


async def test_checkpoint_never_expires(harness: Harness) -> None:
    checkpoint = await harness.service.create_interrupt(
        InterruptKind.CHECKPOINT, "r", "u", "s", message="step 3 done", ttl=timedelta(seconds=1)
    )
    assert checkpoint.expires_at is None  # auto_expire=False kinds never expire
    harness.clock.advance(days=365)
    assert await harness.service.expire_pending() == 0
    assert [p.id for p in await harness.service.get_pending_for_session("s")] == [checkpoint.id]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_id", ""),
        ("user_id", "   "),
        ("session_id", "x" * 256),
        ("question", "q" * 20_001),
        ("data", {"when": object()}),
        ("data", {"nan": float("nan")}),
        ("data", ["not", "a", "mapping"]),
        ("kind", "telepathy"),
        ("ttl", 30),
        ("ttl", timedelta(days=4_000_000)),  # now + ttl would overflow datetime
        ("ttl", -timedelta(days=4_000_000)),
        ("envelope_id", ""),
        ("session_id", "s\ud800"),  # a lone surrogate: no UTF-8 encoding, so no store can keep it
        ("question", "why\udfff?"),
        ("idempotency_key", "\ud800"),
    ],
)
async def test_bad_input_is_rejected_and_writes_nothing(harness: Harness, field: str, value: Any) -> None:
    arguments: dict[str, Any] = {
        "kind": InterruptKind.CLARIFICATION,
        "request_id": "req-1",
        "user_id": "user-1",
        "session_id": "sess-1",
        "question": "q",
    }
    arguments[field] = value
    with pytest.raises(InvalidInterruptError) as raised:
        await harness.service.create_interrupt(**arguments)
    assert raised.value.field == field
    assert await harness.journal() == []
    assert await harness.service.get_pending_for_session("sess-1") == []
    assert harness.recorder.webhooks == []


async def test_idempotency_key_returns_the_same_interrupt_once(harness: Harness) -> None:
    first = await ask(harness, idempotency_key="step-7")
    again = await ask(harness, idempotency_key="step-7")
    assert again.id == first.id
    assert [e.type for e in await harness.journal()] == ["interrupt.clarification_needed"]
    assert len(harness.recorder.webhooks) == 1
    with pytest.raises(IdempotencyConflictError):
        await ask(harness, request_id="req-other", idempotency_key="step-7")
    assert len(await harness.journal()) == 1


async def test_create_or_replay_says_whether_it_created(harness: Harness) -> None:
    service = harness.service
    first, created = await service.create_or_replay(
        InterruptKind.CONFIRMATION, "req-9", "user-1", "sess-1", message="Deploy?", idempotency_key="k-9"
    )
    again, created_again = await service.create_or_replay(
        InterruptKind.CONFIRMATION, "req-9", "user-1", "sess-1", message="Deploy?", idempotency_key="k-9"
    )
    assert (created, created_again) == (True, False) and again.id == first.id
    assert [e.interrupt_id for e in await service.events(EventQuery())] == [first.id]
    with pytest.raises(IdempotencyConflictError):
        await service.create_or_replay(
            InterruptKind.CONFIRMATION, "req-other", "user-1", "sess-1", idempotency_key="k-9"
        )


async def test_the_journal_position_splits_what_was_from_what_comes(harness: Harness) -> None:
    service = harness.service
    assert await service.journal_position() == 0
    first = await ask(harness)
    position = await service.journal_position()
    assert [e.seq for e in await service.events(EventQuery())] == [position]
    second = await ask(harness, request_id="req-2")
    await service.cancel(first.id, "not needed")
    later = await service.events(EventQuery(after_seq=position))
    assert [(e.interrupt_id, e.type) for e in later] == [
        (second.id, "interrupt.clarification_needed"), (first.id, "interrupt.cancelled")
    ]
    assert await service.journal_position() == later[-1].seq


async def test_a_duplicate_id_is_a_store_error_on_every_store_and_changes_nothing(harness: Harness) -> None:
    first = await ask(harness)
    twin = dataclasses.replace(first, request_id="req-twin", question="Another?")
    with pytest.raises(StoreError):
        await harness.service.store.create(twin, "interrupt.clarification_needed")
    stored = await harness.service.get_interrupt(first.id)
    assert stored is not None and stored.request_id == first.request_id and stored.question == first.question
    assert [e.interrupt_id for e in await harness.journal()] == [first.id]


async def test_concurrent_idempotent_creates_make_one_interrupt(harness: Harness) -> None:
    created = await asyncio.gather(*(ask(harness, idempotency_key="k") for _ in range(10)))
    assert len({c.id for c in created}) == 1
    assert len(await harness.journal()) == 1


# -- queries ------------------------------------------------------------------------------


async def test_pending_queries(harness: Harness) -> None:
    service = harness.service
    a = await ask(harness, "req-a")
    harness.clock.advance(seconds=1)
    b = await service.create_confirmation("req-a", "user-1", "sess-1", "ok?")
    harness.clock.advance(seconds=1)
    other = await ask(harness, "req-b", session_id="sess-2")
    assert [p.id for p in await service.get_pending_for_session("sess-1")] == [a.id, b.id]
    assert [p.id for p in await service.get_pending_for_session("sess-1", kinds=[InterruptKind.CONFIRMATION])] == [b.id]
    assert (await service.get_pending_for_request("req-a")).id == b.id  # type: ignore[union-attr]
    assert (await service.get_pending_for_request("req-b")).id == other.id  # type: ignore[union-attr]
    await service.respond(b.id, InterruptResponse(approved=True))
    assert (await service.get_pending_for_request("req-a")).id == a.id  # type: ignore[union-attr]
    assert await service.get_pending_for_request("nope") is None
    assert await service.get_interrupt("nope") is None
    assert await service.get_pending_for_session("nope") == []


# -- responding ---------------------------------------------------------------------------


async def test_respond_resolves_once_with_one_event(harness: Harness) -> None:
    created = await ask(harness)
    harness.clock.advance(minutes=3)
    resolved = await harness.service.respond(
        created.id, InterruptResponse(text="Start with the auth module"), user_id="user-1"
    )
    assert resolved is not None
    assert resolved.status is InterruptStatus.RESOLVED
    assert resolved.resolved_at == harness.clock.now
    assert resolved.response is not None
    assert resolved.response.text == "Start with the auth module"
    assert resolved.response.received_at == harness.clock.now
    assert resolved.response.responder_id == "user-1"
    assert await harness.service.get_interrupt(created.id) == resolved
    assert await harness.service.respond(created.id, InterruptResponse(text="again")) is None
    with pytest.raises(InterruptNotPendingError) as raised:
        await harness.service.respond_or_raise(created.id, InterruptResponse(text="again"))
    assert raised.value.status is InterruptStatus.RESOLVED
    journal = await harness.journal()
    (event,) = terminal_events(journal, created.id)
    assert (event.type, event.sequence) == ("interrupt.resolved", 2)
    assert event.interrupt == resolved
    assert harness.recorder.webhook_types() == ["interrupt.clarification_needed", "interrupt.resolved"]
    assert harness.recorder.webhooks[1][1] == resolved.to_dict()
    assert any(event == "interrupt_respond_rejected" for _, event, _ in harness.recorder.logs)


@pytest.mark.parametrize(
    ("kind", "bad", "good", "field"),
    [
        (InterruptKind.CLARIFICATION, InterruptResponse(approved=True), InterruptResponse(text="yes"), "text"),
        (InterruptKind.CLARIFICATION, InterruptResponse(text="   "), InterruptResponse(text="a"), "text"),
        (InterruptKind.CONFIRMATION, InterruptResponse(text="yes"), InterruptResponse(approved=False), "approved"),
        (InterruptKind.AGENT_REVIEW, InterruptResponse(text="ok"), InterruptResponse(decision="approve"), "decision"),
    ],
)
async def test_response_must_fit_the_kind(
    harness: Harness, kind: InterruptKind, bad: InterruptResponse, good: InterruptResponse, field: str
) -> None:
    created = await harness.service.create_interrupt(kind, "r", "user-1", "s", message="m")
    assert await harness.service.respond(created.id, bad) is None
    with pytest.raises(InvalidResponseError) as raised:
        await harness.service.respond_or_raise(created.id, bad)
    assert raised.value.field == field
    assert (await harness.service.get_interrupt(created.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]
    assert terminal_events(await harness.journal(), created.id) == []
    assert (await harness.service.respond_or_raise(created.id, good)).status is InterruptStatus.RESOLVED


@pytest.mark.parametrize(
    "kind",
    [InterruptKind.CHECKPOINT, InterruptKind.RESOURCE_EXHAUSTED, InterruptKind.TIMEOUT, InterruptKind.SYSTEM_ERROR],
)
async def test_notice_kinds_accept_an_empty_acknowledgement(harness: Harness, kind: InterruptKind) -> None:
    created = await harness.service.create_interrupt(kind, "r", "user-1", "s", message="m")
    acknowledged = await harness.service.respond(created.id, InterruptResponse())
    assert acknowledged is not None and acknowledged.status is InterruptStatus.RESOLVED


async def test_response_field_types_are_checked(harness: Harness) -> None:
    created = await ask(harness)
    for bad in (
        InterruptResponse(text=5),  # type: ignore[arg-type]
        InterruptResponse(approved="yes"),  # type: ignore[arg-type]
        InterruptResponse(text="ok", data={"x": object()}),
        "just text",
    ):
        with pytest.raises(InvalidResponseError):
            await harness.service.respond_or_raise(created.id, bad)  # type: ignore[arg-type]
    assert terminal_events(await harness.journal(), created.id) == []


async def test_responder_must_be_the_interrupts_user(harness: Harness) -> None:
    created = await ask(harness)
    assert await harness.service.respond(created.id, InterruptResponse(text="x"), user_id="mallory") is None
    with pytest.raises(ResponderMismatchError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(text="x"), user_id="mallory")
    assert (await harness.service.get_interrupt(created.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]


async def test_unknown_interrupt(harness: Harness) -> None:
    assert await harness.service.respond("missing", InterruptResponse(text="x")) is None
    assert await harness.service.cancel("missing") is None
    with pytest.raises(InterruptNotFoundError):
        await harness.service.respond_or_raise("missing", InterruptResponse(text="x"))
    with pytest.raises(InterruptNotFoundError):
        await harness.service.cancel_or_raise("missing")
    with pytest.raises(InterruptNotFoundError):
        await harness.service.wait_for_response("missing", timeout=1)


async def test_respond_after_expiry_expires_it_and_says_so(harness: Harness) -> None:
    created = await ask(harness)
    harness.clock.advance(hours=25)
    with pytest.raises(InterruptExpiredError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(text="late"))
    with pytest.raises(InterruptExpiredError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(text="late"))
    (event,) = terminal_events(await harness.journal(), created.id)
    assert event.type == "interrupt.expired"
    assert await harness.service.expire_pending() == 0


# -- cancellation and expiry --------------------------------------------------------------


async def test_cancel_records_reason_and_time(harness: Harness) -> None:
    created = await ask(harness)
    harness.clock.advance(seconds=30)
    cancelled = await harness.service.cancel(created.id, reason="user left")
    assert cancelled is not None
    assert cancelled.status is InterruptStatus.CANCELLED
    assert cancelled.data["cancel_reason"] == "user left"
    assert cancelled.resolved_at == harness.clock.now
    assert await harness.service.cancel(created.id) is None
    with pytest.raises(InterruptNotPendingError) as raised:
        await harness.service.cancel_or_raise(created.id)
    assert raised.value.status is InterruptStatus.CANCELLED
    (event,) = terminal_events(await harness.journal(), created.id)
    assert event.type == "interrupt.cancelled"
    assert event.interrupt.data["cancel_reason"] == "user left"
    # The creation event still shows the interrupt as it was created.
    creation = next(e for e in await harness.journal() if e.sequence == 1)
    assert creation.interrupt.status is InterruptStatus.PENDING
    assert "cancel_reason" not in creation.interrupt.data


async def test_expire_pending_counts_and_never_reannounces(harness: Harness) -> None:
    service = harness.service
    due = [await service.create_interrupt(InterruptKind.TIMEOUT, f"r{i}", "u", "s", message="m") for i in range(3)]
    keeps = await ask(harness, "keep", session_id="s")
    harness.clock.advance(minutes=6)
    assert await service.expire_pending() == 3
    assert await service.expire_pending() == 0
    journal = await harness.journal()
    for interrupt in due:
        (event,) = terminal_events(journal, interrupt.id)
        assert event.type == "interrupt.expired"
        assert event.interrupt.status is InterruptStatus.EXPIRED
    assert harness.recorder.webhook_types().count("interrupt.expired") == 3
    assert [p.id for p in await service.get_pending_for_session("s")] == [keeps.id]


async def test_due_interrupt_is_never_shown_pending(harness: Harness) -> None:
    created = await ask(harness)
    harness.clock.advance(hours=24)
    assert await harness.service.get_pending_for_session("sess-1") == []
    assert await harness.service.get_pending_for_request("req-1") is None
    seen = await harness.service.get_interrupt(created.id)
    assert seen is not None and seen.status is InterruptStatus.EXPIRED
    assert len(terminal_events(await harness.journal(), created.id)) == 1


async def test_custom_config_overrides_only_what_was_set(db_factory: Any) -> None:
    from tests.support.stores import FakeClock, Recorder

    recorder, clock = Recorder(), FakeClock()
    configs = {
        InterruptKind.CLARIFICATION: InterruptConfig(default_ttl=timedelta(hours=48)),
        InterruptKind.CONFIRMATION: InterruptConfig(default_ttl=None),
    }
    async with open_service(db_factory(), recorder, clock, configs=configs, sweep_interval=0) as service:
        created = await service.create_clarification("r", "u", "s", "q?")
        assert created.expires_at == clock.now + timedelta(hours=48)
        assert recorder.webhook_types() == ["interrupt.clarification_needed"]
        with pytest.raises(InvalidResponseError):
            await service.respond_or_raise(created.id, InterruptResponse(approved=True))
        confirm = await service.create_confirmation("r2", "u", "s", "ok?")
        assert confirm.expires_at is None  # explicitly back to the class default: no expiry


async def test_naive_clock_is_rejected(db_factory: Any) -> None:
    from datetime import datetime

    from jeeves_control_tower.services import InterruptService

    with pytest.raises(InvalidInterruptError):
        InterruptService(db=db_factory(), clock=lambda: datetime(2026, 1, 1))


# -- waiting ------------------------------------------------------------------------------


async def test_wait_returns_at_once_when_terminal(harness: Harness) -> None:
    created = await ask(harness)
    await harness.service.cancel(created.id)
    assert (await harness.service.wait_for_response(created.id, timeout=0.01)).status is InterruptStatus.CANCELLED


async def test_wait_wakes_on_respond(harness: Harness) -> None:
    created = await ask(harness)
    waiter = asyncio.create_task(harness.service.wait_for_response(created.id, timeout=10))
    await asyncio.sleep(0)
    await harness.service.respond(created.id, InterruptResponse(text="go"))
    answered = await waiter
    assert answered.status is InterruptStatus.RESOLVED
    assert answered.response is not None and answered.response.text == "go"


async def test_wait_times_out(harness: Harness) -> None:
    created = await ask(harness)
    with pytest.raises(WaitTimeoutError) as raised:
        await harness.service.wait_for_response(created.id, timeout=0.05)
    assert isinstance(raised.value, TimeoutError)
    assert isinstance(raised.value, InterruptError)


async def test_wait_returns_expired_at_expiry(harness: Harness) -> None:
    created = await harness.service.create_interrupt(
        InterruptKind.CLARIFICATION, "r", "u", "s", question="q", ttl=timedelta(0)
    )
    finished = await harness.service.wait_for_response(created.id, timeout=5)
    assert finished.status is InterruptStatus.EXPIRED
