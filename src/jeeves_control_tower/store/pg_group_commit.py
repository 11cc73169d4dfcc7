"""Group commit on dedicated PostgreSQL connections: writes that queue while the writers are
busy go to the server as one statement and one commit.

The machinery only: what a write is (alone and batched) is a `Batched` operation defined by the
store (see postgres.py). An idle store runs a request at once on a free writer, in the caller's
own task, so group commit adds no latency when there is nothing to group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Optional, TypeVar, Union

import asyncpg

__all__ = ["Batched", "GroupCommit", "ItemT", "Outcome", "ResultT", "MAX_BATCH", "PARALLEL_BATCH"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
#: What a batch hands each request: its result, or the error that request alone met.
Outcome = Union[ResultT, BaseException]
#: The most requests one batch statement carries (bounds the statement's size).
MAX_BATCH = 500
#: While a writer is busy, another one starts a batch only if at least this many requests wait:
#: every statement has a fixed cost (commit, WAL flush, wake-ups) that a larger batch shares, and
#: on a machine with few cores two small batches in flight were slower than one large one.
PARALLEL_BATCH = 16


class Batched(Generic[ItemT, ResultT]):
    """One kind of write that `GroupCommit` can run alone or batched."""

    def key(self, item: ItemT) -> Hashable:
        """Requests with equal keys never share a batch (the later one waits for the next)."""
        raise NotImplementedError

    async def one(self, connection: asyncpg.Connection, item: ItemT) -> ResultT:
        """The single-row statement(s); raises what went wrong."""
        raise NotImplementedError

    async def many(self, connection: asyncpg.Connection, items: list[ItemT]) -> list[Outcome[ResultT]]:
        """One statement for all `items`, outcomes in their order. Raises only if that statement
        failed (then nothing of it was committed and each item is retried alone)."""
        raise NotImplementedError


@dataclass(slots=True)
class _Request:
    operation: Batched[Any, Any]
    item: Any
    future: asyncio.Future[Any]


class _Writer:
    """One dedicated connection, (re)connected on first use and on the first use after it was
    lost (an outage closes it; the next write opens a new one, within the connect timeout)."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._connect = connect
        self._connection: Optional[asyncpg.Connection] = None

    async def connection(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await self._connect()
        return self._connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()


class GroupCommit:
    """Writes on a few dedicated connections; what queues while they are busy goes in batches.

    An idle store runs a request at once on a free writer, in the caller's own task. Otherwise
    the request queues, and the next free writer takes every queued request of the oldest one's
    kind as one batch (a second writer starts only for PARALLEL_BATCH waiting requests). After a
    batch, dispatch waits one event-loop iteration, so the callers it just woke can queue their
    next writes and join the following batch: concurrent callers fall into step, and the
    statements carry as many rows as there are callers.
    """

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], writers: int) -> None:
        self._writers = [_Writer(connect) for _ in range(writers)]
        self._idle = list(self._writers)
        self._busy = 0
        self._queue: list[_Request] = []
        self._dispatch_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._drained: Optional[asyncio.Future[None]] = None

    async def run(self, operation: Batched[ItemT, ResultT], item: ItemT) -> ResultT:
        if self._idle and not self._busy and not self._queue and not self._dispatch_scheduled:
            writer = self._idle.pop()
            self._busy += 1
            try:
                return await operation.one(await writer.connection(), item)
            finally:
                self._release(writer, after_batch=False)
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(operation, item, future))
        self._schedule()
        return await future

    def _release(self, writer: _Writer, *, after_batch: bool) -> None:
        self._busy -= 1
        self._idle.append(writer)
        if after_batch or self._queue:
            # After a batch, always: the callers it woke must queue behind this dispatch instead
            # of each taking the idle path alone.
            self._schedule()
        else:
            self._check_drained()

    def _check_drained(self) -> None:
        if not self._busy and not self._queue and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _schedule(self) -> None:
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_scheduled = False
        while self._idle and (not self._busy or len(self._queue) >= PARALLEL_BATCH):
            batch = self._take()
            if not batch:
                break
            writer = self._idle.pop()
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._run_batch(writer, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._check_drained()

    def _take(self) -> list[_Request]:
        """The oldest request's kind: every queued request of it (up to MAX_BATCH), one per key."""
        self._queue = [request for request in self._queue if not request.future.done()]  # cancelled
        if not self._queue:
            return []
        operation = self._queue[0].operation
        batch: list[_Request] = []
        rest: list[_Request] = []
        keys: set[Hashable] = set()
        for request in self._queue:
            if request.operation is not operation or len(batch) >= MAX_BATCH:
                rest.append(request)
                continue
            key = operation.key(request.item)
            if key in keys:
                rest.append(request)
            else:
                keys.add(key)
                batch.append(request)
        self._queue = rest
        return batch

    async def _run_batch(self, writer: _Writer, batch: list[_Request]) -> None:
        operation = batch[0].operation
        try:
            outcomes = await self._outcomes(writer, operation, [request.item for request in batch])
        except Exception as exc:  # no connection, or it was lost: every request learns why
            outcomes = [exc] * len(batch)
        except BaseException:
            for request in batch:
                request.future.cancel()
            self._release(writer, after_batch=True)
            raise
        for request, outcome in zip(batch, outcomes, strict=True):
            if request.future.done():  # its caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)
        # Released after the callers were woken, so the dispatch it schedules runs after they
        # queued their next writes.
        self._release(writer, after_batch=True)

    @staticmethod
    async def _outcomes(writer: _Writer, operation: Batched[Any, Any], items: list[Any]) -> list[Any]:
        connection = await writer.connection()
        if len(items) > 1:
            try:
                return await operation.many(connection, items)
            except asyncpg.PostgresError:
                # The server refused the statement, so none of it committed: each item alone.
                # A lost link (also a PostgresError) is not retried, here or on a new link: the
                # batch may have committed, and each caller learns it failed (503) instead.
                if connection.is_closed():
                    raise
        outcomes: list[Any] = []
        for item in items:
            try:
                outcomes.append(await operation.one(connection, item))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def close(self) -> None:
        """Wait for every write handed to us, then close the writer connections (they reconnect
        if used again)."""
        while self._busy or self._queue:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        for writer in self._writers:
            await writer.close()
