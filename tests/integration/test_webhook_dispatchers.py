"""Several dispatchers on one PostgreSQL: each delivery is leased to one of them."""

from __future__ import annotations

import asyncio

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.webhooks import WebhookService
from jeeves_protocols import InterruptResponse
from tests.support.webhook_receiver import Receiver

INTERRUPTS = 150


async def test_two_dispatchers_never_deliver_an_event_twice(pg_dsn: str) -> None:
    databases = [PostgresDatabase(pg_dsn, max_size=4) for _ in range(3)]
    service = InterruptService(databases[0], sweep_interval=0)
    await service.start()
    dispatchers = [WebhookService(db, allow_networks=["127.0.0.0/8"], batch=10) for db in databases[1:]]
    try:
        async with Receiver(delay=0.002) as receiver:
            await dispatchers[0].create_subscription(receiver.url, ["*"])
            for number in range(INTERRUPTS):
                created = await service.create_clarification(f"r{number}", "u1", "s1", "Which?")
                await service.respond_or_raise(created.id, InterruptResponse(text="that"))

            # Both race for the same fan-out and the same due deliveries, in small batches.
            done = await asyncio.gather(*(d.run_until_idle(max_wait=1) for d in dispatchers))

            ids = [request.headers["webhook-id"] for request in receiver.requests]
            assert len(ids) == 2 * INTERRUPTS
            assert len(set(ids)) == len(ids), "an event was delivered twice"
            assert all(count > 0 for count in done), f"one dispatcher did nothing: {done}"
    finally:
        for dispatcher in dispatchers:
            await dispatcher.stop()
        await service.stop()
        for db in databases:
            await db.close()
