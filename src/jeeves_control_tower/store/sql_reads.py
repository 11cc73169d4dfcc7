"""The interrupt store's lookups, written once for both SQL dialects over a Connector: the
queries of the same names in `queries/<dialect>/interrupts.sql` differ, the code does not.

The hot writes (create, finish) stay dialect-specific where they must: SQLite's group commit and
PostgreSQL's batched statements. So do the journal reads and listings, which SQLite reads with
its own tolerance for rows damaged by other tools (see sqlite.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from jeeves_protocols import FlowInterrupt, InterruptKind

from .connector import Connector
from .rows import interrupt_from_row, readable

__all__ = ["SQLLookups"]


class SQLLookups:
    """Mixed into SQLiteStore and PostgresStore, which set `connector`."""

    connector: Connector

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
