"""Reading stored interrupts back, and the one rule for a row that cannot be read.

A row can become unreadable behind our back: another tool wrote the table, a column was edited
by hand, an old version stored what this one refuses (`data` nested deeper than the API can
serialise). One such row must not take down every listing that contains it, so:

- listings (`list_interrupts`, `pending_for_session`, `pending_for_request`, the sweep) and the
  journal (`events_for`, the SSE stream, `events_after`) skip it, fetching further rows in its
  place so a page stays full and pagination stays correct;
- a lookup of that one interrupt (`get`, `get_by_idempotency_key`) raises CorruptInterruptError,
  which names the interrupt and the column (the HTTP API answers it 500 `corrupt_interrupt`).

Each unreadable row is logged once per process as one structured error line
(`stored_interrupt_unreadable`, with the interrupt id, the column and the cause) and counted in
`unreadable_rows()`, however often it is met again (a stream re-reads the same trailing rows on
every poll).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Optional, TypeVar

import structlog

from jeeves_protocols import CorruptInterruptError, FlowInterrupt
from jeeves_protocols.interrupts import parse_time

from .base import InterruptEvent

__all__ = ["event_from_row", "interrupt_from_row", "readable", "readable_page", "unreadable_rows"]

R = TypeVar("R")
T = TypeVar("T")
#: A position to fetch past: what `position` reads off the last raw row of a page.
P = TypeVar("P")

_log = structlog.get_logger("jeeves.store")
#: Rows already logged, oldest first; bounded so a table full of bad rows cannot grow it forever.
_reported: dict[tuple[Optional[str], Optional[int], Optional[str]], None] = {}
_REPORTED_LIMIT = 10_000
_counts = {"unreadable": 0}


def unreadable_rows() -> int:
    """How many distinct unreadable rows this process has met (and skipped or refused)."""
    return _counts["unreadable"]


def report_unreadable(exc: CorruptInterruptError, *, seq: Optional[int] = None) -> None:
    """Log (once per row and process) that a stored row cannot be read, and count it."""
    key = (exc.interrupt_id, seq, exc.column)
    if key in _reported:
        return
    if len(_reported) >= _REPORTED_LIMIT:
        del _reported[next(iter(_reported))]
    _reported[key] = None
    _counts["unreadable"] += 1
    _log.error(
        "stored_interrupt_unreadable",
        interrupt_id=exc.interrupt_id,
        event_seq=seq,
        column=exc.column,
        cause=exc.message,
    )


def interrupt_from_row(row: Mapping[str, Any]) -> FlowInterrupt:
    """`FlowInterrupt.from_db_row`, reporting a row it cannot read before raising for it."""
    try:
        return FlowInterrupt.from_db_row(row)
    except CorruptInterruptError as exc:
        report_unreadable(exc)
        raise


def event_from_row(
    seq: int, event_type: str, sequence: int, payload: Any, created_at: Any, interrupt_id: Optional[str]
) -> InterruptEvent:
    """A journal row as an InterruptEvent: `payload` the interrupt as JSON text or a mapping,
    `created_at` ISO text or a datetime. Raises CorruptInterruptError if any of it is unreadable."""
    try:
        if isinstance(payload, Mapping):
            interrupt = FlowInterrupt.from_db_row(payload)
        elif isinstance(payload, (str, bytes, bytearray)):
            interrupt = FlowInterrupt.from_json(payload, interrupt_id=interrupt_id)
        elif payload is None:  # the store could not build one from the stored row
            raise CorruptInterruptError(
                interrupt_id, f"journal entry {seq}: a column of the interrupt holds a value JSON cannot",
                column="payload",
            )
        else:
            raise CorruptInterruptError(
                interrupt_id, f"journal entry {seq}: payload is {type(payload).__name__}, not JSON",
                column="payload",
            )
    except CorruptInterruptError as exc:
        if exc.interrupt_id is not None or interrupt_id is None:
            raise
        # The payload's own id is what is damaged: name the interrupt by the journal's column.
        raise CorruptInterruptError(
            interrupt_id, f"journal entry {seq}: {exc.message}", column=exc.column
        ) from None
    try:
        at = parse_time(created_at)
    except (TypeError, ValueError, OverflowError) as exc:
        at = None
        cause = str(exc)
    else:
        cause = "it is missing"
    if not isinstance(at, datetime):
        raise CorruptInterruptError(
            interrupt.id, f"journal entry {seq}: created_at is not a time ({cause})", column="created_at"
        )
    return InterruptEvent(seq, event_type, sequence, interrupt, at)


def readable(
    rows: Sequence[R], convert: Callable[[R], T], seq: Callable[[R], Optional[int]] = lambda _: None
) -> list[T]:
    """Each row converted; a row that raises CorruptInterruptError is reported and left out."""
    found: list[T] = []
    for row in rows:
        try:
            found.append(convert(row))
        except CorruptInterruptError as exc:
            report_unreadable(exc, seq=seq(row))
    return found


async def readable_page(
    fetch: Callable[[Optional[P], int], Awaitable[Sequence[R]]],
    convert: Callable[[R], T],
    limit: int,
    position: Callable[[R], Optional[P]],
    seq: Callable[[R], Optional[int]] = lambda _: None,
) -> list[T]:
    """Up to `limit` readable rows, converted. `fetch(after, n)` gives up to n raw rows in order,
    past position `after` (None: from the start). When rows had to be skipped, more are fetched
    past the last one, so a page is short only at the end of what matches: a caller that pages
    on "one row more than I show" (the HTTP listing) never stops early."""
    found: list[T] = []
    after: Optional[P] = None
    want = limit
    while True:
        rows = await fetch(after, want)
        found.extend(readable(rows, convert, seq))
        if len(found) >= limit or len(rows) < want:
            return found
        after = position(rows[-1])
        if after is None:  # the position itself is unreadable: nothing safe to continue from
            return found
        want = limit - len(found)
