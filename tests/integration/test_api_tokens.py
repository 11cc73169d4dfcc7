"""Token registries on memory, SQLite and PostgreSQL: create once, authenticate, revoke, list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jeeves_control_tower.backend import open_backend
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.connector import connector_for
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_control_tower.tokens import Role, SQLTokens, TokenRegistry, hash_token
from jeeves_protocols import InvalidInterruptError


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return SQLiteDatabase(tmp_path / "t.db")
    if request.param == "postgres":
        return PostgresDatabase(request.getfixturevalue("pg_dsn"))
    return None


@pytest.fixture
async def tokens(db: Any) -> AsyncIterator[TokenRegistry]:
    async with InterruptService(db, sweep_interval=0):  # opening it applies migration 0003
        yield open_backend(db).tokens


async def test_token_life_cycle(tokens: TokenRegistry) -> None:
    secret, record = await tokens.create("alice", "responder")
    assert record.role is Role.RESPONDER and record.revoked_at is None
    assert await tokens.authenticate(secret) == record
    assert await tokens.authenticate(secret + "x") is None
    assert await tokens.authenticate("not-even-a-token") is None
    other, _ = await tokens.create("bot", Role.AGENT)
    assert other != secret
    assert [(r.user_id, r.role) for r in await tokens.list()] == [
        ("alice", Role.RESPONDER),
        ("bot", Role.AGENT),
    ]
    assert await tokens.revoke(record.id)
    assert not await tokens.revoke(record.id)
    assert not await tokens.revoke("unknown")
    assert await tokens.authenticate(secret) is None
    assert (await tokens.authenticate(other)) is not None


async def test_bad_token_requests_change_nothing(tokens: TokenRegistry) -> None:
    with pytest.raises(InvalidInterruptError) as bad_role:
        await tokens.create("alice", "emperor")
    assert bad_role.value.field == "role"
    with pytest.raises(InvalidInterruptError) as bad_user:
        await tokens.create("  ", "agent")
    assert bad_user.value.field == "user_id"
    assert await tokens.list() == []


@pytest.mark.parametrize("unstorable", ["a\x00b", "\ud800"])
async def test_an_id_no_store_can_hold_is_refused_or_not_found_never_a_store_error(
    tokens: TokenRegistry, unstorable: str
) -> None:
    """PostgreSQL cannot bind a NUL: such a user or token id is bad input (or names no token) on
    every store alike, never a 503."""
    with pytest.raises(InvalidInterruptError) as refused:
        await tokens.create(unstorable, "agent")
    assert refused.value.field == "user_id"
    assert not await tokens.revoke(unstorable)
    assert await tokens.list() == []


def test_only_a_hash_is_kept() -> None:
    assert hash_token("jct_abc") != "jct_abc" and len(hash_token("jct_abc")) == 64


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return SQLiteDatabase(tmp_path / "t.db")
    return PostgresDatabase(request.getfixturevalue("pg_dsn"))


async def test_a_confirmed_token_is_trusted_for_the_cache_bound_only(shared_db: Any) -> None:
    """Two instances on one database. A revocation through one counts there at once and on the
    other once its cache bound has passed (or at once for a fresh check, as the stream makes)."""
    now = [1000.0]
    async with InterruptService(shared_db, sweep_interval=0):
        connector = connector_for(shared_db)
        first = SQLTokens(connector, cache_seconds=2.0, clock=lambda: now[0])
        second = SQLTokens(connector, cache_seconds=2.0, clock=lambda: now[0])
        secret, record = await first.create("alice", "responder")
        assert await second.authenticate(secret) == record  # confirmed by the store: cached

        assert await first.revoke(record.id)
        assert await first.authenticate(secret) is None  # the revoking instance: at once
        assert await second.authenticate(secret) == record  # the other: still within its bound
        assert await second.authenticate(secret, fresh=True) is None  # a fresh check sees it
        assert await second.authenticate(secret) is None  # and the cache forgot the token

        other, other_record = await first.create("bob", "responder")
        assert await second.authenticate(other) == other_record
        await first.revoke(other_record.id)
        now[0] += 2.0  # the bound has passed: the store is asked again
        assert await second.authenticate(other) is None
