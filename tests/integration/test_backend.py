"""open_backend(db): the one place that picks the interrupt, webhook and token stores of a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from jeeves_control_tower import SQLiteDatabase, open_backend
from jeeves_control_tower.store import MemoryStore
from jeeves_control_tower.tokens import MemoryTokens, SQLTokens
from jeeves_protocols import InvalidInterruptError
from tests.support.stores import UserDatabase


async def test_one_sqlite_file_holds_all_three(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "one.db")
    backend = open_backend(db)
    await backend.interrupts.open()
    await backend.webhooks.open(lambda: None)
    secret, record = await backend.tokens.create("alice", "responder")
    await backend.webhooks.insert_subscription(
        {"id": "whsub_1", "url": "https://example.com/h", "events": ["*"], "user_id": None,
         "session_id": None, "secret": "whsec_" + "A" * 24, "enabled": True,
         "created_at": record.created_at, "updated_at": record.created_at}
    )
    # Another backend over the same file sees what the first wrote: one database, not three.
    again = open_backend(SQLiteDatabase(tmp_path / "one.db"))
    assert (await again.tokens.authenticate(secret)) == record
    assert [row["id"] for row in await again.webhooks.list_subscriptions()] == ["whsub_1"]
    assert isinstance(again.tokens, SQLTokens)
    await backend.interrupts.close()
    await again.interrupts.close()


def test_memory_backends_share_the_store_they_are_given() -> None:
    store = MemoryStore()
    backend = open_backend(store)
    assert backend.interrupts is store and isinstance(backend.tokens, MemoryTokens)
    assert isinstance(open_backend(None).interrupts, MemoryStore)


@pytest.mark.postgres
def test_a_foreign_database_object_gets_interrupts_and_tokens_but_no_webhooks(pg_dsn: str) -> None:
    backend = open_backend(UserDatabase(pg_dsn))
    assert isinstance(backend.tokens, SQLTokens)
    with pytest.raises(InvalidInterruptError) as refused:
        _ = backend.webhooks
    assert refused.value.field == "db" and "transactions" in refused.value.message


def test_anything_else_is_refused_by_name() -> None:
    with pytest.raises(InvalidInterruptError) as refused:
        open_backend(object())
    assert "object" in refused.value.message
