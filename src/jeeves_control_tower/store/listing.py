"""Listing interrupts and reading the journal with filters: one query builder for both SQL dialects.

Only the filters a caller actually gives become conditions, so each query can use the index that
leads with that column (`(user_id, created_at, id)`, ... from migration 0003) instead of a
generic `(:x IS NULL OR col = :x)` plan that no index serves. Column names come from this module,
never from the caller; values always travel as parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any, Optional, Protocol

from jeeves_protocols import InterruptKind, InterruptStatus

__all__ = ["InterruptQuery", "EventQuery", "Visibility", "list_statement", "events_statement"]

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
    def request_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> Optional[datetime]: ...
    @property
    def policy(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Visibility:
    """What a responder may see: their own interrupts, and those whose responders name them or
    one of their groups."""

    user_id: str
    groups: tuple[str, ...] = ()

    @property
    def principals(self) -> list[str]:
        """As the responders table names them: "user:<id>", "group:<name>"."""
        return [f"user:{self.user_id}", *(f"group:{group}" for group in self.groups)]

    def admits(self, interrupt: Filterable) -> bool:
        if interrupt.user_id == self.user_id:
            return True
        policy = interrupt.policy  # a dict, or (a store's record) its JSON text
        if not policy:
            return False
        responders = (json.loads(policy) if isinstance(policy, str) else policy).get("responders")
        if not isinstance(responders, dict):
            return False
        return self.user_id in responders.get("users", ()) or not set(self.groups).isdisjoint(
            responders.get("groups", ())
        )

    def condition(self, params: dict[str, Any], user_column: str, id_column: str) -> str:
        """The SQL test (its values added to `params`): by the user index, or the responders table."""
        params["visible_user"] = self.user_id
        names = []
        for position, principal in enumerate(self.principals):
            params[f"principal{position}"] = principal
            names.append(f":principal{position}")
        return (
            f"({user_column} = :visible_user OR {id_column} IN (SELECT interrupt_id FROM "
            f"jeeves_interrupt_responders WHERE principal IN ({', '.join(names)})))"
        )


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
    #: Only what this responder may see (None: everything).
    visible_to: Optional[Visibility] = None

    def equalities(self) -> list[tuple[str, Any]]:
        """(column, value) for each equality filter given."""
        out: list[tuple[str, Any]] = []
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None or field.name in ("limit", "before", "now", "visible_to"):
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
        if self.visible_to is not None and not self.visible_to.admits(interrupt):
            return False
        return self.before is None or (interrupt.created_at, interrupt.id) < self.before


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Journal events past `after_seq` about interrupts matching every filter given (this user,
    session, request, or the one interrupt), in order."""

    after_seq: int = 0
    user_id: Optional[str] = None
    session_id: Optional[str] = None
    limit: int = 500
    request_id: Optional[str] = None
    interrupt_id: Optional[str] = None
    #: Only what this responder may see (None: everything).
    visible_to: Optional[Visibility] = None

    def admits(self, interrupt: Filterable) -> bool:
        return (
            (self.user_id is None or interrupt.user_id == self.user_id)
            and (self.session_id is None or interrupt.session_id == self.session_id)
            and (self.request_id is None or interrupt.request_id == self.request_id)
            and (self.interrupt_id is None or interrupt.id == self.interrupt_id)
            and (self.visible_to is None or self.visible_to.admits(interrupt))
        )


def list_statement(
    query: InterruptQuery, *, resume_after: Optional[tuple[Any, Any]] = None
) -> tuple[str, dict[str, Any]]:
    """A listing as a `:name` statement for a Connector's `fetch_built`, and its parameters.
    `resume_after` is the (created_at, id) of the last row already read, as the driver gave them
    (that row may be unreadable, its time no datetime): it takes the place of `before`, being past it."""
    tests: list[str] = []
    params: dict[str, Any] = {}
    for column, value in query.equalities():
        if column == "status":
            # A literal, not a parameter: only then can the planner see that `status = 'pending'`
            # implies the partial index of pending interrupts. The value is one of the enum's.
            tests.append(f"status = '{InterruptStatus(value).value}'")
            continue
        params[column] = value
        tests.append(f"{column} = :{column}")
    if query.visible_to is not None:
        tests.append(query.visible_to.condition(params, "user_id", "id"))
    due_after = query.due_excluded_after
    if due_after is not None:
        params["now"] = due_after
        tests.append("(expires_at IS NULL OR expires_at > :now)")
    before = resume_after if resume_after is not None else query.before
    if before is not None:
        params["before_at"], params["before_id"] = before
        # A row comparison: both SQLite and PostgreSQL walk the (…, created_at, id) index with it.
        tests.append("(created_at, id) < (:before_at, :before_id)")
    sql = "SELECT * FROM jeeves_interrupts"
    if tests:
        sql += " WHERE " + " AND ".join(tests)
    params["limit"] = query.limit
    return sql + " ORDER BY created_at DESC, id DESC LIMIT :limit", params


def events_statement(query: EventQuery, select: str) -> tuple[str, dict[str, Any]]:
    """A page of the journal as a `:name` statement: `select` is the dialect's `events_select`,
    which reads the journal as `e` (seq, event_type, sequence, payload, created_at, interrupt_id)."""
    tests = ["e.seq > :after_seq"]
    params: dict[str, Any] = {"after_seq": query.after_seq, "limit": query.limit}
    for column in ("user_id", "session_id", "interrupt_id"):
        value = getattr(query, column)
        if value is not None:
            tests.append(f"e.{column} = :{column}")
            params[column] = value
    if query.visible_to is not None:
        tests.append(query.visible_to.condition(params, "e.user_id", "e.interrupt_id"))
    if query.request_id is not None:
        # Through the interrupts' request index and the journal's (interrupt_id, sequence) one:
        # an index of the journal by request would cost a page on every transition.
        tests.append("e.interrupt_id IN (SELECT id FROM jeeves_interrupts WHERE request_id = :request_id)")
        params["request_id"] = query.request_id
    return f"{select} WHERE {' AND '.join(tests)} ORDER BY e.seq LIMIT :limit", params
