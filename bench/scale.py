"""Queries with many interrupts stored: listing and expiry must cost what they return, not what is stored."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.roundtrip import _Quiet, journal_tail
from bench.stats import Timing
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.services.ids import new_interrupt_id
from jeeves_protocols import FlowInterrupt, InterruptKind
from jeeves_protocols.interrupts import format_time

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PER_SESSION = 10
DUE = 10_000


@dataclass
class ScaleResult:
    stored: int
    session_query: Timing
    request_query: Timing
    expire_nothing_due: Timing
    expire_due_seconds: float
    expired: int
    journal_events: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "get_pending_for_session": self.session_query.as_dict(),
            "get_pending_for_request": self.request_query.as_dict(),
            # p99 over repeated sweeps: what a sweeper pays every interval when nothing is due.
            "expire_nothing_due_ms": round(self.expire_nothing_due.p99_ms, 4),
            "expire_nothing_due": self.expire_nothing_due.as_dict(),
            "expire_due_seconds": round(self.expire_due_seconds, 4),
            "expired": self.expired,
            "journal_events": self.journal_events,
        }


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def rows(count: int, due: int) -> Any:
    """Pending interrupts: `due` expire one hour after NOW, the rest in a year."""
    soon, later = NOW + timedelta(hours=1), NOW + timedelta(days=365)
    for n in range(count):
        yield {
            "id": new_interrupt_id(),
            "kind": "clarification",
            "request_id": f"req-{n}",
            "user_id": f"user-{n % 1000}",
            "session_id": f"sess-{n // PER_SESSION}",
            "question": "Which module first?",
            "created_at": NOW - timedelta(seconds=count - n),
            "expires_at": soon if n % (count // due) == 0 and n // (count // due) < due else later,
        }


def load_memory(service: InterruptService, count: int, due: int) -> None:
    store = service.store
    for row in rows(count, due):
        row.pop("kind")
        interrupt = FlowInterrupt(kind=InterruptKind.CLARIFICATION, **row)
        # MemoryStore.create never awaits: drive it without an event loop round trip per row.
        coroutine = store.create(interrupt, "interrupt.clarification_needed")
        with contextlib.suppress(StopIteration):
            coroutine.send(None)


def load_sqlite(path: Path, count: int, due: int) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO jeeves_interrupts (id, kind, request_id, user_id, session_id, question, data, status,"
            " created_at, expires_at) VALUES (:id, :kind, :request_id, :user_id, :session_id, :question, '{}',"
            " 'pending', :created_at, :expires_at)",
            ({**row, "created_at": format_time(row["created_at"]), "expires_at": format_time(row["expires_at"])}
             for row in rows(count, due)),
        )
    connection.execute("ANALYZE")
    connection.close()


async def load_postgres(dsn: str, count: int, due: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        records = (
            (r["id"], r["kind"], r["request_id"], r["user_id"], r["session_id"], r["question"], "{}", "pending",
             r["created_at"], r["expires_at"])
            for r in rows(count, due)
        )
        await connection.copy_records_to_table(
            "jeeves_interrupts",
            records=records,
            columns=["id", "kind", "request_id", "user_id", "session_id", "question", "data", "status",
                     "created_at", "expires_at"],
        )
        await connection.execute("ANALYZE jeeves_interrupts")
        # The due interrupts expire two hours (of the injected clock) after this load; a server
        # has long written the load's dirty pages out by then, so the sweep would not find its
        # backend evicting them. CHECKPOINT stands in for those two hours.
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def measure(service: InterruptService, clock: Clock, count: int, probes: int) -> ScaleResult:
    rng = random.Random(7)
    session_latencies, request_latencies = [], []
    for _ in range(probes):
        session = f"sess-{rng.randrange(count // PER_SESSION)}"
        began = time.perf_counter()
        found = await service.get_pending_for_session(session)
        session_latencies.append(time.perf_counter() - began)
        assert len(found) == PER_SESSION, (session, len(found))
        request = f"req-{rng.randrange(count)}"
        began = time.perf_counter()
        assert await service.get_pending_for_request(request) is not None
        request_latencies.append(time.perf_counter() - began)
    await service.expire_pending()  # first call prepares the statement; the sweeper pays that once
    nothing_latencies = []
    for _ in range(max(probes // 10, 10)):
        began = time.perf_counter()
        assert await service.expire_pending() == 0
        nothing_latencies.append(time.perf_counter() - began)
    _, journal_seq = await journal_tail(service)
    clock.now = NOW + timedelta(hours=2)
    began = time.perf_counter()
    expired = await service.expire_pending()
    due_seconds = time.perf_counter() - began
    return ScaleResult(
        count,
        Timing(probes, sum(session_latencies), session_latencies),
        Timing(probes, sum(request_latencies), request_latencies),
        Timing(len(nothing_latencies), sum(nothing_latencies), nothing_latencies),
        due_seconds,
        expired,
        (await journal_tail(service, journal_seq))[0],  # the expiries' journal rows
    )


async def scale(kind: str, count: int, due: int, probes: int, workdir: Path, dsn: str | None) -> ScaleResult:
    clock = Clock()
    db: Any = None
    if kind == "sqlite":
        from jeeves_control_tower.store.sqlite import SQLiteDatabase

        path = workdir / "scale.db"
        async with InterruptService(db=SQLiteDatabase(path), logger=_Quiet(), sweep_interval=0):
            pass  # migrate
        load_sqlite(path, count, due)
        db = SQLiteDatabase(path)
    elif kind == "postgres":
        from jeeves_control_tower.store.postgres import PostgresDatabase

        assert dsn is not None
        async with InterruptService(db=PostgresDatabase(dsn), logger=_Quiet(), sweep_interval=0):
            pass
        await load_postgres(dsn, count, due)
        db = PostgresDatabase(dsn)
    service = InterruptService(db=db, logger=_Quiet(), clock=clock, sweep_interval=0)
    await service.start()
    try:
        if kind == "memory":
            load_memory(service, count, due)
        return await measure(service, clock, count, probes)
    finally:
        await service.stop()
