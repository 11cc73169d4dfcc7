"""The SQLite store's own writes, timed on a bare sqlite3 connection: the ceiling of its schema.

The round trip's two writes (`insert_interrupt`, then `finish_interrupt`, the very functions the
store runs inside its transactions) are called directly, without InterruptService, the event
loop or the group commit, with their parameters built before the clock starts and WAL
checkpoints run outside it (the store runs them on a worker thread): what is timed is the SQL
(the interrupt row and its indexes, the journal row and its indexes) and the commits. Against the
sqlite3 floor, this says how much of the gap is the schema and how much is everything around it.

Run again with `seed_indexes_only`, the same SQL meets a schema without the indexes that serve
the HTTP API's listings and the event stream's filters: what is left (the interrupt row and its
primary key, the three pending indexes the seed's queries use, the journal row and its
one-event-per-transition constraint) is the least any store can write that answers the seed's
queries from an index and journals every transition. Its rate bounds every design of that kind:

    .venv/bin/python -m bench.store_sql       # prints all four: 1 and 16 per commit, each schema
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stats import Timing
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.services.ids import new_interrupt_id
from jeeves_control_tower.services.validation import response_fits
from jeeves_control_tower.store.base import Finish, Guard
from jeeves_control_tower.store.sqlite import (
    CHECKPOINT_EVERY_COMMITS,
    SQLiteDatabase,
    configure_connection,
    finish_interrupt,
    finish_params,
    insert_interrupt,
)
from jeeves_protocols import FlowInterrupt, InterruptKind, InterruptResponse, InterruptStatus

CREATED = "interrupt.clarification_needed"
RESOLVED = "interrupt.resolved"
ANSWER = InterruptResponse(text="yes")
#: The guard respond builds for this answer: the kinds whose default config accepts it.
GUARD = Guard(kinds=frozenset(kind for kind, config in InterruptService().configs.items()
                              if response_fits(config, ANSWER)))


#: The indexes no query of the seed's InterruptService uses: the HTTP API's listings (by user,
#: session, request, everything, pending) and the event stream's filters (by user, by session).
API_INDEXES = (
    "jeeves_interrupts_user_id",
    "jeeves_interrupts_session_id",
    "jeeves_interrupts_request_id",
    "jeeves_interrupts_created_id",
    "jeeves_interrupts_pending_created",
    "jeeves_interrupt_events_user",
    "jeeves_interrupt_events_session",
)


SEED_INDEXES_ONLY = "the seed's indexes only"


def label(per_commit: int, seed_indexes_only: bool) -> str:
    """How the benchmark names one reference: "16 per commit, the seed's indexes only"."""
    return f"{per_commit} per commit" + (f", {SEED_INDEXES_ONLY}" if seed_indexes_only else "")


async def _migrated(path: Path, seed_indexes_only: bool) -> None:
    store = SQLiteDatabase(path).interrupt_store()
    await store.open()
    await store.close()
    if seed_indexes_only:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
            for index in API_INDEXES:
                connection.execute(f"DROP INDEX {index}")  # no IF EXISTS: a renamed index must fail here


async def store_sql(
    path: Path, count: int, per_commit: int = 1, *, seed_indexes_only: bool = False
) -> tuple[Timing, int, int]:
    """`count` round trips of the store's writes, `per_commit` creates (then as many finishes)
    to a transaction; the timing, how many interrupts ended resolved, and the journal rows
    written (two per round trip: the benchmark checks it measured real writes)."""
    await _migrated(path, seed_indexes_only)  # the store's migrations; the timed part is plain sqlite3
    connection = sqlite3.connect(path, isolation_level=None)
    configure_connection(connection)  # the store's settings
    # The store checkpoints the WAL on a worker thread, off its writer's path; so does this, in
    # effect: checkpoints run every as many commits, outside the timed part.
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.row_factory = sqlite3.Row
    latencies: list[float] = []
    resolved = commits = 0
    elapsed = 0.0
    for first in range(0, count, per_commit):
        # The parameters are built outside the timed part (the service builds them before it
        # queues a write): what is timed is the two write functions' statements and commits.
        now = datetime.now(UTC)
        rows = [
            FlowInterrupt(
                id=new_interrupt_id(), kind=InterruptKind.CLARIFICATION, request_id=f"req-{n}",
                user_id="user", session_id=f"sess-{n % 100}", question="q?", created_at=now,
                expires_at=now + timedelta(hours=24),
            ).to_db_row()
            for n in range(first, min(first + per_commit, count))
        ]
        answers = [finish_params(row["id"], Finish(InterruptStatus.RESOLVED, now, response=ANSWER), GUARD)
                   for row in rows]
        began = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        for row in rows:
            assert insert_interrupt(connection, row, CREATED) is None
        connection.execute("COMMIT")
        connection.execute("BEGIN IMMEDIATE")
        finished = [finish_interrupt(connection, params, RESOLVED) for params in answers]
        connection.execute("COMMIT")
        spent = time.perf_counter() - began
        elapsed += spent
        # Every round trip of a batch waits for the whole batch: that is its latency.
        latencies.extend([spent] * len(rows))
        resolved += sum(changed and row is not None and row["status"] == "resolved" for changed, row in finished)
        commits += 2
        if commits % CHECKPOINT_EVERY_COMMITS == 0:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    events: int = connection.execute("SELECT count(*) FROM jeeves_interrupt_events").fetchone()[0]
    connection.close()
    return Timing(count, elapsed, latencies), resolved, events


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as workdir:
        for seed_indexes_only in (False, True):
            for per_commit in (1, 16):
                path = Path(workdir) / f"sql{per_commit}-{seed_indexes_only}.db"
                timing, resolved, events = asyncio.run(
                    store_sql(path, count, per_commit, seed_indexes_only=seed_indexes_only))
                print(f"store's SQL, {label(per_commit, seed_indexes_only)}: {timing.per_second:,.0f} round trips/s"
                      f" ({resolved:,} resolved, {events:,} journal rows)")


if __name__ == "__main__":
    main()
