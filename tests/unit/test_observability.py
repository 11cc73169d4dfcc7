"""OpenTelemetry spans and events through the SDK's in-memory exporter; metrics through the registry;
the structured logger's output."""

from __future__ import annotations

import io
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from jeeves_control_tower.observability import Metrics, OTelAdapter, StructuredLogger
from jeeves_control_tower.services import InterruptService
from jeeves_protocols import InterruptNotPendingError, InterruptResponse
from tests.support.stores import FakeClock


@pytest.fixture
def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_the_agents_trace_links_to_the_humans_answer(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    adapter = OTelAdapter(tracer_provider=provider)
    service = InterruptService(otel_adapter=adapter, logger=StructuredLogger(stream=io.StringIO()))
    tracer = provider.get_tracer("agent")
    with tracer.start_as_current_span("agent.step") as agent:
        created = await service.create_clarification("r1", "u1", "s1", "Which file?")
    agent_context = agent.get_span_context()
    assert created.trace_id == format_trace_id(agent_context.trace_id)
    assert created.span_id == format_span_id(agent_context.span_id)

    await service.respond_or_raise(created.id, InterruptResponse(text="a.txt"))

    spans = {span.name: span for span in exporter.get_finished_spans()}
    create = spans["jeeves.interrupt.create"]
    assert create.parent is not None and create.parent.span_id == agent_context.span_id
    assert create.attributes is not None and create.attributes["interrupt.id"] == created.id
    assert create.attributes["interrupt.kind"] == "clarification"
    [event] = create.events
    assert event.name == "interrupt.clarification_needed"
    assert event.attributes is not None and event.attributes["jeeves.request_id"] == "r1"

    resolve = spans["jeeves.interrupt.resolved"]
    assert resolve.attributes is not None and resolve.attributes["interrupt.id"] == created.id
    assert [e.name for e in resolve.events] == ["interrupt.resolved"]
    # The answer is in the agent's trace: a child of the step that asked, not a trace of its own.
    assert resolve.context is not None and resolve.context.trace_id == agent_context.trace_id
    assert resolve.parent is not None and resolve.parent.span_id == agent_context.span_id
    assert resolve.start_time is not None and resolve.end_time is not None
    assert resolve.start_time <= resolve.end_time


async def test_an_answer_given_in_another_trace_joins_the_agents_and_links_back(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """A responder's request has its own trace (an HTTP server span, say): the resolve span is
    placed in the agent's trace and carries a link to the responder's span."""
    provider, exporter = traced
    service = InterruptService(
        otel_adapter=OTelAdapter(tracer_provider=provider), logger=StructuredLogger(stream=io.StringIO())
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent.step") as agent:
        created = await service.create_confirmation("r1", "u1", "s1", "Deploy?")
    with tracer.start_as_current_span("responder.request") as request:
        await service.respond_or_raise(created.id, InterruptResponse(approved=True))
    [resolve] = [span for span in exporter.get_finished_spans() if span.name == "jeeves.interrupt.resolved"]
    assert resolve.context is not None
    assert resolve.context.trace_id == agent.get_span_context().trace_id
    assert resolve.context.trace_id != request.get_span_context().trace_id
    assert [link.context.span_id for link in resolve.links] == [request.get_span_context().span_id]

    # A cancel too; and without a stored context (created outside any span) the span stays put.
    created = await service.create_clarification("r2", "u1", "s1", "Which?")
    assert created.trace_id is None
    with tracer.start_as_current_span("canceller") as canceller:
        await service.cancel_or_raise(created.id)
    [cancel] = [span for span in exporter.get_finished_spans() if span.name == "jeeves.interrupt.cancelled"]
    assert cancel.parent is not None and cancel.parent.span_id == canceller.get_span_context().span_id


async def test_a_failed_operation_marks_its_span(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    service = InterruptService(
        otel_adapter=OTelAdapter(tracer_provider=provider), logger=StructuredLogger(stream=io.StringIO())
    )
    created = await service.create_clarification("r1", "u1", "s1", "Which file?")
    await service.cancel_or_raise(created.id)
    with pytest.raises(InterruptNotPendingError):
        await service.cancel_or_raise(created.id)
    failed = [s for s in exporter.get_finished_spans() if s.name == "jeeves.interrupt.cancelled"][-1]
    assert not failed.status.is_ok
    assert any(e.name == "exception" for e in failed.events)


def test_no_trace_context_outside_a_span(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, _ = traced
    assert OTelAdapter(tracer_provider=provider).get_trace_context("r1") is None


def test_events_without_a_current_span_get_a_span_of_their_own(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    OTelAdapter(tracer_provider=provider).record_event("interrupt.expired", "r9", {"interrupt.id": "i"})
    [span] = exporter.get_finished_spans()
    assert span.name == "interrupt.expired" and span.events[0].name == "interrupt.expired"


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_metrics_count_every_transition_by_kind() -> None:
    clock = FakeClock()
    service = InterruptService(clock=clock, logger=StructuredLogger(stream=io.StringIO()), sweep_interval=0)
    metrics = service.metrics
    answered = await service.create_clarification("r1", "u1", "s1", "Which?")
    cancelled = await service.create_clarification("r2", "u1", "s1", "Which?")
    await service.create_confirmation("r3", "u1", "s1", "Deploy?")
    assert sample(metrics, "jeeves_interrupts_created_total", kind="clarification") == 2
    assert sample(metrics, "jeeves_interrupts_pending", kind="clarification") == 2

    clock.advance(seconds=42)
    await service.respond_or_raise(answered.id, InterruptResponse(text="x"))
    await service.cancel_or_raise(cancelled.id)
    clock.advance(hours=2)
    assert await service.expire_pending() == 1

    assert sample(metrics, "jeeves_interrupts_resolved_total", kind="clarification") == 1
    assert sample(metrics, "jeeves_interrupts_cancelled_total", kind="clarification") == 1
    assert sample(metrics, "jeeves_interrupts_expired_total", kind="confirmation") == 1
    assert sample(metrics, "jeeves_interrupts_pending", kind="clarification") == 0
    assert sample(metrics, "jeeves_interrupts_pending", kind="confirmation") == 0
    assert sample(metrics, "jeeves_interrupt_time_to_response_seconds_count", kind="clarification") == 1
    assert sample(metrics, "jeeves_interrupt_time_to_response_seconds_sum", kind="clarification") == 42
    bucket = "jeeves_interrupt_time_to_response_seconds_bucket"
    assert sample(metrics, bucket, kind="clarification", le="30.0") == 0
    assert sample(metrics, bucket, kind="clarification", le="60.0") == 1
    assert sample(metrics, bucket, kind="clarification", le="+Inf") == 1
    text = metrics.render().decode()
    assert 'jeeves_interrupts_created_total{kind="confirmation"} 1.0' in text


def test_two_services_keep_separate_registries() -> None:
    first, second = Metrics(), Metrics()
    first.webhook_attempt(False, 0.2)
    assert sample(first, "jeeves_webhook_failures_total") == 1
    assert sample(second, "jeeves_webhook_failures_total") == 0


def test_logger_writes_json_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    logger = StructuredLogger(stream=stream, level="info")
    logger.debug("hidden")
    logger.info("interrupt_created", interrupt_id="i1")
    logger.bind(request_id="r1").error("webhook_endpoint_disabled", url="http://x")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "interrupt_created" and first["interrupt_id"] == "i1"
    assert first["level"] == "info" and "timestamp" in first
    assert second["request_id"] == "r1" and second["level"] == "error"


def test_logger_is_readable_in_a_terminal() -> None:
    stream = io.StringIO()
    StructuredLogger(stream=stream, json=False).warning("webhook_attempt_failed", attempt=2)
    line = stream.getvalue()
    assert "webhook_attempt_failed" in line and "attempt=2" in line
    assert not line.startswith("{")
