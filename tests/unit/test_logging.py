"""The default logger batches its writes to files and pipes without losing or reordering a line."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from jeeves_control_tower.observability import StructuredLogger
from jeeves_control_tower.observability import logging as jeeves_logging
from jeeves_control_tower.services import InterruptService


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_lines_logged_in_a_loop_wait_to_be_written_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jeeves_logging, "FLUSH_AFTER", 0)  # the write comes at the next turn
    path = tmp_path / "service.log"
    with path.open("w") as stream:
        logger = StructuredLogger(stream=stream)
        for n in range(3):
            logger.info("interrupt_created", n=n)
        assert path.read_text() == ""  # one write for the three, not yet made
        for _ in range(3):
            await asyncio.sleep(0)
        assert [line["n"] for line in lines(path)] == [0, 1, 2]
        assert {line["level"] for line in lines(path)} == {"info"}


async def test_a_full_batch_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with path.open("w") as stream:
        logger = StructuredLogger(stream=stream)
        for n in range(jeeves_logging._MAX_PENDING_LINES):
            logger.info("tick", n=n)
        assert len(lines(path)) == jeeves_logging._MAX_PENDING_LINES


def test_outside_a_loop_each_line_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with path.open("w") as stream:
        StructuredLogger(stream=stream).warning("webhook_attempt_failed", attempt=2)
        assert lines(path)[0]["attempt"] == 2


async def test_a_thread_without_a_loop_writes_at_once_and_keeps_the_order(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with path.open("w") as stream:
        logger = StructuredLogger(stream=stream)
        logger.info("first")  # waits for the loop's flush
        thread = threading.Thread(target=lambda: logger.bind(worker=1).info("second"))
        thread.start()
        thread.join()
        assert [line["event"] for line in lines(path)] == ["first", "second"]


async def test_stopping_the_service_writes_what_waits(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with path.open("w") as stream:
        service = InterruptService(logger=StructuredLogger(stream=stream), sweep_interval=0)
        await service.start()
        created = await service.create_clarification("r1", "u1", "s1", "Which region?")
        await service.cancel_or_raise(created.id)
        await service.stop()
        logged = lines(path)
    assert [line["event"] for line in logged] == ["interrupt_created", "interrupt_cancelled"]
    assert logged[0]["interrupt_id"] == created.id and logged[0]["timestamp"].endswith("Z")  # type: ignore[union-attr]


def test_text_with_no_utf8_form_is_still_logged(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with path.open("w", errors="backslashreplace") as stream:
        StructuredLogger(stream=stream).error("webhook_emit_failed", error="bad \ud800 text", big=2**70)
    logged = lines(path)[0]
    assert logged["error"] == "bad \ud800 text" and logged["big"] == 2**70


def test_the_timestamp_is_iso_utc_with_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "service.log"
    with path.open("w") as stream:
        StructuredLogger(stream=stream).info("tick")
    stamp = str(lines(path)[0]["timestamp"])
    assert len(stamp) == len("2026-12-05T17:55:00.123456Z") and stamp[10] == "T" and stamp.endswith("Z")
