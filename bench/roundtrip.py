"""Round trip = create_clarification then respond on it, through InterruptService.

Timed two ways: as a user gets it (`InterruptService(db=...)`, its default StructuredLogger
writing a JSON line per transition, here into a file) and with a quiet logger, for reference."""

from __future__ import annotations

import asyncio
from typing import Any, Optional, TextIO

from bench.stats import Timing, timed, timed_concurrently
from jeeves_control_tower.observability import StructuredLogger
from jeeves_control_tower.services import InterruptService
from jeeves_protocols import InterruptResponse, InterruptStatus

ANSWER = InterruptResponse(text="yes")


async def round_trips(
    db: Any, count: int, agents: int, *, log_to: Optional[TextIO] = None
) -> tuple[Timing, int, int]:
    """Timing of `count` round trips by `agents` concurrent agents, how many resolved, and the
    number of journal events written (two per round trip, the warm-up's `agents` included).
    `log_to`: the default configuration, its StructuredLogger writing to that stream (None:
    the quiet reference)."""
    logger = _Quiet() if log_to is None else StructuredLogger(stream=log_to)
    service = InterruptService(db=db, logger=logger, sweep_interval=0)
    await service.start()
    resolved = 0

    async def one(n: int) -> None:
        nonlocal resolved
        created = await service.create_clarification(f"req-{n}", "user", f"sess-{n % 100}", "q?")
        answered = await service.respond_or_raise(created.id, ANSWER)
        resolved += answered.status is InterruptStatus.RESOLVED

    try:
        before = await count_events(service)  # PostgreSQL runs share a schema
        # Warm-up, as many agents at once as will be timed: migrations, connections, and the
        # prepared statements of batched writes, which only concurrent agents use.
        await asyncio.gather(*(one(-1 - n) for n in range(agents)))
        resolved = 0
        if agents == 1:
            timing = await timed(one, count)
        else:
            timing = await timed_concurrently(one, count, agents)
        events = await count_events(service) - before
    finally:
        await service.stop()
    return timing, resolved, events


async def count_events(service: InterruptService) -> int:
    """Journal rows, read back through the store: the benchmark checks it measured real writes."""
    return (await journal_tail(service))[0]


async def journal_tail(service: InterruptService, after: int = 0) -> tuple[int, int]:
    """How many journal rows follow seq `after`, and the last seq (`after` if none)."""
    total, seq = 0, after
    while page := await service.store.events_after(seq, 10_000):
        total += len(page)
        seq = page[-1].seq
    return total, seq


class _Quiet:
    """A logger that drops everything: the benchmark measures the store, not the terminal."""

    def debug(self, event: str, **kwargs: Any) -> None: ...
    def info(self, event: str, **kwargs: Any) -> None: ...
    def warning(self, event: str, **kwargs: Any) -> None: ...
    def error(self, event: str, **kwargs: Any) -> None: ...
