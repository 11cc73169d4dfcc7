"""Crash safety: SIGKILL a process mid-delivery; a new one delivers every committed event."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_control_tower.webhooks import RetryPolicy, WebhookService
from jeeves_protocols.interrupts import parse_time
from tests.support.webhook_receiver import Receiver

CHANGES = 1000
ROOT = Path(__file__).resolve().parents[2]


async def committed_event_ids(db: Any) -> set[str]:
    rows = await db.fetch_all("SELECT interrupt_id, sequence FROM jeeves_interrupt_events", ())
    return {f"evt_{row['interrupt_id']}_{row['sequence']}" for row in rows}


async def crash_and_recover(db: Any, target: str) -> None:
    # Slow: 1,000 deliveries take seconds, so the kill lands with most of them still to send.
    async with Receiver(delay=0.02) as receiver:
        setup = WebhookService(db, allow_networks=["127.0.0.0/8"])
        await setup.create_subscription(receiver.url, ["*"])
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.webhook_crash_worker", target, str(CHANGES),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), timeout=60) == b"committed\n"
        # Kill it while deliveries are in flight: some delivered, some leased, most not yet sent.
        while len(receiver.requests) < 20:
            receiver.arrived.clear()
            await asyncio.wait_for(receiver.arrived.wait(), timeout=60)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        before_restart = len(receiver.requests)

        # The "new process": a fresh dispatcher over the same database.
        recovering = WebhookService(
            db, allow_networks=["127.0.0.0/8"], retry=RetryPolicy(schedule=(0, 0, 0), jitter=0)
        )
        await recovering.run_until_idle(max_wait=3)  # past the killed worker's 1.5 s leases
        await recovering.stop()
        await setup.stop()

        committed = await committed_event_ids(db)
        assert len(committed) == CHANGES
        assert before_restart < CHANGES  # it really died mid-delivery
        received = {request.headers["webhook-id"] for request in receiver.requests}
        print(f"committed {len(committed)} events; {before_restart} requests before the kill,"
              f" {len(receiver.requests)} in all, {len(received)} distinct")
        missing = committed - received
        assert not missing, f"{len(missing)} of {len(committed)} committed events never arrived"
        assert received <= committed
        # At least once: duplicates only for deliveries in flight at the kill.
        assert len(receiver.requests) - len(received) <= 16 + 1
        assert parse_time(receiver.requests[0].json["timestamp"]) is not None


async def test_sigkill_mid_delivery_loses_no_event_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    db = SQLiteDatabase(path)
    try:
        await crash_and_recover(db, str(path))
    finally:
        await db.close()


async def test_sigkill_mid_delivery_loses_no_event_on_postgres(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn, max_size=4)
    try:
        await crash_and_recover(db, pg_dsn)
    finally:
        await db.close()

