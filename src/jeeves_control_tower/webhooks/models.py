"""The webhook records the Python API returns: plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

__all__ = ["Subscription", "CreatedSubscription", "Attempt", "Delivery", "DeliveryStatus", "Claim"]

#: A delivery is pending (waiting or being tried), delivered (a 2xx arrived) or dead (gave up).
DeliveryStatus = str
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class Subscription:
    """An endpoint and the events it wants. The secret is never part of it (see CreatedSubscription)."""

    id: str
    url: str
    #: Patterns: an exact type ("interrupt.resolved"), a prefix ("interrupt.*") or "*".
    events: tuple[str, ...]
    user_id: Optional[str]
    session_id: Optional[str]
    enabled: bool
    disabled_reason: Optional[str]
    created_at: datetime
    updated_at: datetime
    failing_since: Optional[datetime] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "user_id": self.user_id,
            "session_id": self.session_id,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": _iso(self.failing_since),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class CreatedSubscription:
    """What create_subscription and rotate_secret return: the only time the secret is shown."""

    subscription: Subscription
    secret: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.subscription.to_dict(), "secret": self.secret}


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    at: datetime
    status_code: Optional[int]
    error: Optional[str]
    latency_ms: float
    response_excerpt: Optional[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": _iso(self.at),
            "status_code": self.status_code,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "response_excerpt": self.response_excerpt,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    event_seq: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    attempt_log: tuple[Attempt, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_seq": self.event_seq,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "attempt_log": [attempt.to_dict() for attempt in self.attempt_log],
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery leased to this dispatcher, with all it needs to send it."""

    delivery_id: str
    attempts: int
    event_id: str
    event_type: str
    sequence: int
    request_id: str
    event_created_at: datetime
    interrupt: dict[str, Any]
    subscription_id: str
    url: str
    secrets: tuple[str, ...]


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return moment.isoformat() if moment is not None else None
