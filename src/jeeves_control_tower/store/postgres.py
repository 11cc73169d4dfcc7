"""PostgreSQL: a pool of asyncpg connections, single-statement transitions, LISTEN/NOTIFY wake-ups.

`PostgresStore` speaks the seed's DatabaseProtocol (`fetch_all`), so the same SQL serves the
shipped `PostgresDatabase` and any user object that satisfies DatabaseProtocol with `$n`
placeholders. Each transition is one statement (UPDATE + journal INSERT + NOTIFY in CTEs), so it
is atomic whatever the object does about transactions, and costs one round trip.

With the shipped `PostgresDatabase`, creates and finishes also get group commit: they run on a
few dedicated writer connections (no pool acquire/release per statement). While every writer is
busy, new requests queue; a writer that comes free sends everything queued of one kind as ONE
statement over arrays (`create_interrupts`, `finish_interrupts`): one round trip and one commit
for the batch, each row under the same conditions as alone. A lone request takes the single-row
statement, so an idle store adds no latency. If a batch statement fails, its requests are retried
one by one, so one bad request fails alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Dict, List, Optional

import asyncpg
import structlog

from jeeves_protocols import DatabaseProtocol, FlowInterrupt, InterruptKind, StoreError

from ._driver_errors import DRIVER_ERRORS, any_db_errors, pg_errors, translate_pg_errors
from .base import ANY_INTERRUPT, Finish, FinishOutcome, Guard
from .connector import connector_for, pg_named_arguments, positional_query
from .constants import WAKE_CHANNEL
from .generic_sql import dollar, insert_statement, update_statement
from .pg_group_commit import Batched, GroupCommit, ItemT, Outcome, ResultT
from .sql_store import SQLInterruptStore

__all__ = ["PostgresDatabase", "PostgresStore", "WAKE_CHANNEL"]


#: Writer connections run only statements that find rows by primary or unique key. A prepared
#: statement keeps the plan made when it was first run, and a batch finish planned while the
#: table was small kept scanning it whole as it grew (1.5 ms per batch became 6 ms within a
#: few thousand rows, with autovacuum off). Without sequential scans it always uses the key.
_WRITER_SETTINGS = {"enable_seqscan": "off"}
#: Pool connections run the sweep, listings and reads, whose best plan depends on how many rows
#: match. A prepared statement's generic plan is kept until statistics change, and without
#: (auto)ANALYZE a plan made on a young table stays: the nothing-due sweep took 44 ms instead of
#: 0.4 ms at 200,000 stored. Planning each execution for its own values costs tens of microseconds.
_POOL_SETTINGS = {"plan_cache_mode": "force_custom_plan"}
_ALL_KINDS = [kind.value for kind in InterruptKind]
#: The LISTEN connection retries at least this often while the server is down (it also calls
#: every waiter to re-read once it is back, so a short outage costs them about this much).
_LISTEN_RETRY_MAX = 1.0
_log = structlog.get_logger("jeeves.postgres")


class _NoTracebackForReconnects(logging.Filter):
    """asyncpg retries the pool's minimum size while the server is down and logs each failure
    with a full traceback: one line with the cause says it (the loops log the outage itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith("Failed to restore the pool connection floor"):
            error = record.exc_info[1]
            record.msg = f"{record.msg}: {type(error).__name__}: {error}"
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_NoTracebackForReconnects())


