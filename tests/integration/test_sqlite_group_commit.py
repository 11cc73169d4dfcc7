"""SQLite group commit: writes queued in one loop iteration commit together, and stay independent."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import InterruptResponse, InterruptStatus, StoreError


def _insert(value: int) -> Callable[[sqlite3.Connection], int]:
    def job(connection: sqlite3.Connection) -> int:
        connection.execute("INSERT INTO t (v) VALUES (?)", (value,))
        connection.execute("INSERT INTO t (v) VALUES (?)", (value + 1000,))
        if value == 3:  # fails after writing: its first row must be undone, and only its own
            connection.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value

    return job


async def test_a_failing_write_in_a_batch_fails_alone(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "g.db")
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    try:
        # Queued in one loop iteration: one batch, one transaction.
        futures = [db.write(_insert(v)) for v in range(6)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert [r for r in results if not isinstance(r, BaseException)] == [0, 1, 2, 4, 5]
        assert isinstance(results[3], StoreError) and "UNIQUE" in str(results[3])
        rows = {v for (v,) in db.read(lambda c: c.execute("SELECT v FROM t").fetchall())}
        assert rows == {0, 1, 2, 4, 5, 1000, 1001, 1002, 1004, 1005}
    finally:
        await db.close()


async def test_a_batch_is_one_transaction_per_loop_iteration(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "g.db")
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    try:
        before = db.read(lambda c: c.execute("PRAGMA data_version").fetchone()[0])
        await asyncio.gather(*(db.write(_insert(v)) for v in (10, 11, 12, 13)))
        # data_version moves once per commit seen from another connection: one batch, one commit.
        after = db.read(lambda c: c.execute("PRAGMA data_version").fetchone()[0])
        assert after == before + 1
    finally:
        await db.close()


@pytest.mark.parametrize("agents", [16])
async def test_concurrent_agents_through_the_service_keep_every_guarantee(tmp_path: Path, agents: int) -> None:
    async with InterruptService(SQLiteDatabase(tmp_path / "s.db"), sweep_interval=0) as service:
        created = await asyncio.gather(
            *(service.create_clarification(f"r{n}", "u", f"s{n % 3}", "q?") for n in range(agents * 4))
        )
        # Every interrupt answered twice at once: exactly one answer wins each.
        answers = await asyncio.gather(
            *(service.respond(c.id, InterruptResponse(text=t)) for c in created for t in ("a", "b")),
        )
        winners = [a for a in answers if a is not None]
        assert len(winners) == len(created) and {w.status for w in winners} == {InterruptStatus.RESOLVED}
        events = await service.store.events_after(0, 10_000)
        assert len(events) == 2 * len(created)
        assert {(e.interrupt.id, e.sequence) for e in events} == {(c.id, s) for c in created for s in (1, 2)}


async def _nearly_full(db: SQLiteDatabase) -> None:
    """The disk is (all but) full: SQLITE_FULL comes from max_page_count as from a full disk, and
    SQLite answers it by rolling the whole transaction back itself."""
    def cap(connection: sqlite3.Connection) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count={pages + 20}")

    await db.write(cap)


def _journal_matches_interrupts(db: SQLiteDatabase) -> None:
    interrupts = {i for (i,) in db.read(lambda c: c.execute("SELECT id FROM jeeves_interrupts").fetchall())}
    journalled = {i for (i,) in db.read(lambda c: c.execute("SELECT interrupt_id FROM jeeves_interrupt_events").fetchall())}
    assert journalled == interrupts  # no interrupt without its creation event, nor the reverse


@pytest.mark.parametrize("neighbours", [0, 2])
async def test_a_full_disk_fails_the_whole_batch_with_a_typed_error_and_the_store_recovers(
    tmp_path: Path, neighbours: int
) -> None:
    db = SQLiteDatabase(tmp_path / "full.db")
    async with InterruptService(db, sweep_interval=0) as service:
        await service.create_clarification("before", "u", "s", "q?")
        await _nearly_full(db)
        small = [service.create_clarification(f"ok{n}", "u", "s", "q?") for n in range(neighbours)]
        big = service.create_clarification("big", "u", "s", "q?", context={"blob": "x" * 200_000})
        # One batch: SQLite rolled it all back, so every caller in it gets the error, none hangs.
        results = await asyncio.wait_for(asyncio.gather(*small, big, return_exceptions=True), 5)
        assert all(isinstance(r, StoreError) and "full" in str(r) for r in results), results
        assert [i.request_id for i in await service.get_pending_for_session("s")] == ["before"]
        _journal_matches_interrupts(db)
        # The writer is left outside any transaction: once there is room, writes go on.
        await db.write(lambda c: c.execute("PRAGMA max_page_count=1073741823"))
        after = await service.create_clarification("after", "u", "s", "q?", context={"blob": "x" * 200_000})
        assert (await service.respond_or_raise(after.id, InterruptResponse(text="ok"))).status is InterruptStatus.RESOLVED
        _journal_matches_interrupts(db)


async def test_text_without_a_utf8_form_is_a_store_error_through_the_seed_db_api(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "u.db")
    await db.write(lambda c: c.execute("CREATE TABLE t (v TEXT)"))
    try:
        with pytest.raises(StoreError):
            await db.insert("t", {"v": "\ud800"})
        with pytest.raises(StoreError):
            db.read(lambda c: c.execute("SELECT * FROM t WHERE v = ?", ("\ud800",)).fetchall())
        await db.insert("t", {"v": "fine"})  # the writer goes on
        assert [tuple(r) for r in db.read(lambda c: c.execute("SELECT v FROM t").fetchall())] == [("fine",)]
    finally:
        await db.close()


async def test_a_committed_write_returns_within_one_loop_turn(tmp_path: Path) -> None:
    """The caller resumes in the turn its batch commits, not a turn later."""
    db = SQLiteDatabase(tmp_path / "turns.db")
    await db.commit(lambda c: c.execute("CREATE TABLE t (v INTEGER UNIQUE)"))
    loop = asyncio.get_running_loop()
    turns = 0

    def tick() -> None:
        nonlocal turns
        turns += 1
        loop.call_soon(tick)

    try:
        loop.call_soon(tick)  # counts the loop's turns while the writes are in flight
        await asyncio.sleep(0)
        counted = turns
        assert await db.commit(_insert(4)) == 4
        # One turn: the flush and the caller's wake-up both run in it. Awaiting the write's
        # future alone took two: the flush in one, the wake-up it schedules in the next.
        assert turns - counted == 1, turns - counted
        assert await asyncio.gather(db.commit(_insert(1)), db.commit(_insert(2))) == [1, 2]
        assert db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 6
    finally:
        await db.close()
