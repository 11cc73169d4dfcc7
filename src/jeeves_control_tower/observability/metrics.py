"""Prometheus metrics of one service process, in a registry of their own (exposed at /metrics).

Counters count the transitions this process made; the pending gauge is this process's creations
minus its terminal transitions, so with several instances sum it across them (or read the
database) rather than trusting one instance's value.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from jeeves_protocols import FlowInterrupt, InterruptKind, InterruptStatus

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

# Humans answer in seconds to days: buckets from 1 s to 2 days.
_RESPONSE_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)

_TERMINAL = {
    InterruptStatus.RESOLVED: "resolved",
    InterruptStatus.CANCELLED: "cancelled",
    InterruptStatus.EXPIRED: "expired",
}


class _TransitionCounts(Collector):
    """The per-kind interrupt counters, gauge and response-time histogram, kept as plain numbers.

    Every create and every answer counts here, so this is on the hot path: prometheus_client's
    own Counter takes a lock and a labels() lookup per call (about a fifth of an in-memory round
    trip, measured by bench/). The service only counts on the event-loop thread, and a scrape
    reads these at collection time, so plain ints need no lock.
    """

    def __init__(self) -> None:
        kinds = list(InterruptKind)
        self.created = dict.fromkeys(kinds, 0)
        self.pending = dict.fromkeys(kinds, 0)
        self.finished = {status: dict.fromkeys(kinds, 0) for status in _TERMINAL}
        # Per kind: a count per bucket (the last one is +Inf), then the sum of observations.
        self.response_buckets = {kind: [0] * (len(_RESPONSE_BUCKETS) + 1) for kind in kinds}
        self.response_sums = dict.fromkeys(kinds, 0.0)

    def observe_response(self, kind: InterruptKind, seconds: float) -> None:
        self.response_buckets[kind][bisect_left(_RESPONSE_BUCKETS, seconds)] += 1
        self.response_sums[kind] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        created = CounterMetricFamily("jeeves_interrupts_created", "Interrupts created", labels=["kind"])
        for kind, count in self.created.items():
            created.add_metric([kind.value], count)
        yield created
        for status, name in _TERMINAL.items():
            finished = CounterMetricFamily(f"jeeves_interrupts_{name}", f"Interrupts {name}", labels=["kind"])
            for kind, count in self.finished[status].items():
                finished.add_metric([kind.value], count)
            yield finished
        pending = GaugeMetricFamily(
            "jeeves_interrupts_pending", "Interrupts pending (this process's view)", labels=["kind"]
        )
        for kind, count in self.pending.items():
            pending.add_metric([kind.value], count)
        yield pending
        response = HistogramMetricFamily(
            "jeeves_interrupt_time_to_response_seconds", "From creation to the human's answer",
            labels=["kind"],
        )
        bounds = [*(str(float(b)) for b in _RESPONSE_BUCKETS), "+Inf"]
        for kind, counts in self.response_buckets.items():
            running, cumulative = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            response.add_metric([kind.value], cumulative, self.response_sums[kind])
        yield response


class Metrics:
    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.transitions = _TransitionCounts()
        r.register(self.transitions)
        self.webhook_attempts = Counter("jeeves_webhook_attempts", "Webhook delivery attempts", registry=r)
        self.webhook_failures = Counter("jeeves_webhook_failures", "Webhook attempts that failed", registry=r)
        self.webhook_latency = Histogram(
            "jeeves_webhook_latency_seconds", "Webhook attempt duration", buckets=_LATENCY_BUCKETS, registry=r
        )

    def interrupt_created(self, interrupt: FlowInterrupt) -> None:
        counts = self.transitions
        counts.created[interrupt.kind] += 1
        counts.pending[interrupt.kind] += 1

    def interrupt_finished(self, interrupt: FlowInterrupt) -> None:
        counts = self.transitions
        by_kind = counts.finished.get(interrupt.status)
        if by_kind is None:
            return
        kind = interrupt.kind
        by_kind[kind] += 1
        counts.pending[kind] -= 1
        if interrupt.status is InterruptStatus.RESOLVED and interrupt.created_at is not None:
            response = interrupt.response
            answered = interrupt.resolved_at or (response.received_at if response else None)
            if answered is not None:
                seconds = (answered - interrupt.created_at).total_seconds()
                counts.observe_response(kind, max(seconds, 0.0))

    def webhook_attempt(self, success: bool, seconds: float) -> None:
        self.webhook_attempts.inc()
        if not success:
            self.webhook_failures.inc()
        self.webhook_latency.observe(seconds)

    def render(self) -> bytes:
        """The text exposition format (content type CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)