class PostgresDatabase:
    """An asyncpg pool. Satisfies the seed's DatabaseProtocol; `InterruptService(db=...)` stores
    interrupts in it, and several service instances may share one database."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 16,
        writers: int = 2,
        connect_timeout: float = 5.0,
        command_timeout: float = 15.0,
        acquire_timeout: float = 5.0,
    ) -> None:
        """`max_size` bounds the pool used for reads and other statements; creates and finishes
        run on `writers` more connections of their own (group commit), and LISTEN on one more.

        The timeouts bound every call during an outage or a stall (each failure is a StoreError):
        opening a connection, one statement, and waiting for a free pool connection."""
        if writers < 1:
            raise ValueError("writers must be at least 1")
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.acquire_timeout = acquire_timeout
        self._pool: Optional[asyncpg.Pool] = None
        self._pool_lock = asyncio.Lock()
        self.group_commit = GroupCommit(self._connect_writer, writers)

    @translate_pg_errors
    async def _connect_writer(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.dsn, server_settings=_WRITER_SETTINGS, timeout=self.connect_timeout,
            command_timeout=self.command_timeout,
        )

    @translate_pg_errors
    async def pool(self) -> asyncpg.Pool:
        """The pool, made on first use (again after a failed first attempt). Its connections
        come back by themselves after an outage: asyncpg reopens a closed one on acquire."""
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=self.min_size, max_size=self.max_size, reset=_keep_session,
                        server_settings=_POOL_SETTINGS, timeout=self.connect_timeout,
                        command_timeout=self.command_timeout,
                    )
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pool connection for the block, waiting at most `acquire_timeout` for one to come
        free; driver failures in the block leave it as StoreError."""
        with pg_errors():
            pool = self._pool or await self.pool()
            # A bounded acquire costs a task per call (asyncio.wait_for); only a wait for a busy
            # pool needs the bound: with a connection idle it is handed over at once.
            timeout = None if pool.get_idle_size() else self.acquire_timeout
            async with pool.acquire(timeout=timeout) as connection:
                yield connection

    async def close(self) -> None:
        await self.group_commit.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetch_all(self, query: str, params: tuple = ()) -> List[Dict[str, Any]]:  # type: ignore[type-arg]
        async with self.connection() as connection:
            return [dict(record) for record in await connection.fetch(query, *params)]

    async def fetch_one(self, query: str, params: tuple = ()) -> Optional[Dict[str, Any]]:  # type: ignore[type-arg]
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def insert(self, table: str, data: Dict[str, Any]) -> str:
        statement, params = insert_statement(table, data, dollar)
        async with self.connection() as connection:
            await connection.execute(statement, *params)
        return str(data.get("id", ""))

    async def update(self, table: str, data: Dict[str, Any], where: Dict[str, Any]) -> int:
        statement, params = update_statement(table, data, where, dollar)
        async with self.connection() as connection:
            status = await connection.execute(statement, *params)
        return int(status.rsplit(" ", 1)[-1])

    @translate_pg_errors
    async def listen(self, channel: str, callback: Any) -> _Listener:
        """Call `callback(payload)` for every NOTIFY on `channel`, reconnecting if the link drops
        (then `callback(None)`: notifications may have been missed meanwhile)."""
        listener = _Listener(self.dsn, channel, callback, self.connect_timeout)
        await listener.start()
        return listener

    def interrupt_store(self) -> PostgresStore:
        return PostgresStore(self)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset round trip (RESET ALL, UNLISTEN *, ...): it doubled the
    cost of every statement, and pool connections never carry session state here (LISTEN lives
    on its own connection; migrations take a transaction-scoped advisory lock)."""


class _Listener:
    """A dedicated LISTEN connection that comes back after a lost link, subscribed again."""

    def __init__(self, dsn: str, channel: str, callback: Any, connect_timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.channel = channel
        self.callback = callback
        self.connect_timeout = connect_timeout
        self._connection: Optional[asyncpg.Connection] = None
        self._closing = False
        self._reconnect: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
        try:
            await connection.add_listener(self.channel, self._notified)
        except BaseException:
            connection.terminate()  # never leave a half-made link open
            raise
        # Watched only once subscribed: a link lost before this is the caller's failure to retry.
        connection.add_termination_listener(self._lost)
        self._connection = connection

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.callback(payload)

    def _lost(self, _connection: Any) -> None:
        if not self._closing and (self._reconnect is None or self._reconnect.done()):
            _log.warning("postgres_listen_lost", channel=self.channel)
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_forever())

    async def _reconnect_forever(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                await self.start()
            except DRIVER_ERRORS:  # still down (refused, starting up, reset mid-handshake, timeout)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _LISTEN_RETRY_MAX)
                continue
            _log.info("postgres_listen_restored", channel=self.channel)
            self.callback(None)  # changes may have been missed: every waiter re-reads
            return

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()


#: create_interrupt's parameters, by name.
CreateItem = dict[str, Any]
#: finish_interrupt's parameters, by name.
FinishItem = dict[str, Any]


async def _fetch(connection: Any, name: str, params: Mapping[str, Any]) -> list[Any]:
    """The named query on a writer connection (or a _ThroughProtocol), its parameters by name."""
    text, values = pg_named_arguments(name, params)
    rows: list[Any] = await connection.fetch(text, *values)
    return rows


async def _fetch_columns(connection: Any, name: str, items: list[dict[str, Any]]) -> list[Any]:
    """A batch statement with one array per parameter: column `key` holds each item's `key`."""
    text, order = positional_query("postgres", name)
    rows: list[Any] = await connection.fetch(text, *([item[key] for item in items] for key in order))
    return rows


