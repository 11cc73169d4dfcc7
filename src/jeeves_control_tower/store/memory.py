"""The in-memory store: every query served by an index, the same outcomes as the durable stores.

No method awaits between reading and writing, so each one is atomic on the event loop
without a lock. Stored interrupts never leak out: callers get copies, so mutating a returned
object changes nothing here (as with a database).

Each interrupt is kept as a record: a plain tuple of strings, numbers, datetimes and None
(`data` and the response's data as JSON text, enums as their values). The garbage collector
stops tracking such tuples, so a full collection no longer walks every stored interrupt: with
objects per interrupt, collections took half of a long round-trip run (measured by bench/).
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import operator
from collections import deque
from datetime import datetime
from typing import Any, Optional

from jeeves_protocols import (
    FlowInterrupt,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    Resolution,
    StoreError,
)
from jeeves_protocols.enums import RESOLUTION_BY_STATUS
from jeeves_protocols.interrupts import parse_time

from ._listeners import ListenerSet
from .base import (
    CONSUMED_EVENT,
    CONSUMED_SEQUENCE,
    CREATED_SEQUENCE,
    EXTENDED_EVENT,
    INTERIM_SEQUENCE,
    REMINDER_EVENT,
    TERMINAL_EVENT_TYPES,
    TERMINAL_SEQUENCE,
    AgeLimits,
    Finish,
    FinishOutcome,
    Guard,
    InterruptEvent,
    PendingGroup,
)
from .listing import EventQuery, InterruptQuery

__all__ = ["MemoryStore"]

_EMPTY_JSON = "{}"
_PENDING = InterruptStatus.PENDING.value

#: A stored interrupt: FlowInterrupt's fields in constructor order, as GC-untracked values.
Record = tuple[Any, ...]
_FIELDS = tuple(field.name for field in dataclasses.fields(FlowInterrupt))
_ALL_FIELDS = operator.attrgetter(*_FIELDS)
_AT = {name: position for position, name in enumerate(_FIELDS)}
_ID, _KIND, _REQUEST = _AT["id"], _AT["kind"], _AT["request_id"]
_USER, _SESSION = _AT["user_id"], _AT["session_id"]
_DATA, _STATUS, _RESPONSE = _AT["data"], _AT["status"], _AT["response"]
_EXPIRES, _RESOLVED = _AT["expires_at"], _AT["resolved_at"]
_POLICY, _RESOLUTION = _AT["policy"], _AT["resolution"]
_ACTION_HASH, _CONSUMED = _AT["action_hash"], _AT["consumed_at"]
#: Where a response record keeps its action hash (see _response_record).
_RESPONSE_HASH = 6
_KINDS = {kind.value: kind for kind in InterruptKind}
_STATUSES = {status.value: status for status in InterruptStatus}
_RESOLUTIONS = {resolution.value: resolution for resolution in Resolution}
#: The resolution a status implies, by the status's value (what a record holds).
_RESOLUTION_OF_STATUS = {status.value: resolution for status, resolution in RESOLUTION_BY_STATUS.items()}
#: What the expiry of an interrupt without an `expiry_response` in its policy records (its
#: resolution, as an answer's and a cancel's, is the one its status implies: left None).
_EXPIRED = (InterruptStatus.EXPIRED, None, None)

#: A journal event: (seq, type, sequence, the interrupt's record right after it, at). Records are
#: immutable tuples, replaced on every change, so an event keeps the state it produced for free.
_JournalEntry = tuple[int, str, int, Record, datetime]


def _to_json(data: dict[str, Any]) -> str:
    return json.dumps(data) if data else _EMPTY_JSON


def _load(data_json: str) -> dict[str, Any]:
    return {} if data_json is _EMPTY_JSON else dict(json.loads(data_json))


def _response_record(response: Optional[InterruptResponse]) -> Optional[Record]:
    if response is None:
        return None
    return (response.text, response.approved, response.decision, _to_json(response.data),
            response.received_at, response.responder_id, response.action_hash, response.token_id,
            response.via)


def _response(record: Optional[Record]) -> Optional[InterruptResponse]:
    if record is None:
        return None
    text, approved, decision, data_json, received_at, responder_id, action_hash, token_id, via = record
    return InterruptResponse(
        text, approved, decision, _load(data_json), received_at, responder_id, action_hash, token_id, via
    )


def _record(interrupt: FlowInterrupt) -> Record:
    values = list(_ALL_FIELDS(interrupt))
    values[_KIND] = interrupt.kind.value
    values[_STATUS] = interrupt.status.value
    values[_DATA] = _to_json(interrupt.data)
    values[_RESPONSE] = _response_record(interrupt.response)
    values[_POLICY] = json.dumps(interrupt.policy) if interrupt.policy else None
    if interrupt.resolution is not None:
        values[_RESOLUTION] = interrupt.resolution.value
    return tuple(values)


def _snapshot(record: Record) -> FlowInterrupt:
    """A FlowInterrupt of the caller's own: fresh data and response objects every time."""
    values = list(record)
    values[_KIND] = _KINDS[record[_KIND]]
    values[_STATUS] = _STATUSES[record[_STATUS]]
    values[_DATA] = _load(record[_DATA])
    values[_RESPONSE] = _response(record[_RESPONSE])
    values[_POLICY] = json.loads(record[_POLICY]) if record[_POLICY] is not None else {}
    stored = record[_RESOLUTION]
    if stored is not None:
        values[_RESOLUTION] = _RESOLUTIONS[stored]
    elif record[_STATUS] != _PENDING:
        values[_RESOLUTION] = _RESOLUTION_OF_STATUS[record[_STATUS]]
    return FlowInterrupt(*values)


