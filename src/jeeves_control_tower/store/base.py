"""The storage boundary: the one interface the service uses to persist interrupts and their journal.

A store makes each state change a compare-and-set and appends the matching journal event in the
same transaction. It knows nothing of the service's rules beyond the `Guard` it is handed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional, Protocol, runtime_checkable

from jeeves_protocols import FlowInterrupt, InterruptKind, InterruptResponse, InterruptStatus

from .constants import TERMINAL_EVENT_TYPES
from .listing import EventQuery, InterruptQuery

__all__ = [
    "Guard",
    "Finish",
    "FinishOutcome",
    "InterruptEvent",
    "InterruptStore",
    "ChangeListener",
    "ANY_INTERRUPT",
    "TERMINAL_EVENT_TYPES",
    "CREATED_SEQUENCE",
    "TERMINAL_SEQUENCE",
    "CONSUMED_SEQUENCE",
    "CONSUMED_EVENT",
    "INTERIM_SEQUENCE",
    "EXTENDED_EVENT",
    "REMINDER_EVENT",
    "PendingGroup",
    "AgeLimits",
]

#: Per-interrupt event ordinals: an interrupt has one creation event and at most one terminal one.
CREATED_SEQUENCE = 1
TERMINAL_SEQUENCE = 2
#: The agent used the interrupt's approval (`consume`): after the terminal event, at most once.
CONSUMED_SEQUENCE = 3
CONSUMED_EVENT = "interrupt.approval_consumed"
#: An interim event (between creation and the end; today: a deadline extended) is journalled at
#: INTERIM_SEQUENCE plus the interim events before it. Every later event's sequence counts the
#: interim ones too (the end is TERMINAL_SEQUENCE + their number), so sequences stay in order.
INTERIM_SEQUENCE = 1
EXTENDED_EVENT = "interrupt.extended"
REMINDER_EVENT = "interrupt.reminder"

#: Called with an interrupt id whenever the store learns that the interrupt changed,
#: in this process or (for stores that can tell) in another one.
ChangeListener = Callable[[str], None]

#: The id a listener gets when any interrupt may have changed (a batch expiry announced once,
#: or a lost NOTIFY connection that came back): every waiter re-reads.
ANY_INTERRUPT = "*"


# Guard, Finish and FinishOutcome are made on every answer: plain slotted dataclasses, since a
# frozen one's __init__ sets each field through object.__setattr__ (twice the cost). Nothing
# mutates them after construction.
@dataclass(slots=True)
class Guard:
    """Conditions checked atomically with a transition; a mismatch leaves the interrupt untouched."""

    #: The interrupt's user_id must equal this (None: anyone).
    responder_id: Optional[str] = None
    #: The interrupt's kind must be one of these (None: any kind).
    kinds: Optional[frozenset[InterruptKind]] = None
    #: The service checked the interrupt's policy (`FlowInterrupt.policy`) against this change,
    #: or it has none to check: an interrupt with a policy is admitted only then. A policy never
    #: changes once created, so a check made before the compare-and-set still holds in it.
    policy_checked: bool = False

    def admits(self, user_id: str, kind: str, has_policy: bool) -> bool:
        """Whether an interrupt of this user and kind (the enum or its value) passes."""
        return (
            (self.responder_id is None or user_id == self.responder_id)
            and (self.kinds is None or kind in self.kinds)
            and (self.policy_checked or not has_policy)
        )


@dataclass(slots=True)
class Finish:
    """A move from pending to resolved or cancelled, as the service decided it."""

    status: InterruptStatus
    at: datetime
    response: Optional[InterruptResponse] = None
    #: Merged into the interrupt's data (e.g. {"cancel_reason": ...}).
    data_patch: Optional[dict[str, Any]] = None

    @property
    def event_type(self) -> str:
        return TERMINAL_EVENT_TYPES[self.status]



@dataclass(slots=True)
class FinishOutcome:
    """What a compare-and-set did: `changed` and the interrupt after it, or the untouched current state."""

    changed: bool
    interrupt: Optional[FlowInterrupt]


@dataclass(frozen=True, slots=True)
class InterruptEvent:
    """One journal entry: a committed transition and the interrupt as it stood right after it."""

    #: Position in the journal, increasing in commit order per store.
    seq: int
    type: str
    #: The event's place among its interrupt's, 1, 2, 3... (creation, interim events, the end, the
    #: approval used): receivers order by it.
    sequence: int
    interrupt: FlowInterrupt
    created_at: datetime

    @property
    def interrupt_id(self) -> str:
        return self.interrupt.id


#: The moments an hour, a day and a week before now: where the age buckets of a summary part.
AgeLimits = tuple[datetime, datetime, datetime]


@dataclass(frozen=True, slots=True)
class PendingGroup:
    """Pending interrupts of one kind, addressed to one user, in one age bucket, and how many."""

    kind: str
    user_id: str
    #: 0: younger than an hour, 1: than a day, 2: than a week, 3: older.
    age: int
    waiting: int


@runtime_checkable
class InterruptStore(Protocol):
    """Durable (or in-memory) interrupts plus their event journal."""

    #: How often a waiter should re-read when no push can reach it from another process
    #: (None: every change is pushed to `add_listener` callbacks).
    wake_poll_interval: Optional[float]

    async def open(self) -> None:
        """Connect and apply migrations. Idempotent."""

    async def close(self) -> None: ...

    async def create(
        self, interrupt: FlowInterrupt, event_type: str
    ) -> tuple[FlowInterrupt, bool]:
        """Insert the interrupt and its creation event; with an idempotency key already used,
        insert nothing and return the stored interrupt with `False`."""

    async def get(self, interrupt_id: str) -> Optional[FlowInterrupt]: ...

    async def get_by_idempotency_key(self, key: str) -> Optional[FlowInterrupt]: ...

    async def pending_for_request(self, request_id: str, now: datetime) -> Optional[FlowInterrupt]:
        """The newest interrupt of the request that is pending and not yet due at `now`."""

    async def pending_for_session(
        self, session_id: str, kinds: Optional[frozenset[InterruptKind]], now: datetime
    ) -> list[FlowInterrupt]:
        """The session's pending, not yet due interrupts, oldest first."""

    async def finish(self, interrupt_id: str, finish: Finish, guard: Guard) -> FinishOutcome:
        """Compare-and-set pending (and not due at `finish.at`) to `finish.status`, if `guard` admits."""

    async def extend(
        self, interrupt_id: str, old_expires_at: datetime, new_expires_at: datetime, at: datetime
    ) -> FinishOutcome:
        """Compare-and-set a pending, not yet due (at `at`) interrupt's expiry from `old_expires_at`
        to `new_expires_at`, journalled as EXTENDED_EVENT; unchanged (and its current state) if it
        is no longer pending or its expiry moved meanwhile."""

    async def remind_due(self, now: datetime, limit: int) -> list[FlowInterrupt]:
        """Send up to `limit` due reminders of pending, not yet due interrupts (each journalled as
        REMINDER_EVENT, once, however many instances sweep); the interrupts reminded of."""

    async def consume(self, interrupt_id: str, action_hash: str, at: datetime) -> FinishOutcome:
        """Mark the resolved interrupt's approval of `action_hash` used at `at`, once, journalled
        as CONSUMED_EVENT; unchanged (and its current state) if it was used already or does not match."""

    async def pending_summary(self, now: datetime, ages: AgeLimits) -> list[PendingGroup]:
        """Pending, not yet due interrupts grouped by kind, user and age: `ages` are the moments
        an hour, a day and a week before `now`."""

    async def expire_due(
        self, now: datetime, limit: int, interrupt_id: Optional[str] = None
    ) -> list[FlowInterrupt]:
        """Expire up to `limit` pending interrupts due at `now` (only `interrupt_id`, if given)."""

    async def events_after(self, seq: int, limit: int) -> list[InterruptEvent]:
        """Journal entries with a position past `seq`, in order."""

    async def journal_position(self) -> int:
        """The position of the newest committed journal entry (0: none). Positions follow commit
        order, so every entry that commits later has a greater one."""

    async def list_interrupts(self, query: InterruptQuery) -> list[FlowInterrupt]:
        """Interrupts matching every filter of `query`, newest first, at most `query.limit`."""

    async def events_for(self, query: EventQuery) -> list[InterruptEvent]:
        """Journal entries past `query.after_seq` about the query's user and/or session, in order."""

    def add_listener(self, listener: ChangeListener) -> None: ...

    def remove_listener(self, listener: ChangeListener) -> None: ...
