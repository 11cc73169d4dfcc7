"""The interrupt store written once for both SQL dialects over a Connector: lookups, listings,
the journal and the expiry sweep. The queries of the same names in `queries/<dialect>/` differ,
the code does not.

Only the hot writes (create, finish) are dialect-specific, as they must be: SQLite's group
commit (sqlite.py) and PostgreSQL's batched statements (postgres.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Optional

from jeeves_protocols import FlowInterrupt, InterruptKind
from jeeves_protocols.interrupts import format_time

from ._listeners import ListenerSet
from .base import (
    CONSUMED_EVENT,
    CONSUMED_SEQUENCE,
    EXTENDED_EVENT,
    INTERIM_SEQUENCE,
    REMINDER_EVENT,
    TERMINAL_SEQUENCE,
    AgeLimits,
    FinishOutcome,
    InterruptEvent,
    PendingGroup,
)
from .connector import Connector, Rows, named_queries
from .listing import EventQuery, InterruptQuery, events_statement, list_statement
from .migrator import apply_migrations
from .rows import event_from_row, interrupt_from_row, readable, readable_page

__all__ = ["SQLInterruptStore"]


class SQLInterruptStore(ListenerSet):
    """What SQLiteStore and PostgresStore share; each sets `connector` and adds create/finish."""

    connector: Connector

    async def open(self) -> None:
        await self.migrate()

    async def migrate(self) -> None:
        """Apply pending migrations (the one runner, store/migrator.py)."""
        await apply_migrations(self.connector)

    async def get(self, interrupt_id: str) -> Optional[FlowInterrupt]:
        rows = await self.connector.fetch("get_interrupt", id=interrupt_id)
        return interrupt_from_row(rows[0]) if rows else None

    async def get_by_idempotency_key(self, key: str) -> Optional[FlowInterrupt]:
        rows = await self.connector.fetch("get_by_idempotency_key", key=key)
        return interrupt_from_row(rows[0]) if rows else None

    async def pending_for_request(self, request_id: str, now: datetime) -> Optional[FlowInterrupt]:
        rows = await self.connector.fetch("pending_for_request", request_id=request_id, now=now)
        found = readable(rows, interrupt_from_row)  # an unreadable newest one is skipped, not raised
        return found[0] if found else None

    async def pending_for_session(
        self, session_id: str, kinds: Optional[frozenset[InterruptKind]], now: datetime
    ) -> list[FlowInterrupt]:
        wanted = None if kinds is None else [kind.value for kind in kinds]
        rows = await self.connector.fetch("pending_for_session", session_id=session_id, now=now, kinds=wanted)
        return readable(rows, interrupt_from_row)

    async def journal_position(self) -> int:
        return int((await self.connector.fetch("journal_position"))[0]["seq"])

    async def expire_due(
        self, now: datetime, limit: int, interrupt_id: Optional[str] = None
    ) -> list[FlowInterrupt]:
        # The sweep skips rows another transaction holds; one named interrupt waits for its lock.
        times: dict[str, Any] = {"at": now, "now": now, "received_at": format_time(now)}
        if interrupt_id is None:
            rows = await self._journalled("expire_due", None, TERMINAL_SEQUENCE, **times, limit=limit)
        else:
            rows = await self._journalled("expire_one", None, TERMINAL_SEQUENCE, **times, id=interrupt_id)
        expired = readable(rows, interrupt_from_row)  # an unreadable one stays expired, unreported
        self._announce(interrupt.id for interrupt in expired)
        return expired

    async def extend(
        self, interrupt_id: str, old_expires_at: datetime, new_expires_at: datetime, at: datetime
    ) -> FinishOutcome:
        rows = await self._journalled(
            "extend_interrupt", EXTENDED_EVENT, INTERIM_SEQUENCE, interim=True, changes_creation=True,
            id=interrupt_id, old_expires_at=old_expires_at, new_expires_at=new_expires_at, at=at,
        )
        return await self._outcome(interrupt_id, rows)

    async def remind_due(self, now: datetime, limit: int) -> list[FlowInterrupt]:
        rows = await self._journalled(
            "remind_due", REMINDER_EVENT, INTERIM_SEQUENCE, interim=True, now=now, at=now, limit=limit
        )
        reminded = readable(rows, interrupt_from_row)
        self._announce(interrupt.id for interrupt in reminded)
        return reminded

    async def consume(self, interrupt_id: str, action_hash: str, at: datetime) -> FinishOutcome:
        rows = await self._journalled(
            "consume_approval", CONSUMED_EVENT, CONSUMED_SEQUENCE,
            id=interrupt_id, action_hash=action_hash, at=at,
        )
        return await self._outcome(interrupt_id, rows)

    async def _outcome(self, interrupt_id: str, rows: Rows) -> FinishOutcome:
        """A one-interrupt compare-and-set's outcome: the row it changed (announced), or the
        interrupt as it stands when it changed nothing."""
        if rows:
            self._announce_one(interrupt_id)
            return FinishOutcome(True, interrupt_from_row(rows[0]))
        return FinishOutcome(False, await self.get(interrupt_id))

    async def pending_summary(self, now: datetime, ages: AgeLimits) -> list[PendingGroup]:
        hour_ago, day_ago, week_ago = ages
        rows = await self.connector.fetch(
            "pending_summary", now=now, hour_ago=hour_ago, day_ago=day_ago, week_ago=week_ago
        )
        return [
            PendingGroup(row["kind"], row["user_id"], int(row["age"]), int(row["waiting"])) for row in rows
        ]

    async def _journalled(
        self,
        query: str,
        event_type: Optional[str],
        sequence: int,
        *,
        interim: bool = False,
        changes_creation: bool = False,
        **params: Any,
    ) -> Rows:
        """The rows `query` changed, journalled in the same transaction (as `event_type`, None: the
        status each reached, at `params["at"]`; `sequence` counting no interim event, each row's
        own come on top). PostgreSQL's statements journal (and notify) themselves, each with its
        own snapshot; SQLite, which has no writes in a CTE, adds statements, and for an `interim`
        event (the interrupt changes but stays pending) writes out the snapshots the journal
        would otherwise derive from the row as it is later (and, if the change `changes_creation`'s
        columns, the creation event's: a deadline extended)."""
        del interim, changes_creation
        return await self.connector.fetch(query, event_type=event_type, sequence=sequence, **params)

    async def list_interrupts(self, query: InterruptQuery) -> list[FlowInterrupt]:
        async def fetch(after: Optional[tuple[Any, Any]], limit: int) -> Rows:
            return await self.connector.fetch_built(
                *list_statement(replace(query, limit=limit), resume_after=after)
            )

        return await readable_page(fetch, interrupt_from_row, query.limit, _list_position)

    async def events_for(self, query: EventQuery) -> list[InterruptEvent]:
        select = named_queries(self.connector.dialect)["events_select"]

        async def fetch(after: Optional[int], limit: int) -> Rows:
            page = replace(query, after_seq=query.after_seq if after is None else after, limit=limit)
            return await self.connector.fetch_built(*events_statement(page, select))

        return await readable_page(fetch, _event, query.limit, _seq, _seq)

    async def events_after(self, seq: int, limit: int) -> list[InterruptEvent]:
        return await self.events_for(EventQuery(after_seq=seq, limit=limit))


def _event(row: dict[str, Any]) -> InterruptEvent:
    """A journal row; its payload as the driver gave it (JSON text, or None if none could be built)."""
    return event_from_row(
        row["seq"], row["event_type"], row["sequence"], row["payload"], row["created_at"], row["interrupt_id"]
    )


def _seq(row: dict[str, Any]) -> int:
    return int(row["seq"])


def _list_position(row: dict[str, Any]) -> Optional[tuple[Any, Any]]:
    """Where a listing continues past this row: its (created_at, id) as the driver gave them, if
    they are a time (PostgreSQL) or text (SQLite, which hands text that is not UTF-8 back as
    bytes, and would order those, or numbers, apart from every text value)."""
    created_at, interrupt_id = row["created_at"], row["id"]
    if isinstance(created_at, (str, datetime)) and isinstance(interrupt_id, str):
        return (created_at, interrupt_id)
    return None
