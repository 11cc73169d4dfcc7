"""A reduced benchmark run inside the test command, so the benchmark never rots.

It checks what the benchmark measured (counts, states, journal rows, JSON written), never a speed:
speed belongs to `python -m bench`.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bench import report as bench_report
from bench import run as bench_run

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
TINY = bench_run.Sizes("smoke", memory_round_trips=200, sqlite_round_trips=100, postgres_round_trips=40,
                       wakes=8, stored=2_000, probes=20, memory_held=2_000,
                       http_requests=40)


def timed(figure: dict[str, Any]) -> int:
    """How many operations a figure timed, checked against the latencies actually recorded (the
    count alone is only what the benchmark was asked to do)."""
    assert figure["samples"] == figure["operations"], figure
    return int(figure["operations"])


@pytest.fixture
def bench_schema(pg_available: None) -> str:
    """A schema of this test's own; run() recreates it, the test drops it."""
    return f"jeeves_bench_t_{uuid.uuid4().hex[:10]}"


async def test_every_section_measures_real_work(tmp_path: Path, bench_schema: str) -> None:
    try:
        results = await bench_run.run(TINY, set(bench_run.SECTIONS), tmp_path, schema=bench_schema)
    finally:
        await _drop_schema(bench_schema)

    floors = results["roundtrip"]["floors"]
    assert {name: timed(f) for name, f in floors.items()} == {
        "dict": 200, "sqlite3": 100, "sqlite3_journalled": 100, "asyncpg": 40}
    expected = {"memory, 1 agent": 200, "memory, 16 agents": 200, "sqlite, 1 agent": 100,
                "sqlite, 16 agents": 100, "postgres, 1 agent": 40, "postgres, 16 agents": 80}
    for configuration in ("measured", "quiet"):  # the default logger, then a quiet one
        for label, count in expected.items():
            measured = results["roundtrip"][configuration][label]
            assert timed(measured) == count, label
            assert measured["resolved"] == count, label  # every respond won its interrupt
            # Two journal rows per round trip (creation and terminal), the warm-up's (one per agent) included.
            agents = 16 if label.endswith("16 agents") else 1
            assert measured["journal_events"] == 2 * (count + agents), label
    # The default configuration logged every transition, one JSON line each, all written by stop().
    journalled = sum(m["journal_events"] for m in results["roundtrip"]["measured"].values())
    assert results["roundtrip"]["default_log_lines"] == journalled

    assert set(results["roundtrip"]["store_sql"]) == {
        "1 per commit", "16 per commit", "1 per commit, the seed's indexes only", "16 per commit, the seed's indexes only"}
    for label, reference in results["roundtrip"]["store_sql"].items():
        assert timed(reference) == 100, label
        assert reference["resolved"] == 100, label  # the store's own finish resolved every one
        assert reference["journal_events"] == 200, label  # and journalled both transitions

    frames = results["roundtrip"]["sqlite_wal_frames"]
    # Every commit writes at least the changed table page; ours also write index and journal pages.
    assert frames["floor"]["create"] >= 1 and frames["floor"]["respond"] >= 1
    assert frames["jeeves"]["create"] > frames["floor"]["create"]
    assert frames["jeeves"]["respond"] > frames["floor"]["respond"]

    loaded = ("in-process, sqlite, 16 agents loading", "in-process, postgres, 16 agents loading")
    assert set(results["wake"]) == {"in-process, memory", "in-process, sqlite", "in-process, postgres",
                                    "across processes, postgres", *loaded}
    assert timed(results["wake"]["in-process, sqlite"]) == 8
    assert timed(results["wake"]["across processes, postgres"]) == 4
    assert all(timed(results["wake"][label]) == 8 for label in loaded)
    for label in ("in-process, memory", "in-process, sqlite", "in-process, postgres", *loaded):
        # In one process every timed wake starts at the push that wakes it, so none is negative
        # (respond returning was no such bound: the NOTIFY could wake the waiter first). Across
        # processes it may be: the child's NOTIFY can arrive before the responder hears anything.
        assert results["wake"][label]["min_ms"] >= 0, label
        assert results["wake"][label]["p50_ms"] >= 0, label
        # Woken by the push, not found by the fallback poll: a waiter left to the poll wakes
        # one fallback poll (wake_poll_interval: 0.1 s on SQLite) after respond, most of them late.
        assert results["wake"][label]["p50_ms"] < 50, label

    for kind in ("memory", "sqlite", "postgres"):
        scaled = results["scale"][kind]
        assert scaled["stored"] == 2_000
        assert timed(scaled["get_pending_for_session"]) == 20
        assert timed(scaled["get_pending_for_request"]) == 20
        assert scaled["expired"] == 200, kind  # exactly the due tenth, none of the rest
        assert scaled["journal_events"] == 200, kind  # one terminal event for each, no more
        assert timed(scaled["expire_nothing_due"]) == 10

    assert results["memory"]["count"] == 2_000

    for kind in ("sqlite", "postgres"):
        served = results["http"][kind]
        assert timed(served) == 40
        assert served["resolved"] == 40, kind  # every respond request answered 200 with a resolved interrupt
        assert timed(served["floor_healthz"]) == 40
    assert results["memory"]["rss_after"] > results["memory"]["rss_before"]

    # RESULTS.md renders from it, each figure beside its target.
    rendered = bench_report.render(results)
    assert "floor: sqlite3, journalled" in rendered and "x quiet (≥ 0.9x" in rendered
    assert "reference: sqlite, 16 agents, quiet logger" in rendered
    assert "x journalled" in rendered and "p99" in rendered


def test_command_line_rejects_an_unknown_section() -> None:
    completed = subprocess.run([sys.executable, "-m", "bench", "--only", "nonsense"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "unknown section(s) nonsense" in completed.stderr


async def _drop_schema(schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(bench_run.PG_BASE)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()
