"""Round trip = create_clarification then respond on it, through InterruptService."""

from __future__ import annotations

from typing import Any

from bench.stats import Timing, timed, timed_concurrently
from jeeves_control_tower.services import InterruptService
from jeeves_protocols import InterruptResponse, InterruptStatus

ANSWER = InterruptResponse(text="yes")


async def round_trips(db: Any, count: int, agents: int) -> tuple[Timing, int]:
    """Timing of `count` round trips by `agents` concurrent agents, and how many resolved."""
    service = InterruptService(db=db, logger=_Quiet(), sweep_interval=0)
    await service.start()
    resolved = 0

    async def one(n: int) -> None:
        nonlocal resolved
        created = await service.create_clarification(f"req-{n}", "user", f"sess-{n % 100}", "q?")
        answered = await service.respond_or_raise(created.id, ANSWER)
        resolved += answered.status is InterruptStatus.RESOLVED

    try:
        await one(-1)  # warm-up: migrations, prepared statements
        resolved = 0
        if agents == 1:
            timing = await timed(one, count)
        else:
            timing = await timed_concurrently(one, count, agents)
    finally:
        await service.stop()
    return timing, resolved


class _Quiet:
    """A logger that drops everything: the benchmark measures the store, not the terminal."""

    def debug(self, event: str, **kwargs: Any) -> None: ...
    def info(self, event: str, **kwargs: Any) -> None: ...
    def warning(self, event: str, **kwargs: Any) -> None: ...
    def error(self, event: str, **kwargs: Any) -> None: ...
