"""PostgreSQL: a pool of asyncpg connections, single-statement transitions, LISTEN/NOTIFY wake-ups.

`PostgresStore` speaks only the seed's DatabaseProtocol (`fetch_all`), so the same SQL serves
the shipped `PostgresDatabase` and any user object that satisfies DatabaseProtocol with `$n`
placeholders. Each transition is one statement (UPDATE + journal INSERT + NOTIFY in CTEs), so it
is atomic whatever the object does about transactions, and costs one round trip.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Dict, List, Optional

import asyncpg
import structlog

from jeeves_protocols import DatabaseProtocol, FlowInterrupt, InterruptError, InterruptKind, StoreError

from ._listeners import ListenerSet
from .base import ANY_INTERRUPT, Finish, FinishOutcome, Guard, InterruptEvent
from .generic_sql import dollar, insert_statement, update_statement
from .listing import EventQuery, InterruptQuery, events_statement, list_statement
from .sql import migrations, queries

__all__ = ["PostgresDatabase", "PostgresStore", "WAKE_CHANNEL"]

#: The NOTIFY channel every terminal transition announces its interrupt id on.
WAKE_CHANNEL = "jeeves_interrupts"
#: Serialises migrations of several instances starting at once ("jeeves" in ASCII).
_MIGRATION_LOCK = 0x6A6565766573

_Q = queries("postgres")
_ALL_KINDS = [kind.value for kind in InterruptKind]
_log = structlog.get_logger("jeeves.postgres")


class PostgresDatabase:
    """An asyncpg pool. Satisfies the seed's DatabaseProtocol; `InterruptService(db=...)` stores
    interrupts in it, and several service instances may share one database."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 16) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self._pool: Optional[asyncpg.Pool] = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    try:
                        self._pool = await asyncpg.create_pool(
                            self.dsn, min_size=self.min_size, max_size=self.max_size, reset=_keep_session
                        )
                    except (OSError, asyncpg.PostgresError) as exc:
                        raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetch_all(self, query: str, params: tuple = ()) -> List[Dict[str, Any]]:  # type: ignore[type-arg]
        pool = await self.pool()
        return [dict(record) for record in await pool.fetch(query, *params)]

    async def fetch_one(self, query: str, params: tuple = ()) -> Optional[Dict[str, Any]]:  # type: ignore[type-arg]
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def insert(self, table: str, data: Dict[str, Any]) -> str:
        statement, params = insert_statement(table, data, dollar)
        pool = await self.pool()
        await pool.execute(statement, *params)
        return str(data.get("id", ""))

    async def update(self, table: str, data: Dict[str, Any], where: Dict[str, Any]) -> int:
        statement, params = update_statement(table, data, where, dollar)
        pool = await self.pool()
        status = await pool.execute(statement, *params)
        return int(status.rsplit(" ", 1)[-1])

    async def execute_script(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """Run (statement, params) steps in one transaction, holding the migration lock against
        other instances starting at the same moment."""
        pool = await self.pool()
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            for statement, params in steps:
                await connection.execute(statement, *params)

    async def listen(self, channel: str, callback: Any) -> _Listener:
        """Call `callback(payload)` for every NOTIFY on `channel`, reconnecting if the link drops."""
        listener = _Listener(self.dsn, channel, callback)
        await listener.start()
        return listener

    def interrupt_store(self) -> PostgresStore:
        return PostgresStore(self)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset round trip (RESET ALL, UNLISTEN *, ...): it doubled the
    cost of every statement, and pool connections never carry session state here (LISTEN lives
    on its own connection; migrations take a transaction-scoped advisory lock)."""


class _Listener:
    """A dedicated LISTEN connection that comes back after a lost link."""

    def __init__(self, dsn: str, channel: str, callback: Any) -> None:
        self.dsn = dsn
        self.channel = channel
        self.callback = callback
        self._connection: Optional[asyncpg.Connection] = None
        self._closing = False
        self._reconnect: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self.dsn)
        self._connection.add_termination_listener(self._lost)
        await self._connection.add_listener(self.channel, self._notified)

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.callback(payload)

    def _lost(self, _connection: Any) -> None:
        if not self._closing:
            _log.warning("postgres_listen_lost", channel=self.channel)
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_forever())

    async def _reconnect_forever(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                await self.start()
                self.callback(None)  # changes may have been missed: every waiter re-reads
                return
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()


class PostgresStore(ListenerSet):
    """The interrupt store over PostgreSQL, through any DatabaseProtocol object."""

    def __init__(self, db: DatabaseProtocol, *, poll_interval: float = 0.25) -> None:
        super().__init__()
        self.db = db
        self._listener: Optional[_Listener] = None
        # Without LISTEN (a plain DatabaseProtocol object) waiters fall back to polling.
        self.wake_poll_interval: Optional[float] = poll_interval

    async def open(self) -> None:
        await self._migrate()
        if isinstance(self.db, PostgresDatabase) and self._listener is None:
            self._listener = await self.db.listen(WAKE_CHANNEL, self._notified)
            self.wake_poll_interval = None

    def _notified(self, interrupt_id: Optional[str]) -> None:
        # None: the LISTEN link came back and NOTIFYs may have been missed meanwhile.
        self._announce((interrupt_id or ANY_INTERRUPT,))

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        close = getattr(self.db, "close", None)
        if close is not None:
            await close()

    async def _migrate(self) -> None:
        await self._rows("create_migrations_table")
        applied = {row["version"] for row in await self._rows("applied_migrations")}
        for migration in migrations("postgres"):
            if migration.version in applied:
                continue
            steps: list[tuple[str, tuple[Any, ...]]] = [(statement, ()) for statement in migration.statements]
            steps.append((_Q["record_migration"], (migration.version, migration.name)))
            if isinstance(self.db, PostgresDatabase):
                await self.db.execute_script(steps)
            else:
                # A foreign object gives no transaction; the statements are idempotent instead.
                for statement, params in steps:
                    await self._run(statement, params)

    async def _run(self, query: str, params: tuple[Any, ...]) -> List[Dict[str, Any]]:
        """The one place database errors become StoreError (our own errors pass through)."""
        try:
            return await self.db.fetch_all(query, params)
        except InterruptError:
            raise
        except Exception as exc:
            raise StoreError(f"PostgreSQL operation failed: {exc}") from exc

    async def _rows(self, name: str, *params: Any) -> List[Dict[str, Any]]:
        return await self._run(_Q[name], params)

    async def create(self, interrupt: FlowInterrupt, event_type: str) -> tuple[FlowInterrupt, bool]:
        rows = await self._rows(
            "create_interrupt",
            interrupt.id,
            interrupt.kind.value,
            interrupt.request_id,
            interrupt.user_id,
            interrupt.session_id,
            interrupt.envelope_id,
            interrupt.question,
            interrupt.message,
            json.dumps(interrupt.data),
            interrupt.created_at,
            interrupt.expires_at,
            interrupt.trace_id,
            interrupt.span_id,
            interrupt.idempotency_key,
            event_type,
        )
        if rows:
            return interrupt, True
        existing = await self._rows("get_by_idempotency_key", interrupt.idempotency_key)
        if not existing:  # the other writer's row vanished: only possible if someone deletes rows
            raise StoreError("idempotent create found neither a new nor an existing interrupt")
        return FlowInterrupt.from_db_row(existing[0]), False

    async def finish(self, interrupt_id: str, finish: Finish, guard: Guard) -> FinishOutcome:
        rows = await self._rows(
            "finish_interrupt",
            interrupt_id,
            finish.status.value,
            json.dumps(finish.response.to_dict()) if finish.response else None,
            finish.at,
            json.dumps(finish.data_patch) if finish.data_patch else None,
            guard.responder_id,
            _ALL_KINDS if guard.kinds is None else [kind.value for kind in guard.kinds],
            finish.event_type,
        )
        if rows:
            self._announce((interrupt_id,))
            return FinishOutcome(True, FlowInterrupt.from_db_row(rows[0]))
        return FinishOutcome(False, await self.get(interrupt_id))

    async def expire_due(
        self, now: datetime, limit: int, interrupt_id: Optional[str] = None
    ) -> list[FlowInterrupt]:
        # The sweep skips locked rows; a single named interrupt waits for the lock (see expire_one).
        query = "expire_due" if interrupt_id is None else "expire_one"
        rows = await self._rows(query, now, limit, interrupt_id)
        expired = [FlowInterrupt.from_db_row(row) for row in rows]
        self._announce(interrupt.id for interrupt in expired)
        return expired

    async def get(self, interrupt_id: str) -> Optional[FlowInterrupt]:
        rows = await self._rows("get_interrupt", interrupt_id)
        return FlowInterrupt.from_db_row(rows[0]) if rows else None

    async def get_by_idempotency_key(self, key: str) -> Optional[FlowInterrupt]:
        rows = await self._rows("get_by_idempotency_key", key)
        return FlowInterrupt.from_db_row(rows[0]) if rows else None

    async def pending_for_request(self, request_id: str, now: datetime) -> Optional[FlowInterrupt]:
        rows = await self._rows("pending_for_request", request_id, now)
        return FlowInterrupt.from_db_row(rows[0]) if rows else None

    async def pending_for_session(
        self, session_id: str, kinds: Optional[frozenset[InterruptKind]], now: datetime
    ) -> list[FlowInterrupt]:
        kind_values = None if kinds is None else [kind.value for kind in kinds]
        rows = await self._rows("pending_for_session", session_id, now, kind_values)
        return [FlowInterrupt.from_db_row(row) for row in rows]

    async def list_interrupts(self, query: InterruptQuery) -> list[FlowInterrupt]:
        rows = await self._run(*list_statement(query, dollar, lambda moment: moment))
        return [FlowInterrupt.from_db_row(row) for row in rows]

    async def events_for(self, query: EventQuery) -> list[InterruptEvent]:
        return self._events(await self._run(*events_statement(query, dollar)))

    async def events_after(self, seq: int, limit: int) -> list[InterruptEvent]:
        return self._events(await self._rows("events_after", seq, limit))

    @staticmethod
    def _events(rows: List[Dict[str, Any]]) -> list[InterruptEvent]:
        return [
            InterruptEvent(
                seq=row["seq"],
                type=row["event_type"],
                sequence=row["sequence"],
                interrupt=FlowInterrupt.from_db_row(_mapping(row["payload"])),
                created_at=row["created_at"],
            )
            for row in rows
        ]


def _mapping(value: Any) -> Dict[str, Any]:
    """A jsonb value as the driver gave it: text (asyncpg's default) or already decoded."""
    return dict(json.loads(value) if isinstance(value, (str, bytes)) else value)
