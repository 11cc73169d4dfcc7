"""The `.sql` files spell tables and the notification channel only as store/constants.py names
them, and every named query exists in both dialects with the same parameters."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from jeeves_control_tower.store import constants
from jeeves_control_tower.store.sql import migrations, queries

_TABLE_REFERENCE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE(?: IF NOT EXISTS)?)\s+(jeeves_\w+)", re.I)
_CHANNEL = re.compile(r"pg_notify\(\s*'([^']*)'", re.I)
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
#: Not tables of ours: a table that exists only while a migration rebuilds one (SQLite cannot alter
#: a table in place), and the journal's sequence (read FROM like a table).
_NOT_A_TABLE = re.compile(r"^jeeves_\w+_new$|^jeeves_interrupt_events_seq$")
#: The files whose queries a store written once calls in both dialects by the same name.
_WRITTEN_ONCE = ("webhooks.sql", "tokens.sql", "migrations.sql")


def _query_files() -> list[tuple[str, str]]:
    root = resources.files("jeeves_control_tower.store").joinpath("queries")
    return [
        (f"{dialect}/{entry.name}", entry.read_text("utf-8"))
        for dialect in ("common", "sqlite", "postgres")
        for entry in root.joinpath(dialect).iterdir()
        if entry.name.endswith(".sql")
    ]


def test_named_queries_use_only_the_constant_table_and_channel_names() -> None:
    files = _query_files()
    assert len(files) >= 6
    for name, text in files:
        for table in _TABLE_REFERENCE.findall(text):
            assert table in constants.TABLES, (name, table)
        for channel in _CHANNEL.findall(text):
            assert channel == constants.WAKE_CHANNEL, (name, channel)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_migrations_leave_only_the_constant_tables(dialect: str) -> None:
    created = set()
    for migration in migrations(dialect):  # type: ignore[arg-type]
        for statement in migration.statements:
            for table in _TABLE_REFERENCE.findall(statement):
                if not _NOT_A_TABLE.match(table):
                    created.add(table)
    assert created <= constants.TABLES
    # The runner makes the migrations table; the fan-out cursor is SQLite's alone.
    assert constants.TABLES - created <= {constants.MIGRATIONS_TABLE, constants.WEBHOOK_FANOUT_TABLE}


def test_queries_written_once_take_the_same_parameters_in_both_dialects() -> None:
    """A store written once calls a name with one set of parameters, so each dialect's query of
    that name takes those or fewer (PostgreSQL stamps fanned_out_at with `now`; SQLite's cursor
    row needs no time): one set holds the other. (The interrupt store's hot paths are still
    dialect-specific code.)"""
    root = resources.files("jeeves_control_tower.store").joinpath("queries")
    sqlite, postgres = queries("sqlite"), queries("postgres")
    for file in _WRITTEN_ONCE:
        names = {
            dialect: set(re.findall(r"^-- name: (\w+)", root.joinpath(dialect, file).read_text("utf-8"), re.M))
            if root.joinpath(dialect, file).is_file() else set()
            for dialect in ("common", "sqlite", "postgres")
        }
        assert names["sqlite"] == names["postgres"], file  # what differs, differs in both
        assert not names["common"] & names["sqlite"], file
        for name in names["sqlite"] | names["common"]:
            lite, pg = set(_PARAMETER.findall(sqlite[name])), set(_PARAMETER.findall(postgres[name]))
            assert lite <= pg or pg <= lite, (name, lite, pg)
    # The interrupt store's lookups, written once in store/sql_store.py.
    for name in ("get_interrupt", "get_by_idempotency_key", "pending_for_request", "pending_for_session",
                 "journal_position"):
        assert set(_PARAMETER.findall(sqlite[name])) == set(_PARAMETER.findall(postgres[name])), name
