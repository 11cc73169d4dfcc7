"""The benchmark's "seed's indexes only" reference claims a schema that still answers every query
of the seed's InterruptService from its index: this keeps that claim true as the schema changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bench import store_sql
from jeeves_control_tower.store.sql import queries

pytestmark = pytest.mark.bench

#: The seed's hot queries and the index each must still read through on the lean schema.
SEED_QUERY_INDEX: dict[str, tuple[str, dict[str, Any]]] = {
    "pending_for_session": ("jeeves_interrupts_pending_session", {"session_id": "s", "now": "x", "kinds": None}),
    "pending_for_request": ("jeeves_interrupts_pending_request", {"request_id": "r", "now": "x"}),
    "expire_due": ("jeeves_interrupts_pending_expiry", {"now": "x", "received_at": "x", "limit": 10}),
    "get_interrupt": ("sqlite_autoindex_jeeves_interrupts_1", {"id": "x"}),
    "get_by_idempotency_key": ("jeeves_interrupts_idempotency_key", {"key": "k"}),
}


def _indexes(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        connection.close()


async def test_seed_indexes_only_drops_the_api_indexes_and_keeps_the_seed_queries_indexed(tmp_path: Path) -> None:
    full, lean = tmp_path / "full.db", tmp_path / "lean.db"
    await store_sql._migrated(full, seed_indexes_only=False)
    await store_sql._migrated(lean, seed_indexes_only=True)
    assert _indexes(full) - _indexes(lean) == set(store_sql.API_INDEXES)

    connection = sqlite3.connect(lean)
    try:
        q = queries("sqlite")
        for name, (index, params) in SEED_QUERY_INDEX.items():
            steps = [str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + q[name], params)]
            assert any(f"USING INDEX {index}" in step for step in steps), (name, steps)
            assert not any(step.startswith("SCAN jeeves_interrupts") for step in steps), (name, steps)
    finally:
        connection.close()


async def test_the_lean_reference_measures_the_same_writes(tmp_path: Path) -> None:
    for per_commit in (1, 16):
        timing, resolved, events = await store_sql.store_sql(
            tmp_path / f"lean{per_commit}.db", 40, per_commit, seed_indexes_only=True)
        assert (timing.operations, resolved, events) == (40, 40, 80)
