"""A child process for the webhook crash test: commits state changes while delivering, until killed.

usage: python -m tests.support.webhook_crash_worker <sqlite-path|postgres-dsn> <changes>
It runs the dispatcher in the background, commits `changes` journal events (a creation and an
answer per interrupt), prints "committed", then keeps delivering until the parent SIGKILLs it.
"""

from __future__ import annotations

import asyncio
import sys

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.webhooks import RetryPolicy, WebhookService
from jeeves_protocols import InterruptResponse
from tests.support.race_worker import _db


async def main(target: str, changes: int) -> None:
    db = _db(target)
    # A short lease: after the kill, the next process takes over the leased deliveries quickly.
    # Not too short: an attempt that outlives its timeout on a loaded machine is sent again,
    # a duplicate the test does not count as in flight at the kill (seen at 0.4 s / 0.5 s).
    webhooks = WebhookService(
        db, allow_networks=["127.0.0.0/8"], retry=RetryPolicy(schedule=(0, 0, 0, 0, 0)), lease=1.5, timeout=1.0,
        poll_interval=0.01, logger=_Quiet(),
    )
    service = InterruptService(db, webhook_service=webhooks, sweep_interval=0, logger=_Quiet())  # type: ignore[arg-type]
    await service.start()
    await webhooks.start()
    for number in range(changes // 2):
        created = await service.create_clarification(f"r{number}", "u1", "s1", "Which?")
        await service.respond_or_raise(created.id, InterruptResponse(text="this"))
    print("committed", flush=True)
    await asyncio.Event().wait()


class _Quiet:
    """Logs would only flood the parent's pipe."""

    def debug(self, event: str, **kwargs: object) -> None: ...
    def info(self, event: str, **kwargs: object) -> None: ...
    def warning(self, event: str, **kwargs: object) -> None: ...
    def error(self, event: str, **kwargs: object) -> None: ...


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
