"""Custom configs beyond the seed example, expiry in batches, idempotency by kind, and that what
the service hands out is a copy the caller may change freely. Every test runs on every store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jeeves_control_tower.services import InterruptConfig, interrupt_service
from jeeves_protocols import (
    IdempotencyConflictError,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    InvalidResponseError,
)
from tests.integration.conftest import Harness
from tests.support.stores import FakeClock, Recorder, open_service


async def test_configs_may_change_event_responses_and_expiry(db_factory: Any) -> None:
    recorder, clock = Recorder(), FakeClock()
    configs: dict[Any, InterruptConfig] = {
        # A string key is accepted like the enum it names.
        "clarification": InterruptConfig(allowed_responses=["decision"], webhook_event="ask.human"),
        InterruptKind.CHECKPOINT: InterruptConfig(auto_expire=True, default_ttl=timedelta(minutes=1)),
        InterruptKind.CONFIRMATION: InterruptConfig(auto_expire=False),
    }
    async with open_service(db_factory(), recorder, clock, configs=configs, sweep_interval=0) as service:
        question = await service.create_clarification("r1", "u", "s", "which?")
        assert question.expires_at == clock.now + timedelta(hours=24)  # TTL kept from the default
        with pytest.raises(InvalidResponseError) as raised:
            await service.respond_or_raise(question.id, InterruptResponse(text="a"))
        assert raised.value.field == "decision"
        assert (await service.respond_or_raise(question.id, InterruptResponse(decision="b"))).status is (
            InterruptStatus.RESOLVED
        )

        checkpoint = await service.create_interrupt(InterruptKind.CHECKPOINT, "r2", "u", "s", message="m")
        assert checkpoint.expires_at == clock.now + timedelta(minutes=1)
        confirm = await service.create_interrupt(
            InterruptKind.CONFIRMATION, "r3", "u", "s", message="ok?", ttl=timedelta(seconds=1)
        )
        assert confirm.expires_at is None  # auto_expire=False beats an explicit ttl
        clock.advance(hours=2)
        assert await service.expire_pending() == 1
        assert (await service.get_interrupt(confirm.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]
    assert recorder.webhook_types() == [
        "ask.human", "interrupt.resolved", "interrupt.checkpoint", "interrupt.confirmation_needed", "interrupt.expired",
    ]


@pytest.mark.parametrize(
    "configs",
    [
        {"telepathy": InterruptConfig()},
        {InterruptKind.CLARIFICATION: {"default_ttl": None}},
        {InterruptKind.CLARIFICATION: InterruptConfig(default_ttl=timedelta(days=4_000_000))},
        {InterruptKind.CONFIRMATION: InterruptConfig(default_ttl="1h")},
    ],
)
def test_bad_configs_are_refused(configs: Any) -> None:
    with pytest.raises(InvalidInterruptError):
        interrupt_service.InterruptService(configs=configs)


async def test_expire_pending_works_through_batches(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupt_service, "EXPIRE_BATCH", 3)  # small batches, so the loop is exercised
    due = [
        await harness.service.create_interrupt(InterruptKind.TIMEOUT, f"r{i}", "u", "s", message="m")
        for i in range(7)
    ]
    harness.clock.advance(minutes=5)
    assert await harness.service.expire_pending() == 7
    assert await harness.service.expire_pending() == 0
    expired = [e.interrupt_id for e in await harness.journal() if e.type == "interrupt.expired"]
    assert sorted(expired) == sorted(i.id for i in due)


async def test_one_idempotency_key_cannot_name_two_kinds(harness: Harness) -> None:
    first = await harness.service.create_clarification("r", "u", "s", "q?", idempotency_key="step-1")
    with pytest.raises(IdempotencyConflictError) as raised:
        await harness.service.create_confirmation("r", "u", "s", "ok?", idempotency_key="step-1")
    assert raised.value.field == "idempotency_key"
    # A retried step whose interrupt was answered meanwhile gets the answered interrupt back.
    await harness.service.respond_or_raise(first.id, InterruptResponse(text="a"))
    again = await harness.service.create_clarification("r", "u", "s", "q?", idempotency_key="step-1")
    assert again.id == first.id and again.status is InterruptStatus.RESOLVED
    assert len(await harness.journal()) == 2


async def test_callers_get_copies(harness: Harness) -> None:
    context = {"options": ["a", "b"]}
    created = await harness.service.create_clarification("r", "u", "s", "q?", context=context)
    context["options"].append("c")  # the caller's dict changes after the call
    created.data["options"].append("d")  # and so does the interrupt it was handed
    stored = await harness.service.get_interrupt(created.id)
    assert stored is not None and stored.data == {"options": ["a", "b"]}
    (event,) = await harness.journal()
    assert event.interrupt.data == {"options": ["a", "b"]}
    response = InterruptResponse(text="a", data={"n": [1]})
    resolved = await harness.service.respond_or_raise(created.id, response)
    response.data["n"].append(2)
    assert resolved.response is not None
    resolved.response.data["n"].append(3)
    again = await harness.service.get_interrupt(created.id)
    assert again is not None and again.response is not None and again.response.data == {"n": [1]}


async def test_kind_filter_edges_agree_on_every_store(harness: Harness) -> None:
    ask = await harness.service.create_clarification("r", "u", "s", "q?")
    confirm = await harness.service.create_confirmation("r", "u", "s", "ok?")
    service = harness.service
    assert await service.get_pending_for_session("s", kinds=[]) == []  # none of no kinds
    both = [InterruptKind.CONFIRMATION, "clarification", InterruptKind.CONFIRMATION]
    assert {p.id for p in await service.get_pending_for_session("s", kinds=both)} == {ask.id, confirm.id}  # type: ignore[arg-type]
    assert await service.get_pending_for_session("s", kinds=[InterruptKind.CHECKPOINT]) == []
