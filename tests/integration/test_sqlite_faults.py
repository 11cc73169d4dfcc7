"""SQLite faults at run time and at start, through InterruptService and over HTTP: a read-only
file or folder, a full disk, a file locked past the busy timeout, a corrupt or truncated file.

Each gives a StoreError naming the file and the cause (503 problem over HTTP), writes nothing
half-way (no interrupt without its journal row, no failed create stored), and the same objects
recover once the fault clears, with no restart. The faults are real (tmpfs, chattr, a second
process): tests run as root, who ignores permission bits; see tests/support/sqlite_faults.py.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jeeves_control_tower.api import Settings, create_app
from jeeves_control_tower.backend import open_backend
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import InterruptResponse, InterruptStatus, StoreError
from tests.support.sqlite_faults import (
    checkpoint,
    corrupt_pages,
    hold_write_lock,
    immutable,
    journal_matches_interrupts,
    request_ids,
    tmpfs,
)

PROBLEM = "application/problem+json"


@dataclass
class Served:
    service: InterruptService
    db: SQLiteDatabase
    http: httpx.AsyncClient


async def _prepare(path: Path) -> str:
    """A migrated file with one interrupt and an agent token (made while it is writable)."""
    db = SQLiteDatabase(path)
    async with InterruptService(db, sweep_interval=0) as service:
        await service.create_clarification("before", "agent-bot", "s", "q?")
        app = create_app(service, Settings(manage_service=False))
        secret, _ = await app.state.tokens.create("agent-bot", "agent")
    return str(secret)


@asynccontextmanager
async def _served(path: Path, token: str, *, start: bool = True, busy_timeout: float = 5.0) -> AsyncIterator[Served]:
    """The service and its API in-process, opened lazily unless `start` (a start that fails is
    retried by every call: that is how a file read-only at start must recover)."""
    db = SQLiteDatabase(path, busy_timeout=busy_timeout)
    service = InterruptService(db, sweep_interval=0)
    if start:
        await service.start()
    app = create_app(service, Settings(manage_service=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {token}"}
    ) as http:
        try:
            yield Served(service, db, http)
        finally:
            await service.stop()


def _create_body(request_id: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "clarification", "request_id": request_id, "user_id": "agent-bot",
            "session_id": "s", "question": "q?", **extra}


def _assert_store_problem(response: httpx.Response, path: Path, cause: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    doc = response.json()
    assert doc["code"] == "store_error"
    assert str(path) in doc["detail"] and cause in doc["detail"], doc["detail"]
    assert "\n" not in doc["detail"]


def _assert_store_error(error: BaseException, path: Path, cause: str) -> None:
    assert isinstance(error, StoreError), repr(error)
    assert str(path) in error.message and cause in error.message, error.message


# -- read-only ---------------------------------------------------------------------------------


async def test_a_file_read_only_at_start_is_refused_then_served_once_writable(tmp_path: Path) -> None:
    """The reported bug: SQLite opens a file it may not write read-only without a word, and the
    connection stayed read-only after the file became writable again: 503 until a restart."""
    path = tmp_path / "ro.db"
    token = await _prepare(path)
    with immutable(path) as make_writable:
        async with _served(path, token, start=False) as served:
            with pytest.raises(StoreError) as refused:
                await served.service.start()
            _assert_store_error(refused.value, path, "cannot be written: the file is read-only")
            # The service is not open until the file can be written: every call is a 503 naming
            # the file and the cause (and tries the open again).
            _assert_store_problem(await served.http.get("/v1/interrupts"), path, "the file is read-only")
            response = await served.http.post("/v1/interrupts", json=_create_body("during"))
            _assert_store_problem(response, path, "the file is read-only")
            make_writable()  # the fault clears; the same service and app go on
            response = await served.http.post("/v1/interrupts", json=_create_body("after"))
            assert response.status_code == 201, response.text
            answered = await served.service.respond_or_raise(response.json()["id"], InterruptResponse(text="ok"))
            assert answered.status is InterruptStatus.RESOLVED
    assert request_ids(path) == {"before", "after"}
    journal_matches_interrupts(path)


async def test_a_read_only_folder_at_start_is_refused_then_served_once_writable(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt") as mount:
        path = mount.path / "j.db"
        token = await _prepare(path)
        mount.read_only()
        async with _served(path, token, start=False) as served:
            with pytest.raises(StoreError) as refused:
                await served.service.start()
            _assert_store_error(refused.value, path, f"its folder {str(mount.path)!r} is read-only")
            response = await served.http.post("/v1/interrupts", json=_create_body("during"))
            assert response.status_code == 503, response.text
            assert str(path) in response.json()["detail"]
            mount.read_only(False)
            response = await served.http.post("/v1/interrupts", json=_create_body("after"))
            assert response.status_code == 201, response.text
        assert request_ids(path) == {"before", "after"}
        journal_matches_interrupts(path)


# -- full disk ----------------------------------------------------------------------------------


async def test_a_full_disk_is_a_503_writes_nothing_and_recovers_when_space_returns(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="2m") as mount:
        path = mount.path / "j.db"
        token = await _prepare(path)
        async with _served(path, token) as served:
            pending = await served.service.create_clarification("pending", "agent-bot", "s", "q?")
            mount.fill()
            blob = {"blob": "x" * 100_000}  # more pages than any slack the WAL file has left
            response = await served.http.post("/v1/interrupts", json=_create_body("during", data=blob))
            _assert_store_problem(response, path, "cannot grow: the disk is full")
            with pytest.raises(StoreError) as full:
                await served.service.create_clarification("during2", "agent-bot", "s", "q?", context=blob)
            _assert_store_error(full.value, path, "the disk is full")
            # Reads go on while the disk is full.
            assert (await served.http.get(f"/v1/interrupts/{pending.id}")).status_code == 200
            mount.free()
            response = await served.http.post("/v1/interrupts", json=_create_body("after", data=blob))
            assert response.status_code == 201, response.text
            await served.service.respond_or_raise(pending.id, InterruptResponse(text="ok"))
        assert request_ids(path) == {"before", "pending", "after"}
        journal_matches_interrupts(path)


# -- locked -------------------------------------------------------------------------------------


async def test_a_file_locked_past_the_busy_timeout_is_a_503_and_writes_resume_after(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    token = await _prepare(path)
    async with _served(path, token, busy_timeout=0.3) as served:
        pending = await served.service.create_clarification("pending", "agent-bot", "s", "q?")
        with hold_write_lock(path):
            started = time.monotonic()
            response = await served.http.post("/v1/interrupts", json=_create_body("during"))
            _assert_store_problem(response, path, "is locked by another process")
            assert "0.3 s busy timeout" in response.json()["detail"]
            with pytest.raises(StoreError) as locked:
                await served.service.respond_or_raise(pending.id, InterruptResponse(text="too early"))
            _assert_store_error(locked.value, path, "locked")
            # Bounded by the busy timeout (waited on a worker thread, the loop stays free) ...
            assert time.monotonic() - started < 5
            # ... and under WAL a writer's lock does not stop readers.
            assert (await served.http.get(f"/v1/interrupts/{pending.id}")).json()["status"] == "pending"
        response = await served.http.post("/v1/interrupts", json=_create_body("after"))
        assert response.status_code == 201, response.text
        await served.service.respond_or_raise(pending.id, InterruptResponse(text="ok"))
    assert request_ids(path) == {"before", "pending", "after"}
    journal_matches_interrupts(path)


# -- corrupt or truncated -----------------------------------------------------------------------


def _damage(path: Path, how: str) -> bytes:
    if how == "overwritten":
        return corrupt_pages(path)
    original = path.read_bytes()
    os.truncate(path, len(original) // 2 + 300)  # mid-page
    return original


@pytest.mark.parametrize("how", ["overwritten", "truncated"])
async def test_a_file_damaged_at_run_time_is_a_503_and_is_served_again_once_restored(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "damaged.db"
    token = await _prepare(path)
    async with _served(path, token) as served:
        for n in range(40):  # enough pages that half the file cuts through the tables
            await served.service.create_clarification(f"r{n}", "agent-bot", "s", "q?", context={"x": "y" * 400})
        checkpoint(path)  # the pages now live in the file, not the WAL
        original = _damage(path, how)
        for call in (
            served.http.get("/v1/interrupts", params={"session_id": "s"}),
            served.http.post("/v1/interrupts", json=_create_body("during")),
        ):
            _assert_store_problem(await call, path, "is corrupt or truncated")
        with pytest.raises(StoreError) as damaged:
            await served.service.get_pending_for_session("s")
        _assert_store_error(damaged.value, path, "corrupt")
        path.write_bytes(original)  # restored from a backup
        listed = await served.http.get("/v1/interrupts", params={"session_id": "s", "limit": 100})
        assert listed.status_code == 200 and len(listed.json()["items"]) == 41, listed.text
        assert (await served.http.post("/v1/interrupts", json=_create_body("after"))).status_code == 201
    assert request_ids(path) == {"before", "after", *(f"r{n}" for n in range(40))}
    journal_matches_interrupts(path)


@pytest.mark.parametrize("how", ["header", "truncated"])
async def test_a_file_damaged_at_start_is_refused_and_opens_once_restored(tmp_path: Path, how: str) -> None:
    path = tmp_path / "damaged.db"
    await _prepare(path)
    original = path.read_bytes()
    if how == "header":
        path.write_bytes(b"not a database, honest" + original[22:])
    else:
        os.truncate(path, 1500)  # mid-way through the second page
    db = SQLiteDatabase(path)
    service = InterruptService(db, sweep_interval=0)
    with pytest.raises(StoreError) as refused:
        await service.start()
    _assert_store_error(refused.value, path, "is corrupt or truncated; restore it from a backup")
    path.write_bytes(original)
    await service.start()
    try:
        await service.create_clarification("after", "agent-bot", "s", "q?")
    finally:
        await service.stop()
    assert request_ids(path) == {"before", "after"}


async def test_no_sqlite_error_escapes_any_table_of_the_file(tmp_path: Path) -> None:
    """Webhook storage, tokens and the seed's DatabaseProtocol methods share the database's one
    translation: every sqlite3 error they meet is a StoreError naming the file."""
    path = tmp_path / "all.db"
    token = await _prepare(path)
    db = SQLiteDatabase(path)
    storage = open_backend(db).webhooks
    await storage.open(lambda: None)
    app = create_app(InterruptService(db, sweep_interval=0), Settings(manage_service=False))
    try:
        checkpoint(path)
        original = corrupt_pages(path)
        now = datetime.now(UTC)
        calls: list[Any] = [
            storage.list_subscriptions(),
            storage.get_subscription("x"),
            storage.fan_out(now, 10),
            storage.claim(now, now + timedelta(seconds=30), 10),
            storage.list_deliveries(None, None, 10),
            storage.redeliver("x", now),
            storage.next_due(),
            app.state.tokens.list(),
            app.state.tokens.create("u", "agent"),
            db.fetch_all("SELECT * FROM jeeves_interrupts", ()),
            db.insert("jeeves_interrupt_events", {"seq": 10_000}),
        ]
        for call in calls:
            with pytest.raises(StoreError) as failed:
                await call
            _assert_store_error(failed.value, path, "corrupt")
        path.write_bytes(original)
        assert await storage.list_subscriptions() == []
        assert len(await app.state.tokens.list()) == 1
        assert token
    finally:
        await db.close()


async def test_the_memory_database_is_never_reopened_after_an_error() -> None:
    """Reopening a :memory: database would lose it: the fault handling must leave it alone."""
    db = SQLiteDatabase(":memory:")
    await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))

    def refused_write(connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA query_only=1")  # SQLITE_READONLY, as from a read-only file
        connection.execute("INSERT INTO t VALUES (1)")

    try:
        with pytest.raises(StoreError):
            await db.write(refused_write)
        db.read(lambda c: c.execute("PRAGMA query_only=0"))  # the reader is the writer here
        await db.insert("t", {"v": 2})
        assert db.read(lambda c: c.execute("SELECT v FROM t").fetchall())[0][0] == 2
    finally:
        await db.close()


def test_fault_helpers_leave_no_mount_behind(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="1m") as mount:
        mount.fill()
        assert shutil.disk_usage(mount.path).free == 0
        mount.free()
    assert not os.path.ismount(tmp_path / "mnt")
