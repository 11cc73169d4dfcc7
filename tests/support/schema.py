"""The schema a database holds, described the same way however it got there, and the dump that
writes `store/schema/<dialect>.sql` (run `python -m tests.support.schema` after adding a migration;
tests/integration/test_schema_file.py fails until the files match the migrations).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg

from jeeves_control_tower.store.connector import PostgresConnector, SQLiteConnector
from jeeves_control_tower.store.migrator import apply_migrations
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase

SCHEMA_DIR = Path(str(resources.files("jeeves_control_tower.store"))) / "schema"
_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).replace("( ", "(").replace(" )", ")").strip().rstrip(";")


# -- SQLite -------------------------------------------------------------------------------------


def describe_sqlite(path: Path) -> dict[str, Any]:
    """Tables with their columns, indexes with their columns and conditions (not the CREATE text,
    which SQLite keeps as written: a table rebuilt and renamed by a migration reads differently)."""
    with sqlite3.connect(path) as connection:
        objects = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        tables = {
            name: [tuple(row) for row in connection.execute(f'PRAGMA table_xinfo("{name}")')]
            for kind, name, _table, _sql in objects
            if kind == "table"
        }
        indexes = {}
        for kind, name, table, sql in objects:
            if kind != "index":
                continue
            columns = [tuple(row) for row in connection.execute(f'PRAGMA index_xinfo("{name}")')]
            where = _squash(sql.split(" WHERE ", 1)[1]) if sql and " WHERE " in sql else None
            indexes[name] = (table, columns, where)
        others = {name: (kind, _squash(sql or "")) for kind, name, _t, sql in objects if kind not in ("table", "index")}
    return {"tables": tables, "indexes": indexes, "others": others}


def dump_sqlite() -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "schema.db"

        async def migrate() -> None:
            database = SQLiteDatabase(path)
            await apply_migrations(SQLiteConnector(database))
            await database.close()

        asyncio.run(migrate())
        with sqlite3.connect(path) as connection:
            rows = connection.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
                " ORDER BY type = 'index', name"
            ).fetchall()
    return "".join(f"{sql};\n\n" for (sql,) in rows)


# -- PostgreSQL ---------------------------------------------------------------------------------


async def describe_postgres(base_dsn: str, schema: str) -> dict[str, Any]:
    """Columns, constraints, indexes, sequences and functions of `schema`, its name taken out."""
    connection = await asyncpg.connect(base_dsn)
    try:
        columns = await connection.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = $1", schema,
        )
        constraints = await connection.fetch(
            "SELECT c.conrelid::regclass::text AS tbl, c.contype, pg_get_constraintdef(c.oid) AS def"
            " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1",
            schema,
        )
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1", schema
        )
        sequences = await connection.fetch(
            "SELECT sequence_name, data_type FROM information_schema.sequences WHERE sequence_schema = $1",
            schema,
        )
        functions = await connection.fetch(
            "SELECT p.proname, pg_get_functiondef(p.oid) AS def FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1", schema,
        )
    finally:
        await connection.close()

    def plain(value: Any) -> Any:
        return _squash(str(value).replace(f'"{schema}".', "").replace(f"{schema}.", "")) if value else value

    return {
        "columns": sorted(tuple(plain(v) for v in row.values()) for row in columns),
        "constraints": sorted(tuple(plain(v) for v in row.values()) for row in constraints),
        "indexes": sorted(tuple(plain(v) for v in row.values()) for row in indexes),
        "sequences": sorted(tuple(row.values()) for row in sequences),
        "functions": sorted(tuple(plain(v) for v in row.values()) for row in functions),
    }


async def migrated_postgres_schema(base_dsn: str, schema: str) -> None:
    """`schema` (new) holding what the migration runner makes."""
    connection = await asyncpg.connect(base_dsn)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await connection.close()
    separator = "&" if "?" in base_dsn else "?"
    database = PostgresDatabase(f"{base_dsn}{separator}search_path={schema}")
    try:
        await apply_migrations(PostgresConnector(database))
    finally:
        await database.close()


def dump_postgres(base_dsn: str) -> str:
    schema = f"jeeves_dump_{uuid.uuid4().hex[:8]}"
    asyncio.run(migrated_postgres_schema(base_dsn, schema))
    try:
        text = subprocess.run(
            ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--no-comments",
             f"--schema={schema}", base_dsn.split("?", maxsplit=1)[0]],
            check=True, capture_output=True, text=True,
        ).stdout
    finally:
        async def drop() -> None:
            connection = await asyncpg.connect(base_dsn)
            try:
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
            finally:
                await connection.close()

        asyncio.run(drop())
    kept = []
    for line in text.splitlines():
        # check_function_bodies stays: the journal's seq function is created before its table.
        if line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "CREATE SCHEMA", "\\")) and (
            not line.startswith("SET check_function_bodies")
        ):
            continue
        kept.append(line.replace(f"{schema}.", ""))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip() + "\n"


HEADER = (
    "-- The whole schema after every migration, written by `python -m tests.support.schema`.\n"
    "-- Read it to see the tables; change the schema with a new migration, never here. Schema only:\n"
    "-- rows a migration seeds (SQLite's webhook fan-out cursor) are not in it.\n\n"
)

if __name__ == "__main__":
    dsn = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    SCHEMA_DIR.mkdir(exist_ok=True)
    (SCHEMA_DIR / "sqlite.sql").write_text(HEADER + dump_sqlite())
    (SCHEMA_DIR / "postgres.sql").write_text(HEADER + dump_postgres(dsn))
    print(f"wrote {SCHEMA_DIR}/sqlite.sql and postgres.sql")