class _Create(Batched[CreateItem, Optional[Mapping[str, Any]]]):
    """Result: None when inserted, else the stored row that already holds the idempotency key.
    (Rows leave the writers as dicts, like the pool's: an asyncpg Record is no Mapping.)"""

    def key(self, item: CreateItem) -> Hashable:
        return str(item["id"])

    async def one(self, connection: asyncpg.Connection, item: CreateItem) -> Optional[Mapping[str, Any]]:
        if await _fetch(connection, "create_interrupt", item):
            return None
        holder = {"key": item["idempotency_key"]}
        rows = await _fetch(connection, "get_by_idempotency_key", holder)
        if not rows:  # the other writer's row vanished: only possible if someone deletes rows
            raise StoreError("idempotent create found neither a new nor an existing interrupt")
        return dict(rows[0])

    async def many(
        self, connection: asyncpg.Connection, items: list[CreateItem]
    ) -> list[Outcome[Optional[Mapping[str, Any]]]]:
        rows = await _fetch_columns(connection, "create_interrupts", items)
        inserted = {row["id"] for row in rows}
        # Committed: from here on a failure is reported per item, never retried.
        keys = [item["idempotency_key"] for item in items if item["id"] not in inserted]
        existing: Dict[str, Any] = {}
        failure: Optional[BaseException] = None
        if keys:
            try:
                found = await _fetch(connection, "get_by_idempotency_keys", {"keys": keys})
                existing = {row["idempotency_key"]: dict(row) for row in found}
            except Exception as exc:
                failure = exc
        outcomes: list[Outcome[Optional[Mapping[str, Any]]]] = []
        for item in items:
            if item["id"] in inserted:
                outcomes.append(None)
            elif item["idempotency_key"] in existing:
                outcomes.append(existing[item["idempotency_key"]])
            else:
                outcomes.append(
                    failure or StoreError("idempotent create found neither a new nor an existing interrupt")
                )
        return outcomes


class _Finish(Batched[FinishItem, tuple[bool, Optional[Mapping[str, Any]]]]):
    """Result: (True, the row after the change) or (False, the row as it stands, None if absent)."""

    def key(self, item: FinishItem) -> Hashable:
        return str(item["id"])  # two finishes of one interrupt never share a statement

    async def one(
        self, connection: asyncpg.Connection, item: FinishItem
    ) -> tuple[bool, Optional[Mapping[str, Any]]]:
        rows = await _fetch(connection, "finish_interrupt", item)
        if rows:
            return True, dict(rows[0])
        current = await _fetch(connection, "get_interrupt", item)
        return False, dict(current[0]) if current else None

    async def many(
        self, connection: asyncpg.Connection, items: list[FinishItem]
    ) -> list[Outcome[tuple[bool, Optional[Mapping[str, Any]]]]]:
        # Rows are locked in the order the plan meets them (heap order for a bitmap scan of the
        # key), the same for every batch; should two processes' batches still deadlock, the
        # server aborts one statement and its items are retried one by one.
        batch = [{**item, "kinds": ",".join(item["kinds"])} for item in items]  # one text per row
        rows = await _fetch_columns(connection, "finish_interrupts", batch)
        finished = {row["id"]: dict(row) for row in rows}
        # Committed. The losers are read after the commit, like `one` does, so a row another
        # transaction changed meanwhile shows its final state, not this statement's snapshot.
        lost = [item["id"] for item in items if item["id"] not in finished]
        current: Dict[str, Any] = {}
        failure: Optional[BaseException] = None
        if lost:
            try:
                found = await _fetch(connection, "get_interrupts", {"ids": lost})
                current = {row["id"]: dict(row) for row in found}
            except Exception as exc:
                failure = exc
        outcomes: list[Outcome[tuple[bool, Optional[Mapping[str, Any]]]]] = []
        for item in items:
            interrupt_id = item["id"]
            if interrupt_id in finished:
                outcomes.append((True, finished[interrupt_id]))
            elif failure is not None:
                outcomes.append(failure)
            else:
                outcomes.append((False, current.get(interrupt_id)))
        return outcomes


