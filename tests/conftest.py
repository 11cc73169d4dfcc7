"""Shared fixtures: a real PostgreSQL per test (a fresh schema), SQLite files in tmp_path."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

PG_BASE_DSN = os.environ.get("JEEVES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    import asyncpg

    async def probe() -> None:
        connection = await asyncpg.connect(PG_BASE_DSN, timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # any failure to connect means "unreachable", with its reason
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_available() -> None:
    reason = _pg_reachable()
    if reason is None:
        return
    message = f"PostgreSQL at {PG_BASE_DSN} is unreachable ({reason})"
    if IN_CI:
        pytest.fail(message + " -- under CI=true this is a failure, not a skip")
    pytest.skip("SKIPPING POSTGRESQL TEST: " + message)


@pytest.fixture
def pg_dsn(pg_available: None) -> Iterator[str]:
    """A DSN whose search_path is a brand-new schema, dropped after the test.

    asyncpg passes unknown DSN query parameters on as server settings, so every connection made
    from this DSN (in this process or a child) sees only this test's tables.
    """
    import asyncpg

    schema = f"jeeves_t_{uuid.uuid4().hex[:12]}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(PG_BASE_DSN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_BASE_DSN else "?"
    yield f"{PG_BASE_DSN}{separator}search_path={schema}"
    asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))