def _expiry_outcome(record: Record, now: datetime) -> tuple[InterruptStatus, Optional[str], Optional[Record]]:
    """How a due interrupt ends: expired, or resolved with its policy's `expiry_response`."""
    if record[_POLICY] is None:
        return _EXPIRED
    policy = json.loads(record[_POLICY])
    answer = policy.get("expiry_response")
    if answer is None:
        return _EXPIRED
    approve = policy.get("on_expire") == "approve"
    resolution = Resolution.AUTO_APPROVED if approve else Resolution.AUTO_REJECTED
    response = InterruptResponse.from_dict({**answer, "received_at": None})
    response.received_at = now
    return InterruptStatus.RESOLVED, resolution.value, _response_record(response)


def _reminder_time(reminders: list[str], which: int) -> datetime:
    moment = parse_time(reminders[which])
    assert moment is not None  # written by the service as ISO times
    return moment


def _is_due(record: Record, now: datetime) -> bool:
    expires_at = record[_EXPIRES]
    return record[_STATUS] == _PENDING and expires_at is not None and expires_at <= now


class _RecordView:
    """A record's fields by name, for the listing filters (`InterruptQuery.admits`,
    `EventQuery.admits`), without building a FlowInterrupt per candidate."""

    __slots__ = ("_record",)

    def __init__(self, record: Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record[_AT[name]]  # kind and status as their values: the filters allow it


class MemoryStore(ListenerSet):
    """Interrupts in this process's memory; gone when it exits.

    Indexes: by id, pending by session and by request (insertion-ordered dicts of ids), pending
    expiry in a heap (stale heap entries are dropped lazily), idempotency keys. The journal keeps
    the newest `journal_limit` events.
    """

    wake_poll_interval: Optional[float] = None

    def __init__(self, *, journal_limit: int = 100_000) -> None:
        super().__init__()
        self._records: dict[str, Record] = {}
        self._pending_by_session: dict[str, dict[str, None]] = {}
        self._pending_by_request: dict[str, dict[str, None]] = {}
        self._expiry_heap: list[tuple[datetime, str]] = []
        self._by_idempotency_key: dict[str, str] = {}
        self._journal: deque[_JournalEntry] = deque(maxlen=journal_limit)
        #: Interim events (deadlines extended, reminders) per interrupt that had any: later
        #: sequences count them.
        self._interim: dict[str, int] = {}
        #: Reminders due, as (when, interrupt id, which of its policy's `reminders_at`).
        self._reminder_heap: list[tuple[datetime, str, int]] = []
        self._next_seq = 1

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- writes ---------------------------------------------------------------------------

    async def create(self, interrupt: FlowInterrupt, event_type: str) -> tuple[FlowInterrupt, bool]:
        key = interrupt.idempotency_key
        if key is not None and key in self._by_idempotency_key:
            return _snapshot(self._records[self._by_idempotency_key[key]]), False
        interrupt_id = interrupt.id
        if interrupt_id in self._records:
            raise StoreError(f"duplicate interrupt id {interrupt_id!r}")  # as the SQL stores raise
        record = _record(interrupt)
        self._records[interrupt_id] = record
        if key is not None:
            self._by_idempotency_key[key] = interrupt_id
        if interrupt.status is InterruptStatus.PENDING:
            self._pending_by_session.setdefault(interrupt.session_id, {})[interrupt_id] = None
            self._pending_by_request.setdefault(interrupt.request_id, {})[interrupt_id] = None
            if interrupt.expires_at is not None:
                heapq.heappush(self._expiry_heap, (interrupt.expires_at, interrupt_id))
            reminders = interrupt.policy.get("reminders_at") if interrupt.policy else None
            if reminders:
                heapq.heappush(self._reminder_heap, (_reminder_time(reminders, 0), interrupt_id, 0))
        self._journal_append(record, event_type, CREATED_SEQUENCE, interrupt.created_at)
        # The caller's object is theirs to return: nothing stored refers to it or to its data.
        return interrupt, True

    async def finish(self, interrupt_id: str, finish: Finish, guard: Guard) -> FinishOutcome:
        record = self._records.get(interrupt_id)
        if record is None:
            return FinishOutcome(False, None)
        if (
            record[_STATUS] != _PENDING
            or _is_due(record, finish.at)
            or not guard.admits(record[_USER], record[_KIND], record[_POLICY] is not None)
        ):
            return FinishOutcome(False, _snapshot(record))
        values = list(record)
        if finish.data_patch:
            data = json.loads(record[_DATA])
            data.update(finish.data_patch)
            values[_DATA] = json.dumps(data)
        response = _response_record(finish.response)
        if record[_ACTION_HASH] is not None and response is not None and response[_RESPONSE_HASH] is None:
            # The answer records the action it was given on: the proposed one, unless it edited it.
            response = (*response[:_RESPONSE_HASH], record[_ACTION_HASH], *response[_RESPONSE_HASH + 1 :])
        values[_RESPONSE] = response
        record = self._close(values, finish.status, finish.at)
        sequence = self._sequence(interrupt_id, TERMINAL_SEQUENCE)
        self._journal_append(record, finish.event_type, sequence, finish.at)
        self._announce_one(interrupt_id)
        return FinishOutcome(True, _snapshot(record))

    async def extend(
        self, interrupt_id: str, old_expires_at: datetime, new_expires_at: datetime, at: datetime
    ) -> FinishOutcome:
        record = self._records.get(interrupt_id)
        if record is None:
            return FinishOutcome(False, None)
        if record[_STATUS] != _PENDING or record[_EXPIRES] != old_expires_at or _is_due(record, at):
            return FinishOutcome(False, _snapshot(record))
        record = self._set(record, _EXPIRES, new_expires_at)
        # The old heap entry stays behind: _pop_due skips an entry its record no longer matches.
        heapq.heappush(self._expiry_heap, (new_expires_at, interrupt_id))
        self._journal_append(record, EXTENDED_EVENT, self._next_interim(interrupt_id), at)
        self._announce_one(interrupt_id)
        return FinishOutcome(True, _snapshot(record))

    async def remind_due(self, now: datetime, limit: int) -> list[FlowInterrupt]:
        heap = self._reminder_heap
        reminded: list[FlowInterrupt] = []
        while heap and len(reminded) < limit and heap[0][0] <= now:
            _, interrupt_id, which = heapq.heappop(heap)
            record = self._records[interrupt_id]
            if record[_STATUS] != _PENDING or _is_due(record, now):
                continue  # answered, cancelled or due: no more reminders
            self._journal_append(record, REMINDER_EVENT, self._next_interim(interrupt_id), now)
            reminders = json.loads(record[_POLICY])["reminders_at"]
            ahead = (n for n in range(which + 1, len(reminders)) if _reminder_time(reminders, n) > now)
            upcoming = next(ahead, None)
            if upcoming is not None:  # reminders due together make one
                heapq.heappush(heap, (_reminder_time(reminders, upcoming), interrupt_id, upcoming))
            reminded.append(_snapshot(record))
        self._announce(interrupt.id for interrupt in reminded)
        return reminded

    async def consume(self, interrupt_id: str, action_hash: str, at: datetime) -> FinishOutcome:
        record = self._records.get(interrupt_id)
        if record is None:
            return FinishOutcome(False, None)
        response = record[_RESPONSE]
        approved = response[_RESPONSE_HASH] if response is not None else None
        if (
            record[_STATUS] != InterruptStatus.RESOLVED.value
            or record[_CONSUMED] is not None
            or (approved or record[_ACTION_HASH]) != action_hash
        ):
            return FinishOutcome(False, _snapshot(record))
        record = self._set(record, _CONSUMED, at)
        self._journal_append(record, CONSUMED_EVENT, self._sequence(interrupt_id, CONSUMED_SEQUENCE), at)
        self._announce_one(interrupt_id)
        return FinishOutcome(True, _snapshot(record))

    async def pending_summary(self, now: datetime, ages: AgeLimits) -> list[PendingGroup]:
        counts: dict[tuple[str, str, int], int] = {}
        for bucket in self._pending_by_session.values():
            for interrupt_id in bucket:
                record = self._records[interrupt_id]
                if _is_due(record, now):
                    continue
                created = record[_AT["created_at"]]
                age = next((i for i, since in enumerate(ages) if created > since), len(ages))
                key = (record[_KIND], record[_USER], age)
                counts[key] = counts.get(key, 0) + 1
        return [PendingGroup(*key, waiting) for key, waiting in sorted(counts.items())]

    async def expire_due(
        self, now: datetime, limit: int, interrupt_id: Optional[str] = None
    ) -> list[FlowInterrupt]:
        if interrupt_id is not None:
            record = self._records.get(interrupt_id)
            due = [record] if record is not None and _is_due(record, now) else []
        else:
            due = self._pop_due(now, limit)
        expired = []
        for record in due:
            status, resolution, response = _expiry_outcome(record, now)
            values = list(record)
            values[_RESOLUTION] = resolution
            values[_RESPONSE] = response
            closed = self._close(values, status, now)
            sequence = self._sequence(closed[_ID], TERMINAL_SEQUENCE)
            self._journal_append(closed, TERMINAL_EVENT_TYPES[status], sequence, now)
            expired.append(_snapshot(closed))
        self._announce(interrupt.id for interrupt in expired)
        return expired

    def _pop_due(self, now: datetime, limit: int) -> list[Record]:
        heap = self._expiry_heap
        due: list[Record] = []
        while heap and len(due) < limit and heap[0][0] <= now:
            expires_at, interrupt_id = heapq.heappop(heap)
            record = self._records[interrupt_id]
            # Answered, cancelled and extended interrupts leave stale heap entries behind.
            if record[_STATUS] == _PENDING and record[_EXPIRES] == expires_at:
                due.append(record)
        return due

    def _close(self, values: list[Any], status: InterruptStatus, at: datetime) -> Record:
        """Store `values` (a record being rewritten) as ended at `at`, out of the pending indexes."""
        values[_STATUS] = status.value
        values[_RESOLVED] = at
        record = tuple(values)
        interrupt_id = record[_ID]
        self._records[interrupt_id] = record
        _discard(self._pending_by_session, record[_SESSION], interrupt_id)
        _discard(self._pending_by_request, record[_REQUEST], interrupt_id)
        return record

    def _set(self, record: Record, position: int, value: Any) -> Record:
        """Store `record` with one field changed (records are immutable: each change is a new one)."""
        values = list(record)
        values[position] = value
        changed = self._records[record[_ID]] = tuple(values)
        return changed

    def _next_interim(self, interrupt_id: str) -> int:
        """Count one more interim event of the interrupt; the sequence it is journalled at."""
        interim = self._interim[interrupt_id] = self._interim.get(interrupt_id, 0) + 1
        return INTERIM_SEQUENCE + interim

    def _sequence(self, interrupt_id: str, sequence: int) -> int:
        """An event's place among its interrupt's: `sequence` after the interim events so far."""
        return sequence + self._interim.get(interrupt_id, 0) if self._interim else sequence

    def _journal_append(self, record: Record, event_type: str, sequence: int, at: datetime) -> None:
        self._journal.append((self._next_seq, event_type, sequence, record, at))
        self._next_seq += 1

    def _event(self, journal_entry: _JournalEntry) -> InterruptEvent:
        """The event, materialised from the record it kept: the interrupt as it stood then."""
        seq, event_type, sequence, record, at = journal_entry
        return InterruptEvent(seq, event_type, sequence, _snapshot(record), at)

    # -- reads ----------------------------------------------------------------------------

    async def get(self, interrupt_id: str) -> Optional[FlowInterrupt]:
        record = self._records.get(interrupt_id)
        return _snapshot(record) if record is not None else None

    async def get_by_idempotency_key(self, key: str) -> Optional[FlowInterrupt]:
        interrupt_id = self._by_idempotency_key.get(key)
        return _snapshot(self._records[interrupt_id]) if interrupt_id is not None else None

    async def pending_for_request(self, request_id: str, now: datetime) -> Optional[FlowInterrupt]:
        for interrupt_id in reversed(self._pending_by_request.get(request_id, {})):
            record = self._records[interrupt_id]
            if not _is_due(record, now):
                return _snapshot(record)
        return None

    async def pending_for_session(
        self, session_id: str, kinds: Optional[frozenset[InterruptKind]], now: datetime
    ) -> list[FlowInterrupt]:
        records = (self._records[i] for i in self._pending_by_session.get(session_id, {}))
        return [
            _snapshot(record)
            for record in records
            if not _is_due(record, now) and (kinds is None or _KINDS[record[_KIND]] in kinds)
        ]

    async def journal_position(self) -> int:
        return self._journal[-1][0] if self._journal else 0

    async def events_after(self, seq: int, limit: int) -> list[InterruptEvent]:
        journal = self._journal
        if not journal:
            return []
        start = max(seq + 1 - journal[0][0], 0)
        return [self._event(journal[i]) for i in range(start, min(start + limit, len(journal)))]

    async def list_interrupts(self, query: InterruptQuery) -> list[FlowInterrupt]:
        # Records are in insertion (= id) order: walk them newest first and stop at `limit`.
        found: list[FlowInterrupt] = []
        for record in reversed(self._records.values()):
            if len(found) >= query.limit:
                break
            if query.admits(_RecordView(record)):
                found.append(_snapshot(record))
        return found

    async def events_for(self, query: EventQuery) -> list[InterruptEvent]:
        journal = self._journal
        if not journal:
            return []
        found: list[InterruptEvent] = []
        for i in range(max(query.after_seq + 1 - journal[0][0], 0), len(journal)):
            if len(found) >= query.limit:
                break
            if query.admits(_RecordView(journal[i][3])):
                found.append(self._event(journal[i]))
        return found


def _discard(index: dict[str, dict[str, None]], key: str, interrupt_id: str) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(interrupt_id, None)
        if not bucket:
            del index[key]
