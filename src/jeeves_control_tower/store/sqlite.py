"""SQLite, the embedded default: one file, WAL, group commit on a single writer connection.

Why statements run on the event loop thread: a SQLite statement on a local file costs a few
microseconds, less than a hop to a worker thread and back. Writes queue up and are committed
together at the next loop iteration (group commit), each in its own SAVEPOINT so one failing
write does not undo its neighbours. Only when another process holds the write lock does a batch
move to a worker thread to wait there (busy timeout), so the loop never blocks on a lock.
Reads use a second connection: under WAL they see the last commit and never wait for writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, TypeVar

from jeeves_protocols import FlowInterrupt, InterruptKind, StoreError
from jeeves_protocols.interrupts import format_time

from .base import CREATED_SEQUENCE, TERMINAL_SEQUENCE, Finish, FinishOutcome, Guard
from .connector import Rows, SQLiteConnector, Transaction
from .generic_sql import insert_statement, is_read_only, qmark, update_statement
from .rows import interrupt_from_row
from .sql import queries
from .sql_store import SQLInterruptStore

__all__ = [
    "CHECKPOINT_EVERY_COMMITS",
    "SQLiteDatabase",
    "SQLiteStore",
    "configure_connection",
    "finish_interrupt",
    "finish_params",
    "insert_interrupt",
]

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]


# Measured on the round-trip benchmark (bench/):
# - A small page cache (2 MiB), reads served from memory-mapped pages. SQLite 3.40 ends every
#   write transaction by truncating the page cache to the database size, and after a transaction
#   that split an index page in the middle of a b-tree (our session and request indexes take
#   inserts mid-tree, so many commits do) that walks the cache's whole hash table: with the
#   64 MiB cache this store had, it was 7% of a sequential round trip (16% of the bare
#   statements') after 20,000 of them, and growing as the cache fills (a bare sqlite3 loop of
#   random-key inserts: 264 us per commit with 64 MiB, 27 us with 2 MiB).
#   A reader's cache is thrown away whenever the writer commits anyway.
# - Checkpointing every 10,000 WAL pages instead of 1,000 writes each hot index page back to the
#   database file once per many commits instead of over and over.
# 1 KiB pages: every commit writes each b-tree page it touched (the row, its indexes, the journal
# row and its index) to the WAL, so smaller pages mean fewer bytes copied and checksummed per
# commit: measured 1.6x more round trips per second than 4 KiB. Only new files take it (it must
# precede WAL mode); existing files keep their page size.
_NEW_FILE_PAGE_SIZE = "PRAGMA page_size=1024"
_CONNECTION_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-2048",
    "PRAGMA mmap_size=1073741824",
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA temp_store=MEMORY",
)
_Q = queries("sqlite")
#: The writer never checkpoints inline (a checkpoint copies and fsyncs megabytes, and it would
#: stall the event loop inside a COMMIT: the 16-agent benchmark's p99 was ~28 ms from it). A
#: worker thread with its own connection runs a PASSIVE checkpoint every this many commits
#: instead, which never blocks the writer or readers.
CHECKPOINT_EVERY_COMMITS = 200


def configure_connection(connection: sqlite3.Connection) -> None:
    """Give a connection the settings every connection of the store has (durability, page cache,
    mapped reads): bench/ times the store's own writes on a bare connection set up this way."""
    for pragma in _CONNECTION_PRAGMAS:
        connection.execute(pragma)


# SQLite's primary result codes (sqlite3.h) that name a fault of the file, not of one statement.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _PROTOCOL, _NOTADB = (
    5, 6, 8, 10, 11, 13, 14, 15, 26,
)
#: After these the connections are closed and the next operation opens them again: a connection
#: that SQLite opened read-only (the file was not writable then) stays read-only for good, and
#: one that met a corrupt or unreadable file may hold pages from before the file was restored.
_REOPEN_AFTER = frozenset({_READONLY, _IOERR, _CORRUPT, _CANTOPEN, _PROTOCOL, _NOTADB})


