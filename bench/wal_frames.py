"""What a SQLite commit writes: WAL frames (one page each) per create and per respond.

A WAL commit writes every b-tree page the transaction touched, two system calls per page, so
the frame count is most of what separates a round trip from the bare floor. Measured by the
WAL's growth over a run of round trips, with checkpoints held off so the WAL only grows.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bench.floors import FLOOR_SCHEMA, INSERT, UPDATE
from bench.roundtrip import ANSWER, _Quiet
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase

WARM_UP = 300
COUNT = 200


def _frame_bytes(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        page_size: int = connection.execute("PRAGMA page_size").fetchone()[0]
    return page_size + 24  # each frame: a 24-byte header, then the page


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def jeeves_frames(path: Path) -> dict[str, float]:
    """Frames per create_clarification and per respond through InterruptService on SQLite."""
    # No checkpoint may rewind the WAL mid-count.
    database = SQLiteDatabase(path, checkpoint_every=10**9)
    async with InterruptService(database, logger=_Quiet(), sweep_interval=0) as service:
        for n in range(WARM_UP):  # indexes deep enough that pages fill and split as in use
            created = await service.create_clarification(f"w{n}", "user", f"sess-{n % 100}", "q?")
            await service.respond_or_raise(created.id, ANSWER)
        frame = _frame_bytes(path)
        creates = responds = 0
        for n in range(COUNT):
            before = _wal_size(path)
            created = await service.create_clarification(f"r{n}", "user", f"sess-{n % 100}", "q?")
            middle = _wal_size(path)
            await service.respond_or_raise(created.id, ANSWER)
            creates += middle - before
            responds += _wal_size(path) - middle
    return {"create": round(creates / COUNT / frame, 1), "respond": round(responds / COUNT / frame, 1)}


def floor_frames(path: Path) -> dict[str, float]:
    """The same count for the floor's bare INSERT and conditional UPDATE (stdlib sqlite3, WAL)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute(FLOOR_SCHEMA)
    now = "2026-01-01T00:00:00.000000+00:00"
    frame = _frame_bytes(path)
    creates = updates = 0
    for n in range(WARM_UP + COUNT):
        interrupt_id = f"{n:08d}-0000-7000-8000-000000000000"
        before = _wal_size(path)
        connection.execute(INSERT, (interrupt_id, f"req-{n}", now, now))
        middle = _wal_size(path)
        connection.execute(UPDATE, ('{"text":"yes"}', now, interrupt_id))
        if n >= WARM_UP:
            creates += middle - before
            updates += _wal_size(path) - middle
    connection.close()
    return {"create": round(creates / COUNT / frame, 1), "respond": round(updates / COUNT / frame, 1)}


async def measure(workdir: Path) -> dict[str, Any]:
    return {"jeeves": await jeeves_frames(workdir / "frames.db"), "floor": floor_frames(workdir / "floor-frames.db")}


if __name__ == "__main__":
    import tempfile

    print(asyncio.run(measure(Path(tempfile.mkdtemp(prefix="jeeves-frames-")))), file=sys.stdout)
    os._exit(0)
