"""Webhook delivery over real HTTP on loopback, on memory, SQLite and PostgreSQL, verified with standardwebhooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Optional

import pytest
from standardwebhooks import Webhook

from jeeves_control_tower.observability import Metrics
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.memory import MemoryStore
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_control_tower.webhooks import RetryPolicy, WebhookNotFoundError, WebhookService
from jeeves_protocols import InterruptResponse, InvalidInterruptError
from tests.support.stores import FakeClock, Recorder, RecordingLogger
from tests.support.webhook_receiver import Receiver, always, sequence

LOOPBACK = ["127.0.0.0/8"]
QUICK = RetryPolicy(schedule=(0, 0, 0), jitter=0)


class Pair:
    """An InterruptService and a WebhookService on one database."""

    def __init__(self, db: Any, clock: FakeClock, retry: RetryPolicy) -> None:
        self.db = db
        self.clock = clock
        self.webhooks = WebhookService(db, allow_networks=LOOPBACK, retry=retry, poll_interval=0.05)
        self.service = InterruptService(db, webhook_service=self.webhooks, clock=clock, sweep_interval=0)

    async def clarification(self, user: str = "u1", session: str = "s1") -> str:
        created = await self.service.create_clarification("r1", user, session, "Which file?")
        return created.id


def make(kind: str, tmp_path: Path, pg_dsn: Optional[str]) -> Any:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteDatabase(tmp_path / "hooks.db")
    assert pg_dsn is not None
    return PostgresDatabase(pg_dsn, max_size=4)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dsn(kind: str, request: pytest.FixtureRequest) -> Optional[str]:
    return request.getfixturevalue("pg_dsn") if kind == "postgres" else None


async def open_pair(kind: str, tmp_path: Path, dsn: Optional[str], retry: RetryPolicy = QUICK) -> Pair:
    pair = Pair(make(kind, tmp_path, dsn), FakeClock(), retry)
    await pair.service.start()
    await pair.webhooks.open()
    return pair


@pytest.fixture
async def pair(kind: str, tmp_path: Path, dsn: Optional[str]) -> AsyncIterator[Pair]:
    opened = await open_pair(kind, tmp_path, dsn)
    yield opened
    await opened.webhooks.stop()
    await opened.service.stop()
    await opened.db.close()


def verified(secret: str, request: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


async def test_every_event_type_is_delivered_signed_and_verifiable(pair: Pair) -> None:
    async with Receiver() as receiver:
        created = await pair.webhooks.create_subscription(receiver.url, ["*"])
        assert created.secret.startswith("whsec_")
        svc = pair.service
        resolved = await pair.clarification()
        await svc.respond_or_raise(resolved, InterruptResponse(text="a.txt"))
        confirm = await svc.create_confirmation("r2", "u1", "s1", "Delete it?")
        await svc.cancel_or_raise(confirm.id, "changed my mind")
        expiring = await svc.create_confirmation("r3", "u1", "s1", "Deploy?")
        pair.clock.advance(hours=2)
        assert await svc.expire_pending() == 1
        exhausted = await svc.create_resource_exhausted("r4", "u1", "s1", "tokens", 30)

        assert await pair.webhooks.run_until_idle() > 0

        payloads = [verified(created.secret, request) for request in receiver.requests]
        seen = {(p["data"]["id"], p["type"], p["sequence"]) for p in payloads}
        assert seen == {
            (resolved, "interrupt.clarification_needed", 1),
            (resolved, "interrupt.resolved", 2),
            (confirm.id, "interrupt.confirmation_needed", 1),
            (confirm.id, "interrupt.cancelled", 2),
            (expiring.id, "interrupt.confirmation_needed", 1),
            (expiring.id, "interrupt.expired", 2),
            (exhausted.id, "interrupt.resource_exhausted", 1),
        }
        assert len(payloads) == len(seen)  # nothing twice
        answer = next(p for p in payloads if p["type"] == "interrupt.resolved")
        assert answer["data"]["response"]["text"] == "a.txt"
        assert answer["request_id"] == "r1"
        assert answer["id"] == receiver.requests[payloads.index(answer)].headers["webhook-id"]
        deliveries = await pair.webhooks.list_deliveries()
        assert {d.status for d in deliveries} == {"delivered"}
        assert all(d.attempts == 1 and d.attempt_log[0].status_code == 200 for d in deliveries)


async def test_the_approval_events_are_delivered_in_order(pair: Pair) -> None:
    """An interrupt's reminder, extension, ending and used approval go out like its creation:
    signed, once each, numbered in the order they happened (so each has its own event id)."""
    async with Receiver() as receiver:
        created = await pair.webhooks.create_subscription(receiver.url, ["interrupt.*"])
        svc = pair.service
        asked = await svc.create_confirmation(
            "r5", "u1", "s1", "Refund?", action_data={"action": {"amount": 5}}, remind_after=[timedelta(minutes=5)]
        )
        pair.clock.advance(minutes=6)
        assert await svc.remind_pending() == 1
        await svc.extend(asked.id, timedelta(minutes=30))
        await svc.respond_or_raise(asked.id, InterruptResponse(approved=True))
        await svc.consume(asked.id, {"amount": 5})
        await pair.webhooks.run_until_idle()
        payloads = [verified(created.secret, request) for request in receiver.requests]
        mine = sorted((p["sequence"], p["type"]) for p in payloads if p["data"]["id"] == asked.id)
        assert mine == [
            (1, "interrupt.confirmation_needed"), (2, "interrupt.reminder"), (3, "interrupt.extended"),
            (4, "interrupt.resolved"), (5, "interrupt.approval_consumed"),
        ]
        assert len({p["id"] for p in payloads}) == len(payloads)
        used = next(p for p in payloads if p["type"] == "interrupt.approval_consumed")
        assert used["data"]["consumed_at"] is not None and used["data"]["resolution"] == "answered"


async def test_patterns_and_filters_choose_the_events(pair: Pair) -> None:
    async with Receiver() as receiver:
        only_resolved = await pair.webhooks.create_subscription(receiver.url, ["interrupt.resolved"])
        other_user = await pair.webhooks.create_subscription(receiver.url, ["interrupt.*"], user_id="u2")
        first = await pair.clarification(user="u1")
        await pair.service.respond_or_raise(first, InterruptResponse(text="x"))
        await pair.webhooks.run_until_idle()
        by_sub = {d.subscription_id for d in await pair.webhooks.list_deliveries()}
        assert by_sub == {only_resolved.subscription.id}
        assert [r.json["type"] for r in receiver.requests] == ["interrupt.resolved"]
        assert await pair.webhooks.list_deliveries(subscription_id=other_user.subscription.id) == []


async def test_two_failures_then_success_is_one_delivery_with_three_attempts(pair: Pair) -> None:
    async with Receiver(sequence(500, 500)) as receiver:
        created = await pair.webhooks.create_subscription(receiver.url, ["interrupt.clarification_needed"])
        await pair.clarification()
        await pair.webhooks.run_until_idle()
        assert len(receiver.requests) == 3
        # The same message id on every retry, each attempt freshly signed and verifiable.
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        for request in receiver.requests:
            verified(created.secret, request)
        [delivery] = await pair.webhooks.list_deliveries()
        assert delivery.status == "delivered"
        assert [a.status_code for a in delivery.attempt_log] == [500, 500, 200]
        assert delivery.attempt_log[0].error == "HTTP 500"
        assert delivery.attempt_log[0].response_excerpt == "ok"


async def test_always_failing_is_dead_lettered_then_redelivered(pair: Pair) -> None:
    async with Receiver(always(503)) as receiver:
        await pair.webhooks.create_subscription(receiver.url, ["interrupt.clarification_needed"])
        await pair.clarification()
        await pair.webhooks.run_until_idle()
        assert len(receiver.requests) == 3  # the schedule's length
        [dead] = await pair.webhooks.list_dead_letters()
        assert dead.status == "dead" and dead.attempts == 3

        receiver.script = always(200)
        again = await pair.webhooks.redeliver(dead.id)
        assert again.status == "pending"
        await pair.webhooks.run_until_idle()
        delivered = await pair.webhooks.get_delivery(dead.id)
        assert delivered.status == "delivered" and delivered.attempts == 4
        assert await pair.webhooks.list_dead_letters() == []
        assert receiver.requests[-1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]


async def test_gone_disables_the_endpoint(pair: Pair) -> None:
    async with Receiver(always(410)) as receiver:
        created = await pair.webhooks.create_subscription(receiver.url, ["*"])
        await pair.clarification()
        await pair.webhooks.run_until_idle()
        subscription = await pair.webhooks.get_subscription(created.subscription.id)
        assert not subscription.enabled
        assert subscription.disabled_reason is not None and "410" in subscription.disabled_reason
        [gone] = await pair.webhooks.list_dead_letters()
        assert gone.attempts == 1  # 410 is final: no retries

        await pair.clarification()  # a disabled endpoint is not sent new events
        await pair.webhooks.run_until_idle()
        assert len(receiver.requests) == 1

        receiver.script = always(200)
        await pair.webhooks.update_subscription(created.subscription.id, enabled=True)
        await pair.clarification()
        await pair.webhooks.run_until_idle()
        assert len(receiver.requests) == 2
        assert (await pair.webhooks.get_subscription(created.subscription.id)).disabled_reason is None


async def test_retry_after_is_honoured(pair: Pair) -> None:
    async with Receiver(always(429, {"Retry-After": "120"})) as receiver:
        await pair.webhooks.create_subscription(receiver.url, ["*"])
        await pair.clarification()
        await pair.webhooks.run_until_idle(max_wait=1)
        assert len(receiver.requests) == 1
        [delivery] = await pair.webhooks.list_deliveries()
        assert delivery.status == "pending"
        assert delivery.next_attempt_at - delivery.attempt_log[0].at >= timedelta(seconds=120)


async def test_rotation_signs_with_both_secrets_during_the_overlap(pair: Pair) -> None:
    async with Receiver() as receiver:
        created = await pair.webhooks.create_subscription(receiver.url, ["*"])
        rotated = await pair.webhooks.rotate_secret(created.subscription.id)
        assert rotated.secret != created.secret
        await pair.clarification()
        await pair.webhooks.run_until_idle()
        [request] = receiver.requests
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        verified(created.secret, request)
        verified(rotated.secret, request)


async def test_subscription_management(pair: Pair) -> None:
    hooks = pair.webhooks
    created = await hooks.create_subscription("http://127.0.0.1:9/a", ["interrupt.*"], session_id="s9")
    sub = created.subscription
    assert [s.id for s in await hooks.list_subscriptions()] == [sub.id]
    updated = await hooks.update_subscription(sub.id, url="http://127.0.0.1:9/b", events=["*"], session_id=None)
    assert (updated.url, updated.events, updated.session_id) == ("http://127.0.0.1:9/b", ("*",), None)
    paused = await hooks.update_subscription(sub.id, enabled=False)
    assert not paused.enabled and paused.disabled_reason == "disabled by user"
    await hooks.delete_subscription(sub.id)
    assert await hooks.list_subscriptions() == []
    with pytest.raises(WebhookNotFoundError):
        await hooks.get_subscription(sub.id)
    with pytest.raises(WebhookNotFoundError):
        await hooks.delete_subscription(sub.id)


async def test_registration_refuses_internal_urls_without_the_allow_list(pair: Pair) -> None:
    strict = WebhookService(pair.db)
    with pytest.raises(InvalidInterruptError) as caught:
        await strict.create_subscription("http://127.0.0.1:9/hook")
    assert caught.value.field == "url"
    with pytest.raises(InvalidInterruptError):
        await strict.create_subscription("http://example.com/hook", ["bad*pattern"])
    assert await strict.list_subscriptions() == []
    await strict.stop()


async def test_redirects_are_not_followed(pair: Pair) -> None:
    async with Receiver(sequence(302)) as receiver:
        await pair.webhooks.create_subscription(receiver.url, ["*"])
        await pair.clarification()
        await pair.webhooks.run_until_idle()
        [delivery] = await pair.webhooks.list_deliveries()
        assert [a.status_code for a in delivery.attempt_log] == [302, 200]
        assert delivery.attempt_log[0].error == "HTTP 302"


async def test_webhook_attempts_are_measured(pair: Pair) -> None:
    metrics = Metrics()
    pair.webhooks.metrics = metrics
    async with Receiver(sequence(500)) as receiver:
        await pair.webhooks.create_subscription(receiver.url, ["*"])
        await pair.clarification()
        await pair.webhooks.run_until_idle()
    assert metrics.registry.get_sample_value("jeeves_webhook_attempts_total") == 2
    assert metrics.registry.get_sample_value("jeeves_webhook_failures_total") == 1
    assert metrics.registry.get_sample_value("jeeves_webhook_latency_seconds_count") == 2


async def test_the_background_dispatcher_delivers_on_its_own(pair: Pair) -> None:
    # Long poll: only emit_event (called by the service after each commit) can wake it in time.
    pair.webhooks.poll_interval = 60
    async with Receiver() as receiver:
        await pair.webhooks.create_subscription(receiver.url, ["*"])
        await pair.webhooks.start()
        interrupt_id = await pair.clarification()
        await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
        assert receiver.requests[0].json["data"]["id"] == interrupt_id
        await pair.webhooks.stop()
        await pair.webhooks.start()  # restartable
        await pair.webhooks.stop()


async def test_an_endpoint_failing_for_days_is_disabled_and_announced(
    kind: str, tmp_path: Path, dsn: Optional[str]
) -> None:
    db = make(kind, tmp_path, dsn)
    clock = FakeClock(datetime.now(UTC))
    logs = Recorder()
    webhooks = WebhookService(
        db, allow_networks=LOOPBACK, clock=clock, logger=RecordingLogger(logs),
        retry=RetryPolicy(schedule=(0,) * 10, jitter=0, disable_after=timedelta(days=3)),
    )
    service = InterruptService(db, webhook_service=webhooks, clock=clock, sweep_interval=0)
    try:
        async with Receiver(always(500)) as receiver:
            created = await webhooks.create_subscription(receiver.url, ["*"])
            await service.create_clarification("r1", "u1", "s1", "Which?")
            await webhooks.run_once()
            first = await webhooks.get_subscription(created.subscription.id)
            assert first.enabled and first.failing_since == clock.now
            clock.advance(days=2)
            await webhooks.run_once()
            assert (await webhooks.get_subscription(created.subscription.id)).enabled
            clock.advance(days=2)
            await webhooks.run_once()
            disabled = await webhooks.get_subscription(created.subscription.id)
            assert not disabled.enabled
            assert disabled.disabled_reason is not None and "failing since" in disabled.disabled_reason
            assert len(receiver.requests) == 3
        announced = [fields for level, event, fields in logs.logs if event == "webhook_endpoint_disabled"]
        assert level_of(logs, "webhook_endpoint_disabled") == "error"
        assert announced[0]["subscription_id"] == created.subscription.id
    finally:
        await webhooks.stop()
        await service.stop()


def level_of(logs: Recorder, event: str) -> str:
    return next(level for level, name, _ in logs.logs if name == event)


async def test_another_instances_answer_wakes_the_dispatcher_through_notify(pg_dsn: str) -> None:
    writer_db, dispatcher_db = PostgresDatabase(pg_dsn, max_size=2), PostgresDatabase(pg_dsn, max_size=2)
    writer = InterruptService(writer_db, sweep_interval=0)  # no webhook_service: nothing in-process
    # A poll too slow to matter: only the terminal transition's NOTIFY can wake it in time.
    webhooks = WebhookService(dispatcher_db, allow_networks=LOOPBACK, poll_interval=60)
    try:
        await writer.start()
        async with Receiver() as receiver:
            await webhooks.create_subscription(receiver.url, ["*"])
            await webhooks.start()
            await webhooks.run_until_idle()  # the dispatcher's own first look is over
            created = await writer.create_clarification("r1", "u1", "s1", "Which?")
            await writer.respond_or_raise(created.id, InterruptResponse(text="x"))
            while len(receiver.requests) < 2:
                receiver.arrived.clear()
                await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
            assert {r.json["type"] for r in receiver.requests} == {
                "interrupt.clarification_needed", "interrupt.resolved"
            }
    finally:
        await webhooks.stop()
        await writer.stop()
        await dispatcher_db.close()


def test_a_lease_shorter_than_the_timeout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInterruptError) as caught:
        WebhookService(SQLiteDatabase(tmp_path / "x.db"), lease=10, timeout=15)
    assert caught.value.field == "lease"


async def test_the_service_only_tells_a_journal_driven_webhook_service_that_the_journal_grew() -> None:
    """The shipped WebhookService delivers from the journal: the interrupt service wakes it and
    builds no payload for it (the seed's emit_event is for webhook services of other kinds)."""

    class Watched(WebhookService):
        woken = 0

        async def emit_event(self, event_type: str, data: dict[str, Any], request_id: Optional[str] = None) -> int:
            raise AssertionError("emit_event called: a payload was built for nothing")

        def journal_grew(self) -> None:
            Watched.woken += 1
            super().journal_grew()

    store = MemoryStore()
    service = InterruptService(db=store, webhook_service=Watched(store), sweep_interval=0)
    async with service:
        created = await service.create_clarification("r1", "u1", "s1", "Which region?")
        await service.respond_or_raise(created.id, InterruptResponse(text="eu"))
    assert Watched.woken == 2
