"""Observability: the structured logger, the OpenTelemetry adapter and Prometheus metrics."""

from .logging import StructuredLogger
from .metrics import Metrics
from .otel import OTelAdapter

__all__ = ["Metrics", "OTelAdapter", "StructuredLogger"]
