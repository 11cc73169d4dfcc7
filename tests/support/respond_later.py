"""A child process that answers one interrupt: python -m tests.support.respond_later <db> <id> <text>."""

from __future__ import annotations

import asyncio
import sys

from jeeves_protocols import InterruptResponse
from tests.support.race_worker import _db


async def main(target: str, interrupt_id: str, text: str) -> None:
    from jeeves_control_tower.services import InterruptService

    async with InterruptService(db=_db(target), sweep_interval=0) as service:  # type: ignore[arg-type]
        await service.respond_or_raise(interrupt_id, InterruptResponse(text=text))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
