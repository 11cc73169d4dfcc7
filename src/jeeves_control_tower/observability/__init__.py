"""Observability: the structured logger and the OpenTelemetry adapter."""

from .logging import StructuredLogger
from .otel import OTelAdapter

__all__ = ["OTelAdapter", "StructuredLogger"]
