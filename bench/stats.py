"""Timing helpers: throughput and latency percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class Timing:
    operations: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else float("inf")

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def p50_ms(self) -> float:
        return self.percentile(50) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000

    def as_dict(self) -> dict[str, float]:
        return {
            "operations": self.operations,
            "samples": len(self.latencies),  # one latency per operation timed
            "seconds": round(self.seconds, 4),
            "per_second": round(self.per_second, 1),
            "min_ms": round(min(self.latencies) * 1000, 4) if self.latencies else 0.0,
            "p50_ms": round(self.p50_ms, 4),
            "p99_ms": round(self.p99_ms, 4),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 4) if self.latencies else 0.0,
        }


async def timed(operation: Callable[[int], Awaitable[None]], count: int) -> Timing:
    """Run `operation(n)` for n in range(count), one after another."""
    latencies = []
    start = time.perf_counter()
    for n in range(count):
        began = time.perf_counter()
        await operation(n)
        latencies.append(time.perf_counter() - began)
    return Timing(count, time.perf_counter() - start, latencies)


async def timed_concurrently(
    operation: Callable[[int], Awaitable[None]], count: int, workers: int
) -> Timing:
    """`workers` agents each running their share of `count` operations at the same time."""
    latencies: list[float] = []

    async def agent(offset: int) -> None:
        for n in range(offset, count, workers):
            began = time.perf_counter()
            await operation(n)
            latencies.append(time.perf_counter() - began)

    start = time.perf_counter()
    await asyncio.gather(*(agent(w) for w in range(workers)))
    return Timing(count, time.perf_counter() - start, latencies)
