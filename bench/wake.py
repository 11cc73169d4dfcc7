"""Wake latency: from the commit being known in the responder's process to `wait_for_response`
returning.

"Known" is the first change push the responder's store hears for that interrupt: the commit's own
reply, or on PostgreSQL its NOTIFY, whichever arrives first. Not `respond` returning: on PostgreSQL
the NOTIFY reaches the LISTEN connection independently of the commit's reply to the writer, so
a waiter in the same process could wake and return before `respond` did (-0.149 ms once).
"""

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

#: Rounds of one in-process wake that may be run again because they were no wake (see below).
_MAX_REDOS = 100


class _CommitHeard:
    """When this process's store first pushed a change of each interrupt (perf_counter)."""

    def __init__(self, service: InterruptService) -> None:
        self.at: dict[str, float] = {}
        service.store.add_listener(self._heard)

    def _heard(self, interrupt_id: str) -> None:
        # Creates push nothing, so an interrupt's first push is its commit (a batch's '*' is
        # never the bench's lone respond).
        self.at.setdefault(interrupt_id, time.perf_counter())


async def in_process(db: Any, count: int, *, load_agents: int = 0) -> Timing:
    """`load_agents`: that many agents create and answer interrupts of their own, back to back,
    in the same service the whole time (the wakes are timed under that load)."""
    service = InterruptService(db=db, logger=_Quiet(), sweep_interval=0)
    await service.start()
    heard = _CommitHeard(service)
    latencies: list[float] = []
    redos = 0
    loading = True

    async def load(agent: int) -> None:
        n = 0
        while loading:
            created = await service.create_clarification(f"load-{agent}-{n}", "loader", f"load-{agent}", "q?")
            await service.respond_or_raise(created.id, ANSWER)
            n += 1

    loaders = [asyncio.create_task(load(agent)) for agent in range(load_agents)]
    try:
        while len(latencies) < count:
            created = await service.create_clarification(f"wake-{len(latencies)}", "user", "sess", "q?")
            returned_at = 0.0

            async def wait(interrupt_id: str = created.id) -> None:
                nonlocal returned_at
                await service.wait_for_response(interrupt_id, timeout=30)
                returned_at = time.perf_counter()

            waiter = asyncio.create_task(wait())
            await asyncio.sleep(0)  # the waiter registers and starts its first read
            await service.respond_or_raise(created.id, ANSWER)
            await waiter
            # The waiter wakes only on a push, and the push's timestamp is taken in the listener
            # before the waiter can resume, so a woken waiter's latency is >= 0 by construction.
            # One that returned before any push read the answer on its first look and never
            # waited: no wake to time, so the round is run again.
            if returned_at < heard.at[created.id]:
                redos += 1
                if redos > _MAX_REDOS:
                    raise RuntimeError(f"{redos} waiters found the answer before parking")
                continue
            latencies.append(returned_at - heard.at[created.id])
    finally:
        loading = False
        await asyncio.gather(*loaders)
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
    This figure can be negative: the child's NOTIFY may arrive before this process hears of
    the commit at all.
    """
    from jeeves_control_tower.store.postgres import PostgresDatabase

    service = InterruptService(db=PostgresDatabase(dsn), logger=_Quiet(), sweep_interval=0)
    await service.start()
    heard = _CommitHeard(service)
    try:
        ids = [(await service.create_clarification(f"x-{n}", "user", "sess", "q?")).id for n in range(count)]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WAITER, dsn, *ids, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
        woken: dict[str, float] = {}
        for interrupt_id in ids:
            await service.respond_or_raise(interrupt_id, ANSWER)
            line = (await child.stdout.readline()).decode().split()
            woken[line[0]] = float(line[1])
        await child.wait()
    finally:
        await service.stop()
    latencies = [woken[i] - heard.at[i] for i in ids]
    return Timing(count, sum(latencies), latencies)
