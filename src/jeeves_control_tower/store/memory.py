"""The in-memory store: every query served by an index, the same outcomes as the durable stores.

No method awaits between reading and writing, so each one is atomic on the event loop
without a lock. Stored interrupts never leak out: callers get copies, so mutating a returned
object changes nothing here (as with a database).
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import operator
from collections import deque
from datetime import datetime
from typing import Any, Optional

from jeeves_protocols import FlowInterrupt, InterruptKind, InterruptResponse, InterruptStatus

from ._listeners import ListenerSet
from .base import (
    CREATED_SEQUENCE,
    TERMINAL_EVENT_TYPES,
    TERMINAL_SEQUENCE,
    Finish,
    FinishOutcome,
    Guard,
    InterruptEvent,
)
from .listing import EventQuery, InterruptQuery

__all__ = ["MemoryStore"]

_EMPTY_JSON = "{}"

# Every field in constructor order: copying through the constructor is about five times faster
# than copy.copy (which goes through __reduce_ex__ for slotted dataclasses), and the memory
# store copies on every read and write.
_ALL_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(FlowInterrupt)))


def _copy(interrupt: FlowInterrupt) -> FlowInterrupt:
    """A shallow copy (callers replace `data` and `response` with their own)."""
    return FlowInterrupt(*_ALL_FIELDS(interrupt))


class _Entry:
    """A stored interrupt. `data` is kept as JSON text so no caller can alias it."""

    __slots__ = ("data_json", "interrupt")

    def __init__(self, interrupt: FlowInterrupt, data_json: str) -> None:
        self.interrupt = interrupt
        self.data_json = data_json

    def snapshot(self) -> FlowInterrupt:
        copied = _copy(self.interrupt)
        copied.data = _load(self.data_json)
        if copied.response is not None:
            copied.response = _clone_response(copied.response)
        return copied


#: A journal event: (seq, type, sequence, interrupt id, data JSON at the time, at). Only strings,
#: ints and datetimes, so the garbage collector stops tracking it: a long journal of objects
#: pointing at entries was scanned again by every full collection.
_JournalEntry = tuple[int, str, int, str, str, datetime]


def _load(data_json: str) -> dict[str, Any]:
    return {} if data_json is _EMPTY_JSON else dict(json.loads(data_json))


def _clone_response(response: InterruptResponse) -> InterruptResponse:
    return InterruptResponse(
        text=response.text,
        approved=response.approved,
        decision=response.decision,
        data=json.loads(json.dumps(response.data)) if response.data else {},
        received_at=response.received_at,
        responder_id=response.responder_id,
    )


class MemoryStore(ListenerSet):
    """Interrupts in this process's memory; gone when it exits.

    Indexes: by id, pending by session and by request (insertion-ordered dicts), pending expiry
    in a heap (stale heap entries are dropped lazily), idempotency keys. The journal keeps the
    newest `journal_limit` events.
    """

    wake_poll_interval: Optional[float] = None

    def __init__(self, *, journal_limit: int = 100_000) -> None:
        super().__init__()
        self._entries: dict[str, _Entry] = {}
        self._pending_by_session: dict[str, dict[str, _Entry]] = {}
        self._pending_by_request: dict[str, dict[str, _Entry]] = {}
        self._expiry_heap: list[tuple[datetime, str]] = []
        self._by_idempotency_key: dict[str, str] = {}
        self._journal: deque[_JournalEntry] = deque(maxlen=journal_limit)
        self._next_seq = 1

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- writes ---------------------------------------------------------------------------

    async def create(self, interrupt: FlowInterrupt, event_type: str) -> tuple[FlowInterrupt, bool]:
        key = interrupt.idempotency_key
        if key is not None and key in self._by_idempotency_key:
            return self._entries[self._by_idempotency_key[key]].snapshot(), False
        if interrupt.id in self._entries:
            raise KeyError(f"duplicate interrupt id {interrupt.id!r}")
        data_json = json.dumps(interrupt.data) if interrupt.data else _EMPTY_JSON
        stored = _copy(interrupt)
        stored.data = {}
        if stored.response is not None:
            stored.response = _clone_response(stored.response)
        entry = _Entry(stored, data_json)
        self._entries[stored.id] = entry
        if key is not None:
            self._by_idempotency_key[key] = stored.id
        if stored.status is InterruptStatus.PENDING:
            self._pending_by_session.setdefault(stored.session_id, {})[stored.id] = entry
            self._pending_by_request.setdefault(stored.request_id, {})[stored.id] = entry
            if stored.expires_at is not None:
                heapq.heappush(self._expiry_heap, (stored.expires_at, stored.id))
        self._journal_append(entry, event_type, CREATED_SEQUENCE, stored.created_at)
        # The caller's object is theirs to return: nothing stored refers to it or to its data.
        return interrupt, True

    async def finish(self, interrupt_id: str, finish: Finish, guard: Guard) -> FinishOutcome:
        entry = self._entries.get(interrupt_id)
        if entry is None:
            return FinishOutcome(False, None)
        current = entry.interrupt
        if (
            current.status is not InterruptStatus.PENDING
            or current.is_due(finish.at)
            or not guard.admits(current)
        ):
            return FinishOutcome(False, entry.snapshot())
        if finish.data_patch:
            data = json.loads(entry.data_json)
            data.update(finish.data_patch)
            entry.data_json = json.dumps(data)
        self._close(entry, finish.status, finish.at)
        # The service builds each Finish (and its response) afresh for this call and never
        # touches it again, so the store can keep it without a copy.
        current.response = finish.response
        self._journal_append(entry, finish.event_type, TERMINAL_SEQUENCE, finish.at)
        self._announce_one(interrupt_id)
        return FinishOutcome(True, entry.snapshot())

    async def expire_due(
        self, now: datetime, limit: int, interrupt_id: Optional[str] = None
    ) -> list[FlowInterrupt]:
        if interrupt_id is not None:
            entry = self._entries.get(interrupt_id)
            due = [entry] if entry is not None and entry.interrupt.is_due(now) else []
        else:
            due = self._pop_due(now, limit)
        expired = []
        for entry in due:
            self._close(entry, InterruptStatus.EXPIRED, now)
            self._journal_append(
                entry, TERMINAL_EVENT_TYPES[InterruptStatus.EXPIRED], TERMINAL_SEQUENCE, now
            )
            expired.append(entry.snapshot())
        self._announce(interrupt.id for interrupt in expired)
        return expired

    def _pop_due(self, now: datetime, limit: int) -> list[_Entry]:
        heap = self._expiry_heap
        due: list[_Entry] = []
        while heap and len(due) < limit and heap[0][0] <= now:
            _, interrupt_id = heapq.heappop(heap)
            entry = self._entries[interrupt_id]
            # Answered or cancelled interrupts leave stale heap entries behind; skip them here.
            if entry.interrupt.status is InterruptStatus.PENDING:
                due.append(entry)
        return due

    def _close(self, entry: _Entry, status: InterruptStatus, at: datetime) -> None:
        interrupt = entry.interrupt
        interrupt.status = status
        interrupt.resolved_at = at
        _discard(self._pending_by_session, interrupt.session_id, interrupt.id)
        _discard(self._pending_by_request, interrupt.request_id, interrupt.id)

    def _journal_append(self, entry: _Entry, event_type: str, sequence: int, at: datetime) -> None:
        self._journal.append((self._next_seq, event_type, sequence, entry.interrupt.id, entry.data_json, at))
        self._next_seq += 1

    def _event(self, journal_entry: _JournalEntry) -> InterruptEvent:
        """The event, materialised: terminal states never change, and a creation event is the
        entry as it was then (pending, unanswered, its data at the time)."""
        seq, event_type, sequence, interrupt_id, data_json, at = journal_entry
        interrupt = self._entries[interrupt_id].snapshot()
        if sequence == CREATED_SEQUENCE:
            interrupt.status = InterruptStatus.PENDING
            interrupt.response = None
            interrupt.resolved_at = None
            interrupt.data = _load(data_json)
        return InterruptEvent(seq, event_type, sequence, interrupt, at)

    # -- reads ----------------------------------------------------------------------------

    async def get(self, interrupt_id: str) -> Optional[FlowInterrupt]:
        entry = self._entries.get(interrupt_id)
        return entry.snapshot() if entry is not None else None

    async def get_by_idempotency_key(self, key: str) -> Optional[FlowInterrupt]:
        interrupt_id = self._by_idempotency_key.get(key)
        return self._entries[interrupt_id].snapshot() if interrupt_id is not None else None

    async def pending_for_request(self, request_id: str, now: datetime) -> Optional[FlowInterrupt]:
        for entry in reversed(self._pending_by_request.get(request_id, {}).values()):
            if not entry.interrupt.is_due(now):
                return entry.snapshot()
        return None

    async def pending_for_session(
        self, session_id: str, kinds: Optional[frozenset[InterruptKind]], now: datetime
    ) -> list[FlowInterrupt]:
        return [
            entry.snapshot()
            for entry in self._pending_by_session.get(session_id, {}).values()
            if not entry.interrupt.is_due(now) and (kinds is None or entry.interrupt.kind in kinds)
        ]

    async def events_after(self, seq: int, limit: int) -> list[InterruptEvent]:
        journal = self._journal
        if not journal:
            return []
        start = max(seq + 1 - journal[0][0], 0)
        return [self._event(journal[i]) for i in range(start, min(start + limit, len(journal)))]

    async def list_interrupts(self, query: InterruptQuery) -> list[FlowInterrupt]:
        # Entries are in insertion (= id) order: walk them newest first and stop at `limit`.
        found: list[FlowInterrupt] = []
        for entry in reversed(self._entries.values()):
            if len(found) >= query.limit:
                break
            if query.admits(entry.interrupt):
                found.append(entry.snapshot())
        return found

    async def events_for(self, query: EventQuery) -> list[InterruptEvent]:
        journal = self._journal
        if not journal:
            return []
        found: list[InterruptEvent] = []
        for i in range(max(query.after_seq + 1 - journal[0][0], 0), len(journal)):
            if len(found) >= query.limit:
                break
            if query.admits(self._entries[journal[i][3]].interrupt):
                found.append(self._event(journal[i]))
        return found


def _discard(index: dict[str, dict[str, _Entry]], key: str, interrupt_id: str) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(interrupt_id, None)
        if not bucket:
            del index[key]
