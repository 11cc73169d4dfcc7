"""The seed's usage example, unchanged, with its names bound to the shipped classes."""

from __future__ import annotations

import io
import json
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from jeeves_control_tower.observability import OTelAdapter, StructuredLogger
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.stores import Recorder, RecordingWebhooks

#: The seed's copy in this repository, so a fresh clone runs these tests instead of skipping them.
SEED = Path(__file__).resolve().parents[1] / "support" / "seed" / "services.md"
#: Where the seed is published beside the checkout, when it is: the copy must not drift from it.
PUBLISHED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "services.md"


def seed_usage_example() -> str:
    text = SEED.read_text(encoding="utf-8")
    section = text.split("## Usage Example", 1)[1]
    return section.split("```python", 1)[1].split("```", 1)[0]


async def test_seed_usage_example_runs_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    log_stream = io.StringIO()
    recorder = Recorder()
    namespace = {
        "database": SQLiteDatabase(tmp_path / "seed.db"),
        "logger": StructuredLogger(json=True, stream=log_stream),
        # The shipped HTTP WebhookService delivers from the journal; here a recording object
        # stands for the seed's WebhookServiceProtocol hook.
        "webhook": RecordingWebhooks(recorder),
        "otel": OTelAdapter(tracer_provider=provider),
    }
    body = "async def __example():\n" + textwrap.indent(seed_usage_example(), "    ")
    exec(compile(body, str(SEED), "exec"), namespace)
    await namespace["__example"]()  # type: ignore[operator]

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("Created interrupt: ")
    assert printed[-1] == "Expired 0 interrupts"
    assert recorder.webhook_types() == ["interrupt.clarification_needed", "interrupt.resolved"]
    created = recorder.webhooks[0][1]
    lifetime = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(created["created_at"])
    assert lifetime == timedelta(hours=48)  # the example's custom TTL, with the kind's event kept
    logged = [json.loads(line)["event"] for line in log_stream.getvalue().splitlines()]
    assert logged == ["interrupt_created", "interrupt_resolved"]
    events = [event.name for span in exporter.get_finished_spans() for event in span.events]
    assert events == ["interrupt.clarification_needed", "interrupt.resolved"]
    await namespace["database"].close()  # type: ignore[attr-defined]


async def test_seed_usage_example_with_a_plain_structlog_logger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seed's hooks accept what users already have: any structlog logger, any OTel object."""
    import structlog

    from tests.support.stores import RecordingOTel

    log_stream = io.StringIO()
    recorder = Recorder()
    namespace = {
        "database": SQLiteDatabase(tmp_path / "seed.db"),
        # wrap_logger, not structlog.configure: no global state leaks into other tests.
        "logger": structlog.wrap_logger(
            structlog.PrintLogger(file=log_stream), processors=[structlog.processors.JSONRenderer()]
        ),
        "webhook": RecordingWebhooks(recorder),
        "otel": RecordingOTel(recorder),
    }
    body = "async def __example():\n" + textwrap.indent(seed_usage_example(), "    ")
    exec(compile(body, str(SEED), "exec"), namespace)
    await namespace["__example"]()  # type: ignore[operator]

    assert capsys.readouterr().out.splitlines()[-1] == "Expired 0 interrupts"
    assert recorder.webhook_types() == ["interrupt.clarification_needed", "interrupt.resolved"]
    assert [(name, request) for name, request, _ in recorder.otel_events] == [
        ("interrupt.clarification_needed", "req-123"), ("interrupt.resolved", "req-123"),
    ]
    created = recorder.webhooks[0][1]
    assert created["trace_id"] == "0af7651916cd43dd8448eb211c80319c"  # from get_trace_context
    logged = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [entry["event"] for entry in logged] == ["interrupt_created", "interrupt_resolved"]
    assert logged[0]["interrupt_id"] == created["id"]
    await namespace["database"].close()  # type: ignore[attr-defined]


def test_the_seed_copy_matches_the_published_seed() -> None:
    """Where the published seed is beside the checkout (the project's own machines), the copy the
    tests run must be byte for byte the same; a clone without it runs the copy as the reference."""
    if PUBLISHED_SEED.exists():
        assert SEED.read_bytes() == PUBLISHED_SEED.read_bytes(), f"{SEED} drifted from {PUBLISHED_SEED}"
    assert "## Usage Example" in SEED.read_text(encoding="utf-8")
