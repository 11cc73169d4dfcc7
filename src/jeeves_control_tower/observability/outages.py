"""One log line when a background loop loses its store, one when the store is back.

The expiry sweeper and the webhook dispatcher retry on every tick while the database is down;
logging each failed tick would bury the one fact an operator needs (when the outage began and
ended) under hundreds of identical lines.
"""

from __future__ import annotations

import time
from typing import Optional

from jeeves_protocols import LoggerProtocol

__all__ = ["OutageLog"]


class OutageLog:
    """`failed(exc)` on every failed tick, `succeeded()` on every good one: logs
    `store_unavailable` at the first failure and `store_recovered` (with the outage's length and
    the failed ticks) at the first success after it."""

    def __init__(self, logger: LoggerProtocol, component: str) -> None:
        self.logger = logger
        self.component = component
        self._since: Optional[float] = None
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        if self._since is None:
            self._since = time.monotonic()
            self._failures = 0
            self.logger.error("store_unavailable", component=self.component, error=str(exc))
        self._failures += 1

    def succeeded(self) -> None:
        if self._since is None:
            return
        self.logger.info(
            "store_recovered",
            component=self.component,
            outage_seconds=round(time.monotonic() - self._since, 3),
            failed_attempts=self._failures,
        )
        self._since = None
