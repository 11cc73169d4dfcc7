"""Applying every migration yields exactly the schema `store/schema/<dialect>.sql` describes (as
procrastinate's migration tests do): the file is a true picture of the tables, and a migration
that changes the schema without the file being regenerated (`python -m tests.support.schema`)
fails here."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from jeeves_control_tower.store.connector import SQLiteConnector
from jeeves_control_tower.store.migrator import apply_migrations
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.schema import SCHEMA_DIR, describe_postgres, describe_sqlite, migrated_postgres_schema

REGENERATE = "store/schema/{} differs from the migrations: run `python -m tests.support.schema`"


async def test_sqlite_migrations_make_the_schema_file(tmp_path: Path) -> None:
    migrated = SQLiteDatabase(tmp_path / "migrated.db")
    await apply_migrations(SQLiteConnector(migrated))
    await migrated.close()
    with sqlite3.connect(tmp_path / "from_file.db") as connection:
        connection.executescript((SCHEMA_DIR / "sqlite.sql").read_text())
    described = describe_sqlite(tmp_path / "from_file.db")
    assert len(described["tables"]) >= 8
    assert describe_sqlite(tmp_path / "migrated.db") == described, REGENERATE.format("sqlite.sql")


@pytest.mark.postgres
def test_postgres_migrations_make_the_schema_file(pg_dsn: str) -> None:
    base = pg_dsn.split("?", maxsplit=1)[0]
    from_file, migrated = (f"jeeves_schema_{uuid.uuid4().hex[:8]}" for _ in range(2))

    async def run() -> tuple[object, object]:
        await migrated_postgres_schema(base, migrated)
        connection = await asyncpg.connect(base)
        try:
            await connection.execute(f'CREATE SCHEMA "{from_file}"')
            await connection.execute(f'SET search_path = "{from_file}"')
            await connection.execute((SCHEMA_DIR / "postgres.sql").read_text())
            return await describe_postgres(base, migrated), await describe_postgres(base, from_file)
        finally:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{from_file}" CASCADE')
            await connection.execute(f'DROP SCHEMA IF EXISTS "{migrated}" CASCADE')
            await connection.close()

    made, described = asyncio.run(run())
    assert isinstance(described, dict) and len(described["columns"]) > 40
    assert made == described, REGENERATE.format("postgres.sql")
