"""How SQLiteDatabase sets up its connections: the settings its speed depends on, on a real file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import StoreError


def _setting(connection: sqlite3.Connection, pragma: str) -> object:
    return connection.execute(f"PRAGMA {pragma}").fetchone()[0]


async def test_both_connections_keep_a_small_page_cache_and_map_the_file(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "j.db")
    async with InterruptService(db, sweep_interval=0) as service:
        await service.create_clarification("r", "u", "s", "q?")
        assert db._writer is not None and db._reader is not None and db._writer is not db._reader
        for connection in (db._writer, db._reader):
            # SQLite walks a writer's whole page-cache hash table at the end of a transaction that
            # split an index page mid-tree (many of ours do): a large cache made every
            # commit slower as it filled (7% of a round trip after 20,000, at 64 MiB). Reads come from
            # the memory-mapped file instead.
            assert _setting(connection, "cache_size") == -2048
            assert _setting(connection, "mmap_size") == 1 << 30
            assert _setting(connection, "journal_mode") == "wal"
            assert _setting(connection, "synchronous") == 1  # NORMAL
        assert _setting(db._writer, "page_size") == 1024  # a new file takes 1 KiB pages
        assert _setting(db._writer, "wal_autocheckpoint") == 0  # checkpoints run on their own thread


async def test_an_existing_file_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA page_size=4096")
    connection.execute("CREATE TABLE existing (x)")
    connection.commit()
    connection.close()
    db = SQLiteDatabase(path)
    async with InterruptService(db, sweep_interval=0) as service:
        created = await service.create_clarification("r", "u", "s", "q?")
        assert (await service.get_interrupt(created.id)) is not None
        assert db._writer is not None
        assert _setting(db._writer, "page_size") == 4096


def _open_descriptors(path: Path) -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith(str(path))
        except OSError:
            continue  # closed while listing
    return count


async def test_a_file_that_is_not_a_database_is_a_store_error_and_leaves_nothing_open(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database, " * 512)
    db = SQLiteDatabase(path)
    for _ in range(2):  # and a second try fails the same way
        with pytest.raises(StoreError, match=r"SQLite database .* is corrupt or truncated"):
            db.read(lambda c: c.execute("SELECT 1").fetchall())
    assert _open_descriptors(path) == 0
