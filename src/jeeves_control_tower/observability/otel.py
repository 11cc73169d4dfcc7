"""OpenTelemetry adapter over opentelemetry-api (the SDK, an optional extra, makes it export).

`get_trace_context` hands the agent's current trace and span ids to each new interrupt, so the
human's answer can be found from the agent's trace; `record_event` puts the service's events on
the current span (or on a short span of their own when no span is active, so none is dropped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Dict, Optional

from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    TraceFlags,
    TracerProvider,
    format_span_id,
    format_trace_id,
)

__all__ = ["OTelAdapter"]

_ATTRIBUTE_TYPES = (str, bool, int, float)


def _attributes(values: Dict[str, Any]) -> Dict[str, Any]:
    """OTel attributes must be primitives; drop None and stringify the rest."""
    return {
        key: value if isinstance(value, _ATTRIBUTE_TYPES) else str(value)
        for key, value in values.items()
        if value is not None
    }


class OTelAdapter:
    """Satisfies the seed's `OTelAdapterProtocol`."""

    def __init__(self, tracer_provider: Optional[TracerProvider] = None) -> None:
        self.tracer = trace.get_tracer("jeeves_control_tower", tracer_provider=tracer_provider)

    def get_trace_context(self, request_id: str) -> Optional[Dict[str, str]]:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return {"trace_id": format_trace_id(context.trace_id), "span_id": format_span_id(context.span_id)}

    def record_event(
        self, name: str, request_id: str, attributes: Optional[Dict[str, Any]] = None
    ) -> None:
        values = _attributes({"jeeves.request_id": request_id, **(attributes or {})})
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(name, values)
            return
        with self.tracer.start_as_current_span(name, attributes=values) as own:
            own.add_event(name, values)

    @contextmanager
    def span(
        self,
        name: str,
        *,
        parent: Optional[tuple[str, str]] = None,
        start_time: Optional[int] = None,
        **attributes: Any,
    ) -> Iterator[Span]:
        """A span around one service operation. `parent`: the (trace id, span id) an interrupt was
        created under, as hex; the span then belongs to that trace (an answer shows up in the
        agent's trace), linked to the span current here (the responder's request). `start_time`:
        nanoseconds since the epoch, for a span made after its operation began."""
        context = None
        links: list[Link] = []
        stored = _span_context(parent) if parent is not None else None
        if stored is not None:
            context = trace.set_span_in_context(NonRecordingSpan(stored))
            current = trace.get_current_span().get_span_context()
            if current.is_valid:
                links.append(Link(current))
        with self.tracer.start_as_current_span(
            name, context=context, links=links, start_time=start_time, attributes=_attributes(attributes)
        ) as span:
            yield span


def _span_context(ids: tuple[str, str]) -> Optional[SpanContext]:
    """The stored ids as a remote parent, or None if they are not OTel's hex ids (another adapter
    may have stored anything)."""
    try:
        trace_id, span_id = int(ids[0], 16), int(ids[1], 16)
    except (TypeError, ValueError):
        return None
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return context if context.is_valid else None
