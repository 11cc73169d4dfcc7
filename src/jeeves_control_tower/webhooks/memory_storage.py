"""Webhook storage in memory, beside a MemoryStore: one process, so the journal's order is final
and a cursor over it is gap-safe. Nothing survives the process (as with the store itself)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Optional

from ..store.memory import MemoryStore
from .models import DEAD, DELIVERED, PENDING, Attempt, Claim, Delivery
from .policy import disable_reason, fan_out_rows
from .storage import AttemptOutcome, live_secrets

__all__ = ["MemoryWebhookStorage"]


@dataclasses.dataclass
class _Delivery:
    id: str
    subscription_id: str
    event_seq: int
    event_id: str
    event_type: str
    status: str
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    lease_until: Optional[datetime] = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)

    def frozen(self) -> Delivery:
        return Delivery(
            self.id, self.subscription_id, self.event_id, self.event_type, self.event_seq, self.status,
            len(self.attempts), self.next_attempt_at, self.created_at, self.updated_at, tuple(self.attempts),
        )


class MemoryWebhookStorage:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._cursor = 0
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._deliveries: dict[str, _Delivery] = {}
        self._events: dict[int, Any] = {}

    async def open(self, wake: Callable[[], None]) -> None:
        await self.store.open()
        self.store.add_listener(lambda _interrupt_id: wake())

    async def close(self) -> None:
        """Nothing to release."""

    async def insert_subscription(self, row: dict[str, Any]) -> None:
        self._subscriptions[row["id"]] = {
            "previous_secret": None, "previous_secret_until": None, "disabled_reason": None,
            "failing_since": None, **row,
        }

    async def get_subscription(self, subscription_id: str) -> Optional[dict[str, Any]]:
        found = self._subscriptions.get(subscription_id)
        return dict(found) if found is not None else None

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        rows = sorted(self._subscriptions.values(), key=lambda row: (row["created_at"], row["id"]))
        return [dict(row) for row in rows]

    async def update_subscription(self, subscription_id: str, changes: dict[str, Any]) -> bool:
        found = self._subscriptions.get(subscription_id)
        if found is None:
            return False
        found.update(changes)
        return True

    async def delete_subscription(self, subscription_id: str) -> bool:
        if self._subscriptions.pop(subscription_id, None) is None:
            return False
        for delivery_id in [d.id for d in self._deliveries.values() if d.subscription_id == subscription_id]:
            del self._deliveries[delivery_id]
        return True

    async def fan_out(self, now: datetime, limit: int) -> int:
        events = await self.store.events_after(self._cursor, limit)
        for event in events:
            self._events[event.seq] = event
        journal = [
            {"seq": e.seq, "interrupt_id": e.interrupt_id, "event_type": e.type, "sequence": e.sequence,
             "user_id": e.interrupt.user_id, "session_id": e.interrupt.session_id}
            for e in events
        ]
        enabled = [s for s in self._subscriptions.values() if s["enabled"]]
        for row in fan_out_rows(journal, enabled, lambda: str(uuid.uuid4())):
            delivery = _Delivery(**row, status=PENDING, next_attempt_at=now, created_at=now, updated_at=now)
            self._deliveries[delivery.id] = delivery
        if events:
            self._cursor = events[-1].seq
        return len(events)

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        due = sorted(
            (d for d in self._deliveries.values() if self._claimable(d, now)), key=lambda d: d.next_attempt_at
        )[:limit]
        claims = []
        for delivery in due:
            delivery.lease_until = lease_until
            sub = self._subscriptions[delivery.subscription_id]
            event = self._events[delivery.event_seq]
            claims.append(Claim(
                delivery.id, len(delivery.attempts), delivery.event_id, delivery.event_type, event.sequence,
                event.interrupt.request_id, event.created_at, event.interrupt.to_dict(), sub["id"],
                sub["url"], live_secrets(sub, now),
            ))
        return claims

    def _claimable(self, delivery: _Delivery, now: datetime) -> bool:
        sub = self._subscriptions.get(delivery.subscription_id)
        return (
            delivery.status == PENDING and delivery.next_attempt_at <= now and sub is not None
            and bool(sub["enabled"]) and (delivery.lease_until is None or delivery.lease_until <= now)
        )

    async def record(self, claim: Claim, outcome: AttemptOutcome, now: datetime) -> bool:
        delivery = self._deliveries.get(claim.delivery_id)
        sub = self._subscriptions.get(claim.subscription_id)
        if delivery is None or sub is None:
            return False  # deleted while in flight
        delivery.attempts.append(outcome.attempt)
        delivery.status = outcome.status
        delivery.next_attempt_at = outcome.next_attempt_at or now
        delivery.lease_until = None
        delivery.updated_at = now
        if outcome.status == DELIVERED:
            sub["failing_since"] = None
            return False
        sub["failing_since"] = sub["failing_since"] or now
        reason = disable_reason(outcome.disable_reason, sub["failing_since"], outcome.failing_cutoff)
        if reason is None or not sub["enabled"]:
            return False
        sub.update(enabled=False, disabled_reason=reason, updated_at=now)
        return True

    async def list_deliveries(
        self, subscription_id: Optional[str], status: Optional[str], limit: int
    ) -> list[Delivery]:
        chosen = [
            d for d in self._deliveries.values()
            if (subscription_id is None or d.subscription_id == subscription_id)
            and (status is None or d.status == status)
        ]
        chosen.sort(key=lambda d: (-d.event_seq, d.id))
        return [d.frozen() for d in chosen[:limit]]

    async def get_delivery(self, delivery_id: str) -> Optional[Delivery]:
        found = self._deliveries.get(delivery_id)
        return found.frozen() if found is not None else None

    async def redeliver(self, delivery_id: str, now: datetime) -> bool:
        found = self._deliveries.get(delivery_id)
        if found is None or found.status not in (DEAD, DELIVERED):
            return False
        found.status, found.next_attempt_at, found.lease_until, found.updated_at = PENDING, now, None, now
        return True

    async def next_due(self) -> Optional[datetime]:
        waiting = [
            max(d.next_attempt_at, d.lease_until or d.next_attempt_at)
            for d in self._deliveries.values()
            if d.status == PENDING and self._subscriptions.get(d.subscription_id, {}).get("enabled")
        ]
        return min(waiting, default=None)
