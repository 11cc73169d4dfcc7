"""A child process for cross-process races: respond to every given interrupt (or, with
--consume, use each one's approval of RACE_ACTION), report the wins.

usage: python -m tests.support.race_worker [--consume] <sqlite-path|postgres-dsn> <id> [<id> ...]
Once its database is open it prints "ready" and blocks on stdin until the parent writes a line,
so that both processes start firing together.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from jeeves_control_tower.services import InterruptService
from jeeves_protocols import ApprovalUsedError, InterruptNotPendingError, InterruptResponse

#: The action the --consume race's confirmations approve.
RACE_ACTION = {"tool": "transfer", "amount": 10}


def _db(target: str) -> object:
    if target.startswith("postgresql://"):
        from jeeves_control_tower.store.postgres import PostgresDatabase

        return PostgresDatabase(target, max_size=8)
    from jeeves_control_tower.store.sqlite import SQLiteDatabase

    return SQLiteDatabase(target)


async def main(target: str, ids: list[str], consume: bool = False) -> None:
    service = InterruptService(db=_db(target), sweep_interval=0)  # type: ignore[arg-type]
    await service.start()
    print("ready", flush=True)
    sys.stdin.readline()  # blocking on purpose: nothing else runs in this process until "go"
    pid = os.getpid()

    async def attempt(interrupt_id: str) -> str:
        try:
            if consume:
                await service.consume(interrupt_id, RACE_ACTION)
            else:
                await service.respond_or_raise(interrupt_id, InterruptResponse(text=f"from {pid}"))
            return "won"
        except (InterruptNotPendingError, ApprovalUsedError):
            return "lost"

    results = await asyncio.gather(*(attempt(i) for i in ids for _ in range(3)))
    wins = [interrupt_id for interrupt_id, result in zip([i for i in ids for _ in range(3)], results, strict=True) if result == "won"]
    await service.stop()
    print(json.dumps({"pid": pid, "wins": wins, "lost": results.count("lost")}))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    consuming = arguments[:1] == ["--consume"]
    if consuming:
        arguments = arguments[1:]
    asyncio.run(main(arguments[0], arguments[1:], consume=consuming))
