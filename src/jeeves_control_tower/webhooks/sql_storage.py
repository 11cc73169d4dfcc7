"""Webhook storage in a SQL database, written once against a Connector: the SQLite file and
PostgreSQL differ only in `store/queries/<dialect>/webhooks.sql` (fan-out by a cursor row on
SQLite, by FOR UPDATE SKIP LOCKED on PostgreSQL, for example); what reads the same is in
`store/queries/common/webhooks.sql`. No driver is imported here, and no error is translated
here: the connector raises StoreError for any database failure."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Optional

from jeeves_protocols.interrupts import parse_time

from ..store.connector import Connector, Rows, Transaction
from ..store.constants import WAKE_CHANNEL
from .models import DELIVERED, Claim, Delivery
from .policy import disable_reason, fan_out_rows
from .storage import AttemptOutcome, attempt_from_row, claims_from_rows, delivery_from_row

__all__ = ["SQLWebhookStorage"]

#: Columns a new subscription may leave out.
_SUBSCRIPTION_DEFAULTS: dict[str, Any] = {
    "previous_secret": None,
    "previous_secret_until": None,
    "disabled_reason": None,
    "failing_since": None,
}


class SQLWebhookStorage:
    def __init__(self, connector: Connector, migrate: Callable[[], Any]) -> None:
        """`migrate` applies the schema (the interrupt store's migrations, webhooks' included)."""
        self.connector = connector
        self._migrate = migrate
        self._listener: Optional[Any] = None

    async def open(self, wake: Callable[[], None]) -> None:
        await self._migrate()
        # Every journal insert NOTIFYs where the database can: it wakes the dispatcher of every
        # instance at no extra cost per commit. A SQLite file cannot push: the dispatcher polls.
        self._listener = await self.connector.listen(WAKE_CHANNEL, lambda _payload: wake())

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    # -- subscriptions ------------------------------------------------------------------------

    async def insert_subscription(self, row: dict[str, Any]) -> None:
        await self.connector.execute("insert_subscription", **_stored({**_SUBSCRIPTION_DEFAULTS, **row}))

    async def get_subscription(self, subscription_id: str) -> Optional[dict[str, Any]]:
        rows = await self.connector.fetch("get_subscription", id=subscription_id)
        return rows[0] if rows else None

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        return await self.connector.fetch("list_subscriptions")

    async def update_subscription(self, subscription_id: str, changes: dict[str, Any]) -> bool:
        async def update(tx: Transaction) -> bool:
            rows = await tx.fetch("lock_subscription", id=subscription_id)
            if not rows:
                return False
            await tx.execute("save_subscription", **_stored({**rows[0], **changes}))
            return True

        return await self.connector.transaction(update)

    async def delete_subscription(self, subscription_id: str) -> bool:
        async def delete(tx: Transaction) -> bool:
            await tx.execute("delete_subscription_attempts", id=subscription_id)
            await tx.execute("delete_subscription_deliveries", id=subscription_id)
            return await tx.execute("delete_subscription", id=subscription_id) == 1

        return await self.connector.transaction(delete)

    # -- the dispatcher's work ------------------------------------------------------------------

    async def fan_out(self, now: datetime, limit: int) -> int:
        async def fan_out(tx: Transaction) -> int:
            events = await tx.fetch("events_to_fan_out", limit=limit)
            if not events:
                return 0
            subscriptions = await tx.fetch("enabled_subscriptions")
            rows = fan_out_rows(events, subscriptions, lambda: str(uuid.uuid4()))
            if rows:
                await tx.execute_many("insert_delivery", [{**row, "at": now} for row in rows])
            await tx.execute("mark_fanned_out", seqs=[event["seq"] for event in events], now=now)
            return len(events)

        return await self.connector.transaction(fan_out)

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        async def claim(tx: Transaction) -> list[Claim]:
            leased = [row["id"] for row in await tx.fetch(
                "lease_due_deliveries", now=now, lease_until=lease_until, limit=limit
            )]
            if not leased:
                return []
            claims, unreadable = claims_from_rows(await tx.fetch("claim_details", ids=leased), now)
            if unreadable:  # dead at once: no attempt could ever send its event
                await tx.execute("bury_deliveries", ids=unreadable, now=now)
            return claims

        return await self.connector.transaction(claim)

    async def record(self, claim: Claim, outcome: AttemptOutcome, now: datetime) -> bool:
        attempt = outcome.attempt

        async def record(tx: Transaction) -> bool:
            await tx.execute(
                "record_attempt",
                delivery_id=claim.delivery_id, attempt=attempt.number, at=attempt.at,
                status_code=attempt.status_code, error=attempt.error, latency_ms=attempt.latency_ms,
                response_excerpt=attempt.response_excerpt,
            )
            await tx.execute(
                "update_delivery",
                id=claim.delivery_id, status=outcome.status, attempts=attempt.number,
                next_attempt_at=outcome.next_attempt_at or now, now=now,
            )
            if outcome.status == DELIVERED:
                await tx.execute("subscription_succeeded", id=claim.subscription_id)
                return False
            failing = await tx.fetch("subscription_failed", id=claim.subscription_id, now=now)
            if not failing:
                return False  # deleted while in flight
            reason = disable_reason(
                outcome.disable_reason, parse_time(failing[0]["failing_since"]), outcome.failing_cutoff
            )
            if reason is None:
                return False
            return await tx.execute(
                "disable_subscription", id=claim.subscription_id, reason=reason, now=now
            ) == 1

        return await self.connector.transaction(record)

    # -- deliveries -----------------------------------------------------------------------------

    async def _with_attempts(self, rows: Rows) -> list[Delivery]:
        if not rows:
            return []
        by_delivery: dict[str, list[Any]] = {}
        for attempt in await self.connector.fetch("attempts_of", ids=[row["id"] for row in rows]):
            by_delivery.setdefault(attempt["delivery_id"], []).append(attempt_from_row(attempt))
        return [delivery_from_row(row, tuple(by_delivery.get(row["id"], ()))) for row in rows]

    async def list_deliveries(
        self, subscription_id: Optional[str], status: Optional[str], limit: int
    ) -> list[Delivery]:
        rows = await self.connector.fetch(
            "list_deliveries", subscription_id=subscription_id, status=status, limit=limit
        )
        return await self._with_attempts(rows)

    async def get_delivery(self, delivery_id: str) -> Optional[Delivery]:
        found = await self._with_attempts(await self.connector.fetch("get_delivery", id=delivery_id))
        return found[0] if found else None

    async def redeliver(self, delivery_id: str, now: datetime) -> bool:
        return await self.connector.execute("redeliver", id=delivery_id, now=now) == 1

    async def next_due(self) -> Optional[datetime]:
        rows = await self.connector.fetch("next_due_delivery")
        return parse_time(rows[0]["due"]) if rows else None


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    """A subscription's columns as stored: its event patterns as JSON text (both dialects)."""
    events = row["events"]
    return {**row, "events": events if isinstance(events, str) else json.dumps(list(events))}
