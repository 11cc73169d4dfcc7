"""Shared delivery rules, the same for every backend: matching, payload, retry schedule."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from jeeves_protocols import InvalidInterruptError
from jeeves_protocols.interrupts import format_time

from .models import Claim

__all__ = [
    "RetryPolicy",
    "DEFAULT_SCHEDULE",
    "matches",
    "check_patterns",
    "payload_body",
    "event_id",
    "disable_reason",
    "fan_out_rows",
]

#: Seconds to wait before each attempt, in the spirit of the Standard Webhooks recommendation.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: Delay before attempt i+1; its length is the number of attempts before dead-lettering.
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    #: Each delay is stretched by up to this fraction, so failed endpoints are not hit in lockstep.
    jitter: float = 0.1
    #: An endpoint failing without a single success for this long is disabled.
    disable_after: timedelta = timedelta(days=5)

    def next_attempt(
        self, attempts_done: int, now: datetime, retry_after: Optional[float] = None
    ) -> Optional[datetime]:
        """When to try again after `attempts_done` failed attempts, or None: dead letter."""
        if attempts_done >= len(self.schedule):
            return None
        delay = self.schedule[attempts_done] * (1 + random.uniform(0, self.jitter))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return now + timedelta(seconds=delay)


def event_id(interrupt_id: str, sequence: int) -> str:
    """The webhook-id: one per journal event, the same on every retry and every endpoint."""
    return f"evt_{interrupt_id}_{sequence}"


def check_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(patterns, str) or not patterns:
        raise InvalidInterruptError("events must be a non-empty list of patterns", field="events")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern or "*" in pattern.rstrip("*") or (
            pattern.endswith("*") and pattern != "*" and not pattern.endswith(".*")
        ):
            raise InvalidInterruptError(
                f"bad event pattern {pattern!r}: use a type, 'prefix.*' or '*'", field="events"
            )
    return tuple(patterns)


def matches(
    patterns: Sequence[str],
    user_filter: Optional[str],
    session_filter: Optional[str],
    event_type: str,
    user_id: str,
    session_id: str,
) -> bool:
    if user_filter is not None and user_filter != user_id:
        return False
    if session_filter is not None and session_filter != session_id:
        return False
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def payload_body(claim: Claim) -> bytes:
    """`{type, id, timestamp, data: <full interrupt>, request_id, sequence}` as compact JSON."""
    document: dict[str, Any] = {
        "type": claim.event_type,
        "id": claim.event_id,
        "timestamp": claim.event_created_at.isoformat(),
        "data": claim.interrupt,
        "request_id": claim.request_id,
        "sequence": claim.sequence,
    }
    return json.dumps(document, separators=(",", ":"), default=str).encode()


def disable_reason(
    given: Optional[str], failing_since: Optional[datetime], cutoff: Optional[datetime]
) -> Optional[str]:
    """Why an endpoint that just failed is disabled now, or None to keep it: the reason the
    dispatcher gave (410 Gone), or failing without a single success since before `cutoff`."""
    if given is not None:
        return given
    if cutoff is not None and failing_since is not None and failing_since < cutoff:
        return f"failing since {format_time(failing_since)}"
    return None


def fan_out_rows(
    events: Iterable[Mapping[str, Any]], subscriptions: Iterable[Mapping[str, Any]], make_id: Any
) -> list[dict[str, Any]]:
    """One delivery per (journal event, enabled subscription that wants it): the rows to insert.
    An event is `{seq, interrupt_id, event_type, sequence, user_id, session_id}`, a subscription
    `{id, events (patterns, maybe as JSON text), user_id, session_id}`."""
    wanted = [
        (s["id"], _patterns(s["events"]), s["user_id"], s["session_id"]) for s in subscriptions
    ]
    return [
        {
            "id": make_id(),
            "subscription_id": subscription_id,
            "event_seq": e["seq"],
            "event_id": event_id(e["interrupt_id"], e["sequence"]),
            "event_type": e["event_type"],
        }
        for e in events
        for subscription_id, patterns, user_filter, session_filter in wanted
        if matches(patterns, user_filter, session_filter, e["event_type"], e["user_id"], e["session_id"])
    ]


def _patterns(stored: Any) -> Sequence[str]:
    patterns: Sequence[str] = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
    return patterns
