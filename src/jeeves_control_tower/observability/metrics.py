"""Prometheus metrics of one service process, in a registry of their own (exposed at /metrics).

Counters count the transitions this process made; the pending gauge is this process's creations
minus its terminal transitions, so with several instances sum it across them (or read the
database) rather than trusting one instance's value.
"""

from __future__ import annotations

from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from jeeves_protocols import FlowInterrupt, InterruptStatus

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

# Humans answer in seconds to days: buckets from 1 s to 2 days.
_RESPONSE_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)

_TERMINAL = {
    InterruptStatus.RESOLVED: "resolved",
    InterruptStatus.CANCELLED: "cancelled",
    InterruptStatus.EXPIRED: "expired",
}


class Metrics:
    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.created = Counter("jeeves_interrupts_created", "Interrupts created", ["kind"], registry=r)
        self.finished = {
            name: Counter(f"jeeves_interrupts_{name}", f"Interrupts {name}", ["kind"], registry=r)
            for name in _TERMINAL.values()
        }
        self.pending = Gauge("jeeves_interrupts_pending", "Interrupts pending (this process's view)",
                             ["kind"], registry=r)
        self.time_to_response = Histogram(
            "jeeves_interrupt_time_to_response_seconds", "From creation to the human's answer",
            ["kind"], buckets=_RESPONSE_BUCKETS, registry=r,
        )
        self.webhook_attempts = Counter("jeeves_webhook_attempts", "Webhook delivery attempts", registry=r)
        self.webhook_failures = Counter("jeeves_webhook_failures", "Webhook attempts that failed", registry=r)
        self.webhook_latency = Histogram(
            "jeeves_webhook_latency_seconds", "Webhook attempt duration", buckets=_LATENCY_BUCKETS, registry=r
        )

    def interrupt_created(self, interrupt: FlowInterrupt) -> None:
        kind = interrupt.kind.value
        self.created.labels(kind).inc()
        self.pending.labels(kind).inc()

    def interrupt_finished(self, interrupt: FlowInterrupt) -> None:
        name = _TERMINAL.get(interrupt.status)
        if name is None:
            return
        kind = interrupt.kind.value
        self.finished[name].labels(kind).inc()
        self.pending.labels(kind).dec()
        if interrupt.status is InterruptStatus.RESOLVED and interrupt.created_at is not None:
            response = interrupt.response
            answered = interrupt.resolved_at or (response.received_at if response else None)
            if answered is not None:
                seconds = (answered - interrupt.created_at).total_seconds()
                self.time_to_response.labels(kind).observe(max(seconds, 0.0))

    def webhook_attempt(self, success: bool, seconds: float) -> None:
        self.webhook_attempts.inc()
        if not success:
            self.webhook_failures.inc()
        self.webhook_latency.observe(seconds)

    def render(self) -> bytes:
        """The text exposition format (content type CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)