class _ThroughProtocol:
    """A DatabaseProtocol object (through `PostgresStore._run`) as the connection a batched
    write's single-row path runs on, so both paths share one definition of each write."""

    def __init__(self, run: Callable[[str, tuple[Any, ...]], Awaitable[List[Dict[str, Any]]]]) -> None:
        self._run = run

    async def fetch(self, query: str, *params: Any) -> List[Dict[str, Any]]:
        return await self._run(query, params)


_CREATE = _Create()
_FINISH = _Finish()


class PostgresStore(SQLInterruptStore):
    """The interrupt store over PostgreSQL, through any DatabaseProtocol object."""

    def __init__(self, db: DatabaseProtocol, *, poll_interval: float = 0.25) -> None:
        super().__init__()
        self.db = db
        self.connector = connector_for(db)
        #: Group commit for creates and finishes: only the shipped database offers it.
        self._group = db.group_commit if isinstance(db, PostgresDatabase) else None
        self._listener: Optional[_Listener] = None
        # Without LISTEN (a plain DatabaseProtocol object) waiters fall back to polling.
        self.wake_poll_interval: Optional[float] = poll_interval

    async def open(self) -> None:
        await self.migrate()
        if isinstance(self.db, PostgresDatabase) and self._listener is None:
            self._listener = await self.db.listen(WAKE_CHANNEL, self._notified)
            self.wake_poll_interval = None

    def _notified(self, interrupt_id: Optional[str]) -> None:
        # None: the LISTEN link came back and NOTIFYs may have been missed meanwhile.
        self._announce_one(interrupt_id or ANY_INTERRUPT)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        close = getattr(self.db, "close", None)
        if close is not None:
            await close()

    async def _run(self, query: str, params: tuple[Any, ...]) -> List[Dict[str, Any]]:
        """Where a DatabaseProtocol object's errors become StoreError, whatever it raises (our own
        errors pass through); the shipped PostgresDatabase raises StoreError itself."""
        with any_db_errors():
            return await self.db.fetch_all(query, params)

    async def _write(self, operation: Batched[ItemT, ResultT], item: ItemT) -> ResultT:
        """A create or finish: group-committed on the shipped database, else its single-row path
        through the DatabaseProtocol object (whose errors `_run` translates)."""
        if self._group is None:
            return await operation.one(_ThroughProtocol(self._run), item)
        with pg_errors():
            return await self._group.run(operation, item)

    async def create(self, interrupt: FlowInterrupt, event_type: str) -> tuple[FlowInterrupt, bool]:
        params = {  # bound as they are (times as timestamptz): to_db_row's text costs 3x as much
            "id": interrupt.id, "kind": interrupt.kind.value, "request_id": interrupt.request_id,
            "user_id": interrupt.user_id, "session_id": interrupt.session_id,
            "envelope_id": interrupt.envelope_id, "question": interrupt.question,
            "message": interrupt.message, "data": json.dumps(interrupt.data),
            "created_at": interrupt.created_at, "expires_at": interrupt.expires_at,
            "trace_id": interrupt.trace_id, "span_id": interrupt.span_id,
            "idempotency_key": interrupt.idempotency_key, "event_type": event_type,
            "created_by": interrupt.created_by, "action_hash": interrupt.action_hash,
            "policy": json.dumps(interrupt.policy) if interrupt.policy else None,
        }
        stored = await self._write(_CREATE, params)
        if stored is None:
            return interrupt, True
        return FlowInterrupt.from_db_row(stored), False

    async def finish(self, interrupt_id: str, finish: Finish, guard: Guard) -> FinishOutcome:
        params = {
            "id": interrupt_id,
            "status": finish.status.value,
            "response": json.dumps(finish.response.to_dict()) if finish.response else None,
            "at": finish.at,
            "data_patch": json.dumps(finish.data_patch) if finish.data_patch else None,
            "responder_id": guard.responder_id,
            "kinds": _ALL_KINDS if guard.kinds is None else [kind.value for kind in guard.kinds],
            "event_type": finish.event_type,
            "policy_checked": guard.policy_checked,
        }
        changed, row = await self._write(_FINISH, params)
        if changed:
            self._announce_one(interrupt_id)
        return FinishOutcome(changed, FlowInterrupt.from_db_row(row) if row is not None else None)
