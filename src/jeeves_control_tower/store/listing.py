"""Listing interrupts and reading the journal with filters: one query builder for both SQL dialects.

Only the filters a caller actually gives become conditions, so each query can use the index that
leads with that column (`(user_id, created_at, id)`, ... from migration 0003) instead of a
generic `(:x IS NULL OR col = :x)` plan that no index serves. Column names come from this module,
never from the caller; values always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any, Optional, Protocol

from jeeves_protocols import InterruptKind, InterruptStatus

__all__ = ["InterruptQuery", "EventQuery", "list_statement", "events_statement"]

Placeholder = Callable[[int], str]


class Filterable(Protocol):
    """What the filters below read: a FlowInterrupt, or a store's lighter view of one (kind and
    status may be the enum or its value)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> Optional[datetime]: ...


@dataclass(frozen=True, slots=True)
class InterruptQuery:
    """Which interrupts to list: every given filter must match. Newest first by (created_at, id);
    `before` is the cursor: only interrupts strictly older than that (created_at, id) position.
    `now`, with the pending filter, leaves out interrupts already past their expiry that the
    sweeper has not reached yet: a due interrupt is never listed as pending."""

    user_id: Optional[str] = None
    session_id: Optional[str] = None
    request_id: Optional[str] = None
    kind: Optional[InterruptKind] = None
    status: Optional[InterruptStatus] = None
    before: Optional[tuple[datetime, str]] = None
    limit: int = 50
    now: Optional[datetime] = None

    def equalities(self) -> list[tuple[str, Any]]:
        """(column, value) for each equality filter given."""
        out: list[tuple[str, Any]] = []
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None or field.name in ("limit", "before", "now"):
                continue
            out.append((field.name, value.value if isinstance(value, Enum) else value))
        return out

    @property
    def due_excluded_after(self) -> Optional[datetime]:
        """The moment past which a pending interrupt counts as due, when the query leaves those out."""
        return self.now if self.status is InterruptStatus.PENDING else None

    def admits(self, interrupt: Filterable) -> bool:
        for column, value in self.equalities():
            actual = getattr(interrupt, column)
            if (actual.value if isinstance(actual, Enum) else actual) != value:
                return False
        due_after = self.due_excluded_after
        if due_after is not None and interrupt.expires_at is not None and interrupt.expires_at <= due_after:
            return False
        return self.before is None or (interrupt.created_at, interrupt.id) < self.before


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Journal events past `after_seq` about interrupts of this user and/or session, in order."""

    after_seq: int = 0
    user_id: Optional[str] = None
    session_id: Optional[str] = None
    limit: int = 500

    def admits(self, interrupt: Filterable) -> bool:
        return (self.user_id is None or interrupt.user_id == self.user_id) and (
            self.session_id is None or interrupt.session_id == self.session_id
        )


def list_statement(
    query: InterruptQuery,
    placeholder: Placeholder,
    time_param: Callable[[datetime], Any],
    *,
    resume_after: Optional[tuple[Any, Any]] = None,
) -> tuple[str, tuple[Any, ...]]:
    """`time_param` turns the cursor's time into the dialect's column value (text or timestamptz).
    `resume_after` is the (created_at, id) of the last row already read, as the driver gave them
    (that row may be unreadable, its time no datetime): it takes the place of `before`, being past it."""
    tests: list[str] = []
    params: list[Any] = []
    for column, value in query.equalities():
        if column == "status":
            # A literal, not a parameter: only then can the planner see that `status = 'pending'`
            # implies the partial index of pending interrupts. The value is one of the enum's.
            tests.append(f"status = '{InterruptStatus(value).value}'")
            continue
        params.append(value)
        tests.append(f"{column} = {placeholder(len(params))}")
    due_after = query.due_excluded_after
    if due_after is not None:
        params.append(time_param(due_after))
        tests.append(f"(expires_at IS NULL OR expires_at > {placeholder(len(params))})")
    before = (time_param(query.before[0]), query.before[1]) if query.before is not None else None
    if resume_after is not None:
        before = resume_after
    if before is not None:
        params.extend(before)
        # A row comparison: both SQLite and PostgreSQL walk the (…, created_at, id) index with it.
        tests.append(f"(created_at, id) < ({placeholder(len(params) - 1)}, {placeholder(len(params))})")
    sql = "SELECT * FROM jeeves_interrupts"
    if tests:
        sql += " WHERE " + " AND ".join(tests)
    sql += f" ORDER BY created_at DESC, id DESC LIMIT {placeholder(len(params) + 1)}"
    return sql, (*params, query.limit)


_EVENTS_SELECT = (
    "SELECT seq, event_type, sequence, payload, created_at, interrupt_id FROM jeeves_interrupt_events"
)


def events_statement(
    query: EventQuery, placeholder: Placeholder, select: str = _EVENTS_SELECT, *, column_prefix: str = ""
) -> tuple[str, tuple[Any, ...]]:
    """`select` yields seq, event_type, sequence, payload, created_at, interrupt_id; a select that joins other
    tables names the journal's columns through `column_prefix` (e.g. "e.")."""
    c = column_prefix
    conditions: list[tuple[str, Any]] = [(f"{c}seq >", query.after_seq)]
    if query.user_id is not None:
        conditions.append((f"{c}user_id =", query.user_id))
    if query.session_id is not None:
        conditions.append((f"{c}session_id =", query.session_id))
    where = " AND ".join(f"{test} {placeholder(i)}" for i, (test, _) in enumerate(conditions, 1))
    sql = f"{select} WHERE {where} ORDER BY {c}seq LIMIT {placeholder(len(conditions) + 1)}"
    return sql, (*(value for _, value in conditions), query.limit)
