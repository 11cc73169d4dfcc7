"""The storage boundary of webhooks, and the row conversions every backend shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Optional, Protocol

from jeeves_protocols import CorruptInterruptError, FlowInterrupt
from jeeves_protocols.interrupts import parse_time

from ..store.rows import report_unreadable
from .models import Attempt, Claim, Delivery, Subscription

__all__ = ["WebhookStorage", "AttemptOutcome", "subscription_from_row", "delivery_from_row",
           "attempt_from_row", "claim_from_row", "claims_from_rows", "live_secrets"]


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What the dispatcher decided after one attempt; the storage records it atomically."""

    attempt: Attempt
    #: pending (retry at next_attempt_at), delivered or dead.
    status: str
    next_attempt_at: Optional[datetime]
    #: Disable the endpoint now with this reason (410 Gone).
    disable_reason: Optional[str] = None
    #: On failure: disable the endpoint if it has been failing since before this moment.
    failing_cutoff: Optional[datetime] = None


class WebhookStorage(Protocol):
    async def open(self, wake: Callable[[], None]) -> None:
        """Apply migrations; call `wake` whenever another process may have added work."""

    async def close(self) -> None: ...

    async def insert_subscription(self, row: dict[str, Any]) -> None: ...

    async def get_subscription(self, subscription_id: str) -> Optional[dict[str, Any]]: ...

    async def list_subscriptions(self) -> list[dict[str, Any]]: ...

    async def update_subscription(self, subscription_id: str, changes: dict[str, Any]) -> bool: ...

    async def delete_subscription(self, subscription_id: str) -> bool: ...

    async def fan_out(self, now: datetime, limit: int) -> int:
        """Turn up to `limit` journal events not yet fanned out into deliveries; how many events."""

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        """Lease due pending deliveries of enabled endpoints to the caller until `lease_until`."""

    async def record(self, claim: Claim, outcome: AttemptOutcome, now: datetime) -> bool:
        """Store the attempt and the delivery's new state; True if the endpoint got disabled."""

    async def list_deliveries(
        self, subscription_id: Optional[str], status: Optional[str], limit: int
    ) -> list[Delivery]: ...

    async def get_delivery(self, delivery_id: str) -> Optional[Delivery]: ...

    async def redeliver(self, delivery_id: str, now: datetime) -> bool: ...

    async def next_due(self) -> Optional[datetime]:
        """When the next pending delivery of an enabled endpoint can be claimed (due, lease over)."""


def _time(value: Any) -> datetime:
    moment = parse_time(value)
    assert moment is not None
    return moment


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def subscription_from_row(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        url=row["url"],
        events=tuple(_json(row["events"])),
        user_id=row["user_id"],
        session_id=row["session_id"],
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        failing_since=parse_time(row["failing_since"]),
    )


def attempt_from_row(row: Mapping[str, Any]) -> Attempt:
    return Attempt(
        number=row["attempt"],
        at=_time(row["at"]),
        status_code=row["status_code"],
        error=row["error"],
        latency_ms=float(row["latency_ms"]),
        response_excerpt=row["response_excerpt"],
    )


def delivery_from_row(row: Mapping[str, Any], attempts: tuple[Attempt, ...]) -> Delivery:
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        event_seq=int(row["event_seq"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_time(row["next_attempt_at"]),
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        attempt_log=attempts,
    )


def live_secrets(row: Mapping[str, Any], now: datetime) -> tuple[str, ...]:
    """The current secret, plus the previous one while its rotation overlap lasts."""
    until = parse_time(row["previous_secret_until"])
    if row["previous_secret"] and until is not None and until > now:
        return (row["secret"], row["previous_secret"])
    return (row["secret"],)


def claim_from_row(row: Mapping[str, Any], now: datetime) -> Claim:
    return Claim(
        delivery_id=row["id"],
        attempts=row["attempts"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        sequence=row["sequence"],
        request_id=row["request_id"],
        event_created_at=_time(row["event_created_at"]),
        interrupt=FlowInterrupt.from_db_row(dict(_json(row["payload"]))).to_dict(),
        subscription_id=row["subscription_id"],
        url=row["url"],
        secrets=live_secrets(row, now),
    )


def claims_from_rows(rows: Sequence[Mapping[str, Any]], now: datetime) -> tuple[list[Claim], list[str]]:
    """The claims of leased delivery rows, and the ids of those whose event cannot be read (each
    reported once), which the caller moves to dead letters: one unreadable row must not fail the
    claim of its whole batch, which would leave every lease in it to run out and fail again."""
    claims: list[Claim] = []
    unreadable: list[str] = []
    for row in rows:
        try:
            claims.append(claim_from_row(row, now))
        except CorruptInterruptError as exc:
            report_unreadable(exc)
            unreadable.append(str(row["id"]))
    return claims, unreadable
