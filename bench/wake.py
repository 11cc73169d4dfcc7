"""Wake latency: from `respond` returning to `wait_for_response` returning."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench.roundtrip import ANSWER, _Quiet
from bench.stats import Timing
from jeeves_control_tower.services import InterruptService

ROOT = Path(__file__).resolve().parents[1]


async def in_process(db: Any, count: int) -> Timing:
    service = InterruptService(db=db, logger=_Quiet(), sweep_interval=0)
    await service.start()
    latencies = []
    try:
        for n in range(count):
            created = await service.create_clarification(f"wake-{n}", "user", "sess", "q?")
            returned_at = 0.0

            async def wait(interrupt_id: str = created.id) -> None:
                nonlocal returned_at
                await service.wait_for_response(interrupt_id, timeout=30)
                returned_at = time.perf_counter()

            waiter = asyncio.create_task(wait())
            await asyncio.sleep(0)  # the waiter registers and parks
            await service.respond_or_raise(created.id, ANSWER)
            responded_at = time.perf_counter()
            await waiter
            latencies.append(returned_at - responded_at)
    finally:
        await service.stop()
    return Timing(count, sum(latencies), latencies)


WAITER = """
import asyncio, sys, time
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.postgres import PostgresDatabase
from bench.roundtrip import _Quiet

async def main(dsn, ids):
    service = InterruptService(db=PostgresDatabase(dsn), logger=_Quiet(), sweep_interval=0)
    await service.start()
    async def wait(i):
        await service.wait_for_response(i, timeout=120)
        print(i, time.perf_counter(), flush=True)
    tasks = [asyncio.create_task(wait(i)) for i in ids]
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    await service.stop()

asyncio.run(main(sys.argv[1], sys.argv[2:]))
"""


async def across_processes_postgres(dsn: str, count: int) -> Timing:
    """A waiter in a child process, woken through LISTEN/NOTIFY by this process's respond.

    perf_counter is CLOCK_MONOTONIC on Linux, so the two processes' readings compare directly.
    """
    from jeeves_control_tower.store.postgres import PostgresDatabase

    service = InterruptService(db=PostgresDatabase(dsn), logger=_Quiet(), sweep_interval=0)
    await service.start()
    try:
        ids = [(await service.create_clarification(f"x-{n}", "user", "sess", "q?")).id for n in range(count)]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WAITER, dsn, *ids, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
        responded: dict[str, float] = {}
        woken: dict[str, float] = {}
        for interrupt_id in ids:
            await service.respond_or_raise(interrupt_id, ANSWER)
            responded[interrupt_id] = time.perf_counter()
            line = (await child.stdout.readline()).decode().split()
            woken[line[0]] = float(line[1])
        await child.wait()
    finally:
        await service.stop()
    latencies = [woken[i] - responded[i] for i in ids]
    return Timing(count, sum(latencies), latencies)