def _primary_code(exc: BaseException) -> Optional[int]:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_busy(exc: BaseException) -> bool:
    return _primary_code(exc) in (_BUSY, _LOCKED)


def _unwritable(path: str) -> Optional[str]:
    """Why `path` (or the -wal and -shm files SQLite keeps beside it) cannot be written, if the
    system says so. os.access asks the kernel, so it sees a read-only mount or an immutable file
    even for root, who passes every permission bit."""
    if path == ":memory:" or path.startswith("file:"):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"its folder {folder!r} does not exist"
    if os.path.isdir(path):
        return "it is a folder"
    if not os.access(folder, os.W_OK):
        return f"its folder {folder!r} is read-only"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the file is read-only"
    return None


class SQLiteDatabase:
    """A SQLite file shared by this process's writers (group commit) and readers.

    Satisfies the seed's DatabaseProtocol; `InterruptService(db=SQLiteDatabase("jeeves.db"))`
    stores interrupts in it. Several processes may open the same file.
    """

    def __init__(
        self,
        path: str | Path = "jeeves.db",
        *,
        busy_timeout: float = 5.0,
        checkpoint_every: int = CHECKPOINT_EVERY_COMMITS,
    ) -> None:
        """`checkpoint_every`: commits between WAL checkpoints (run off the writer, see
        CHECKPOINT_EVERY_COMMITS); a measurement that must see the WAL grow can raise it."""
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.checkpoint_every = checkpoint_every
        self._writer: Optional[sqlite3.Connection] = None
        self._reader: Optional[sqlite3.Connection] = None
        self._queue: list[tuple[Job[Any], asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._in_thread = False
        self._thread_batch: list[tuple[Job[Any], asyncio.Future[Any]]] = []
        self._executor: Optional[ThreadPoolExecutor] = None
        self._commits = 0
        self._checkpointer: Optional[ThreadPoolExecutor] = None
        self._checkpoint_connection: Optional[sqlite3.Connection] = None
        self._checkpoint: Optional[asyncio.Future[None]] = None
        self._stale = False  # reopen the connections at the next operation (see _REOPEN_AFTER)

    # -- errors ---------------------------------------------------------------------------

    def store_error(self, exc: BaseException, doing: str = "operation failed") -> StoreError:
        """The one place a sqlite3 error becomes StoreError (every table of the file comes
        through here: interrupts, journal, webhooks, tokens): one line naming the file and the
        cause. The connections are marked for reopening if the error can outlast them."""
        code = _primary_code(exc)
        if code in _REOPEN_AFTER and self.path != ":memory:":  # reopening would lose a memory db
            self._stale = True
        if code in (_BUSY, _LOCKED):
            waited = f"{self.busy_timeout:g} s busy timeout"
            cause = f"is locked by another process (still locked after the {waited})"
        elif code == _FULL:
            cause = "cannot grow: the disk is full"
        elif code in (_READONLY, _CANTOPEN):
            verb = "written" if os.path.exists(self.path) else "created"
            reason = _unwritable(self.path)
            if reason:
                cause = f"cannot be {verb}: {reason}"
            else:
                cause = "is read-only" if code == _READONLY else f"cannot be opened or {verb}"
        elif code in (_CORRUPT, _NOTADB):
            cause = "is corrupt or truncated; restore it from a backup"
        elif code == _IOERR:
            cause = "could not be read or written (I/O error)"
        elif isinstance(exc, UnicodeEncodeError):  # a parameter, not the file
            return _with_cause(StoreError(f"SQLite {doing}: text with no UTF-8 form: {exc}"), exc)
        else:
            return _with_cause(StoreError(f"SQLite {doing} on {self.path!r}: {exc}"), exc)
        message = f"SQLite database {self.path!r} {cause} ({exc})"
        return _with_cause(StoreError(message, path=self.path, sqlite_code=code), exc)

    # -- connections ----------------------------------------------------------------------

    def _connect(self) -> None:
        if self._writer is not None and not self._stale:
            return
        if self._writer is not None:
            if self._in_thread or self._checkpoint is not None:
                return  # a worker thread holds a connection: reopen once it is done
            self._close_connections()
        self._stale = False
        memory = self.path == ":memory:"
        opened: list[sqlite3.Connection] = []  # closed again if opening fails half-way
        try:
            writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
            opened.append(writer)
            if not memory:
                writer.execute(_NEW_FILE_PAGE_SIZE)
                writer.execute("PRAGMA journal_mode=WAL")
            configure_connection(writer)
            writer.execute("PRAGMA busy_timeout=0")
            if not memory:
                writer.execute("PRAGMA wal_autocheckpoint=0")  # see CHECKPOINT_EVERY_COMMITS
            writer.row_factory = sqlite3.Row
            reader = writer
            if not memory:
                reader = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
                )
                opened.append(reader)
                configure_connection(reader)
                reader.row_factory = sqlite3.Row
        except sqlite3.Error as exc:
            for connection in opened:  # e.g. the file is not a database: nothing may stay open
                connection.close()
            self._stale = False  # nothing is open: the next operation tries again anyway
            raise self.store_error(exc, "open failed") from exc
        self._writer, self._reader = writer, reader

    def _close_connections(self) -> None:
        for connection in {
            id(c): c for c in (self._checkpoint_connection, self._reader, self._writer) if c is not None
        }.values():
            with contextlib.suppress(sqlite3.Error):
                connection.close()
        self._checkpoint_connection = None
        self._writer = self._reader = None

    async def close(self) -> None:
        # Every write already handed to us commits (or fails) before the connections go.
        while in_flight := [f for _, f in (*self._queue, *self._thread_batch) if not f.done()]:
            await asyncio.wait(in_flight)
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            self._checkpointer = None
        self._close_connections()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- group commit ---------------------------------------------------------------------

    def write(self, job: Job[T]) -> asyncio.Future[T]:
        """Run `job(connection)` inside the next committed write transaction; resolves after COMMIT."""
        self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((job, future))
        if not self._flush_scheduled and not self._in_thread:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    async def commit(self, job: Job[T]) -> T:
        """`job`'s result once committed (see `write`), in one loop turn instead of two: the caller
        sleeps for one turn, which queues its wake-up right behind the flush its write scheduled,
        and finds the result there; awaiting the future alone would be woken a turn later."""
        future = self.write(job)
        await asyncio.sleep(0)
        return await future  # done by now, unless another process's lock sent the batch to a thread

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._queue = self._queue, []
        if not batch:
            return
        writer = self._writer
        assert writer is not None
        try:
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # DatabaseError too: a corrupt file fails here
            if not _is_busy(exc):
                self._fail(batch, exc)
                return
            self._wait_for_lock_in_thread(batch)
            return
        self._settle(self._run_batch(writer, batch))
        self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        self._commits += 1
        if self._commits < self.checkpoint_every or self._checkpoint is not None:
            return
        if self.path == ":memory:":
            return
        self._commits = 0
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jeeves-sqlite-wal")
        checkpoint = asyncio.get_running_loop().run_in_executor(self._checkpointer, self._checkpoint_now)
        self._checkpoint = checkpoint
        checkpoint.add_done_callback(self._checkpoint_finished)

    def _checkpoint_now(self) -> None:
        """On the checkpoint thread: copy committed WAL pages into the database file."""
        if self._checkpoint_connection is None:
            self._checkpoint_connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
        self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_finished(self, checkpoint: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not checkpoint.cancelled():
            # A failed passive checkpoint loses nothing (the pages stay in the WAL); the next try
            # comes `checkpoint_every` commits later.
            checkpoint.exception()

    def _wait_for_lock_in_thread(self, batch: list[tuple[Job[Any], asyncio.Future[Any]]]) -> None:
        """Another process holds the write lock: wait for it on a worker thread, not on the loop."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jeeves-sqlite")
        self._in_thread = True
        self._thread_batch = batch
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, self._run_blocking, batch)

        def finished(task: asyncio.Future[list[_Outcome]]) -> None:
            self._in_thread = False
            self._thread_batch = []
            if task.exception() is not None:
                self._fail(batch, task.exception())  # type: ignore[arg-type]
            else:
                self._settle(task.result())
            if self._queue and not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)

        done.add_done_callback(finished)

    def _run_blocking(self, batch: list[tuple[Job[Any], asyncio.Future[Any]]]) -> list[_Outcome]:
        writer = self._writer
        assert writer is not None
        writer.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        try:
            writer.execute("BEGIN IMMEDIATE")
        finally:
            writer.execute("PRAGMA busy_timeout=0")
        return self._run_batch(writer, batch)

    @staticmethod
    def _run_batch(
        writer: sqlite3.Connection, batch: list[tuple[Job[Any], asyncio.Future[Any]]]
    ) -> list[_Outcome]:
        """Run the batch in the transaction BEGIN opened, then commit: one outcome for every job,
        and the connection left outside any transaction whatever fails."""
        try:
            outcomes = [_run_alone(writer, *batch[0])] if len(batch) == 1 else _run_together(writer, batch)
            if writer.in_transaction:  # a lone job that failed has rolled back already
                writer.execute("COMMIT")
            return outcomes
        except _TransactionLost as lost:
            return [(future, None, lost.error) for _, future in batch]
        except sqlite3.Error as exc:  # COMMIT, or a savepoint statement, failed
            if writer.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # then the connection is reopened
                    writer.execute("ROLLBACK")
            return [(future, None, exc) for _, future in batch]

    def _settle(self, outcomes: Iterable[_Outcome]) -> None:
        for future, result, exc in outcomes:
            if future.done():
                continue
            if exc is None:
                future.set_result(result)
            elif isinstance(exc, (sqlite3.Error, UnicodeEncodeError)):  # the latter: no UTF-8 form
                future.set_exception(self.store_error(exc, "write failed"))
            else:
                future.set_exception(exc)

    def _fail(self, batch: Iterable[tuple[Job[Any], asyncio.Future[Any]]], exc: BaseException) -> None:
        self._settle((future, None, exc) for _, future in batch)

    # -- reads ----------------------------------------------------------------------------

    def read(self, job: Job[T]) -> T:
        """Run a read on the read connection (last committed state; never waits for writers)."""
        self._connect()
        assert self._reader is not None
        try:
            return job(self._reader)
        except (sqlite3.Error, UnicodeEncodeError) as exc:  # the latter: text with no UTF-8 form
            raise self.store_error(exc, "read failed") from exc

    # -- the seed's DatabaseProtocol ------------------------------------------------------

    async def insert(self, table: str, data: Dict[str, Any]) -> str:
        statement, params = insert_statement(table, data, qmark)
        rowid = await self.commit(lambda c: c.execute(statement, params).lastrowid)
        return str(data.get("id", rowid))

    async def update(self, table: str, data: Dict[str, Any], where: Dict[str, Any]) -> int:
        statement, params = update_statement(table, data, where, qmark)
        count: int = await self.commit(lambda c: c.execute(statement, params).rowcount)
        return count

    async def fetch_one(self, query: str, params: tuple = ()) -> Optional[Dict[str, Any]]:  # type: ignore[type-arg]
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def fetch_all(self, query: str, params: tuple = ()) -> List[Dict[str, Any]]:  # type: ignore[type-arg]
        def run(connection: sqlite3.Connection) -> List[Dict[str, Any]]:
            return [dict(row) for row in connection.execute(query, params).fetchall()]

        if is_read_only(query):
            return self.read(run)
        return await self.commit(run)

    def interrupt_store(self) -> SQLiteStore:
        return SQLiteStore(self)


_Outcome = tuple["asyncio.Future[Any]", Any, Optional[BaseException]]


class _TransactionLost(Exception):
    """SQLite ended the batch's transaction itself: on SQLITE_FULL, SQLITE_IOERR and the like it
    rolls the whole transaction back, so the writes of the batch's earlier jobs are gone too, and
    every caller must get the error, not only the one whose statement hit it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _check_transaction(writer: sqlite3.Connection, error: Exception) -> None:
    if not writer.in_transaction:
        raise _TransactionLost(error) from error


def _run_alone(writer: sqlite3.Connection, job: Job[Any], future: asyncio.Future[Any]) -> _Outcome:
    """A lone job needs no savepoint: if it fails, rolling back the transaction undoes it alone."""
    try:
        return (future, job(writer), None)
    except Exception as exc:
        if writer.in_transaction:
            writer.execute("ROLLBACK")
        return (future, None, exc)


def _run_together(
    writer: sqlite3.Connection, batch: list[tuple[Job[Any], asyncio.Future[Any]]]
) -> list[_Outcome]:
    """Optimistically, no job fails: run them all under one savepoint (a SAVEPOINT and a RELEASE
    per job were a third of a batch's statements). If one does fail, roll back to it, keeping the
    transaction and its lock, and run the batch again with a savepoint around each job, so only
    the failing one is undone. Jobs only read and write through the connection, so running one
    twice is safe."""
    writer.execute("SAVEPOINT batch")
    outcomes: list[_Outcome]
    try:
        outcomes = [(future, job(writer), None) for job, future in batch]
    except Exception as exc:
        _check_transaction(writer, exc)
        writer.execute("ROLLBACK TO batch")
        outcomes = [_run_in_savepoint(writer, job, future) for job, future in batch]
    writer.execute("RELEASE batch")
    return outcomes


def _run_in_savepoint(writer: sqlite3.Connection, job: Job[Any], future: asyncio.Future[Any]) -> _Outcome:
    """Run one job of a batch so that, if it fails, only its own writes are undone."""
    writer.execute("SAVEPOINT job")
    try:
        result = job(writer)
    except Exception as exc:
        _check_transaction(writer, exc)
        writer.execute("ROLLBACK TO job")
        writer.execute("RELEASE job")
        return (future, None, exc)
    writer.execute("RELEASE job")
    return (future, result, None)


def _with_cause(error: StoreError, cause: BaseException) -> StoreError:
    error.__cause__ = cause
    return error


@functools.lru_cache(maxsize=256)
def _kinds_list(kinds: Optional[frozenset[InterruptKind]]) -> str:
    """The kinds a guard admits as finish_interrupt binds them: ",approval,clarification," (None:
    every kind). A service passes the same few sets again and again."""
    admitted = InterruptKind if kinds is None else kinds
    return "," + ",".join(sorted(kind.value for kind in admitted)) + ","


def _journal(
    connection: sqlite3.Connection,
    row: sqlite3.Row | Mapping[str, Any],
    event_type: str,
    sequence: int,
    at: str,
) -> None:
    """The journal row of a transition of the interrupt `row` (as stored, or as about to be)."""
    connection.execute(
        _Q["journal_interrupt"],
        {"id": row["id"], "event_type": event_type, "sequence": sequence, "at": at,
         "request_id": row["request_id"], "user_id": row["user_id"], "session_id": row["session_id"]},
    )


def insert_interrupt(
    connection: sqlite3.Connection, row: Mapping[str, Any], event_type: str
) -> Optional[sqlite3.Row]:
    """The write of a create, inside the caller's transaction: the row and its creation event.

    Returns the interrupt already holding the row's idempotency key instead, if one does (and
    writes nothing). Module-level so that `bench/` can time exactly these statements on a bare
    connection, without the service or the group commit around them.
    """
    statement = _Q["insert_approval_interrupt" if _has_approval_columns(row) else "insert_interrupt"]
    if connection.execute(statement, row).rowcount == 0:
        existing: sqlite3.Row = connection.execute(
            _Q["get_by_idempotency_key"], {"key": row["idempotency_key"]}
        ).fetchone()
        return existing
    _journal(connection, row, event_type, CREATED_SEQUENCE, row["created_at"])
    if row["policy"] is not None and '"responders"' in row["policy"]:
        connection.execute(_Q["insert_responders"], {"id": row["id"], "policy": row["policy"]})
    return None


def _has_approval_columns(row: Mapping[str, Any]) -> bool:
    return row["created_by"] is not None or row["policy"] is not None or row["action_hash"] is not None


def finish_params(interrupt_id: str, finish: Finish, guard: Guard) -> dict[str, Any]:
    """finish_interrupt's parameters for one compare-and-set."""
    return {
        "id": interrupt_id,
        "status": finish.status.value,
        "response": json.dumps(finish.response.to_dict()) if finish.response else None,
        "at": format_time(finish.at),
        "data_patch": json.dumps(finish.data_patch) if finish.data_patch else None,
        "responder_id": guard.responder_id,
        "kinds": _kinds_list(guard.kinds),
        "policy_checked": guard.policy_checked,
    }


def finish_interrupt(
    connection: sqlite3.Connection, params: Mapping[str, Any], event_type: str
) -> tuple[bool, Optional[sqlite3.Row]]:
    """The write of a finish, inside the caller's transaction: whether the pending row moved to
    its terminal state (then journalled), and the row as it now stands (None: no such id)."""
    if params["data_patch"] is not None:  # the creation event must keep the data it was created with
        connection.execute(_Q["freeze_created_payload"], params)
    changed: bool = connection.execute(_Q["finish_interrupt"], params).rowcount == 1
    row: Optional[sqlite3.Row] = connection.execute(_Q["get_interrupt"], params).fetchone()
    if changed:
        assert row is not None
        _journal(connection, row, event_type, TERMINAL_SEQUENCE + row["interim_events"], params["at"])
    return changed, row


class SQLiteStore(SQLInterruptStore):
    """The interrupt store over a SQLiteDatabase. Other processes' changes are seen by polling."""

    #: Waiters re-read this often, to see answers written by another process on the same file.
    wake_poll_interval: Optional[float] = 0.1

    def __init__(self, database: SQLiteDatabase) -> None:
        super().__init__()
        self.database = database
        self.connector = SQLiteConnector(database)

    async def close(self) -> None:
        await self.database.close()

    async def create(self, interrupt: FlowInterrupt, event_type: str) -> tuple[FlowInterrupt, bool]:
        row = interrupt.to_db_row()
        existing = await self.database.commit(lambda c: insert_interrupt(c, row, event_type))
        if existing is not None:
            return interrupt_from_row(dict(existing)), False
        return interrupt, True

    async def finish(self, interrupt_id: str, finish: Finish, guard: Guard) -> FinishOutcome:
        params = finish_params(interrupt_id, finish, guard)
        event_type = finish.event_type
        changed, row = await self.database.commit(lambda c: finish_interrupt(c, params, event_type))
        if changed:
            self._announce_one(interrupt_id)
        return FinishOutcome(changed, interrupt_from_row(dict(row)) if row is not None else None)

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
        async def change(tx: Transaction) -> Rows:
            if changes_creation:  # the creation event must keep the interrupt as it was created
                await tx.execute("freeze_created_payload", id=params["id"])
            rows = await tx.fetch(query, **params)  # tolerant: one row of text that is not UTF-8
            if rows:  # must not roll back (and so stall) the sweep
                ids = [row["id"] for row in rows]
                await tx.execute(
                    "journal_many", ids=ids, event_type=event_type, sequence=sequence, at=params["at"]
                )
                if interim:
                    await tx.execute("freeze_interim_payloads", ids=ids, event_type=event_type)
            return rows

        return await self.connector.transaction(change)
