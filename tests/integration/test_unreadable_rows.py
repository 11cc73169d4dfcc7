"""A stored row that cannot be read back breaks nothing but itself, on SQLite and PostgreSQL.

The rows are damaged the way another tool (or a hand edit, or an older version) could leave
them: written straight into the tables with sqlite3 / asyncpg, under a running API. Then:
listings, the pending lookups, the sweep and the event journal skip them (keeping pages full, so
pagination still reaches every readable row); a GET of one answers 500 `corrupt_interrupt`
naming it; each is logged once; the readable rows are untouched.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.listing import EventQuery, InterruptQuery
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.rows import unreadable_rows
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_control_tower.webhooks import WebhookService
from jeeves_protocols import CorruptInterruptError
from jeeves_protocols.interrupts import MAX_STORED_DATA_DEPTH
from tests.support.api_server import Api, running_api
from tests.support.webhook_receiver import Receiver

PROBLEM = "application/problem+json"
TOO_DEEP = json.dumps(json.loads('{"a":' * MAX_STORED_DATA_DEPTH + "{}" + "}" * MAX_STORED_DATA_DEPTH))

#: (what is wrong, SQL that damages the row $1 / :id). Both dialects' damage, each of its own row.
SQLITE_DAMAGE = [
    ("malformed data JSON", "UPDATE jeeves_interrupts SET data = '{\"a\":' WHERE id = :id"),
    ("unknown kind", "UPDATE jeeves_interrupts SET kind = 'bogus' WHERE id = :id"),
    ("unparseable created_at", "UPDATE jeeves_interrupts SET created_at = 'not a time' WHERE id = :id"),
    ("unknown status", "UPDATE jeeves_interrupts SET status = 'weird' WHERE id = :id"),
    ("response of the wrong shape",
     "UPDATE jeeves_interrupts SET status = 'resolved', response = '{\"approved\": \"yes\"}' WHERE id = :id"),
    ("data nested too deep", "UPDATE jeeves_interrupts SET data = :deep WHERE id = :id"),
    ("text that is not UTF-8", "UPDATE jeeves_interrupts SET question = CAST(x'ff41' AS TEXT) WHERE id = :id"),
    ("NaN in data", "UPDATE jeeves_interrupts SET data = '{\"a\": NaN}' WHERE id = :id"),
    ("a lone surrogate in data", "UPDATE jeeves_interrupts SET data = '{\"a\": \"\\ud800\"}' WHERE id = :id"),
    ("data as a BLOB", "UPDATE jeeves_interrupts SET data = x'ff7b7d' WHERE id = :id"),
    ("expires_at not a time", "UPDATE jeeves_interrupts SET expires_at = 'soon' WHERE id = :id"),
    # SQLite's JSON functions refuse BLOBs: the journal's payload of this row cannot be built.
    ("a BLOB in a text column", "UPDATE jeeves_interrupts SET question = x'41' WHERE id = :id"),
]
POSTGRES_DAMAGE = [
    ("unknown kind", "UPDATE jeeves_interrupts SET kind = 'bogus' WHERE id = $1"),
    ("unknown status", "UPDATE jeeves_interrupts SET status = 'weird' WHERE id = $1"),
    ("data not an object", "UPDATE jeeves_interrupts SET data = '[1, 2]' WHERE id = $1"),
    ("data nested too deep", "UPDATE jeeves_interrupts SET data = $2::jsonb WHERE id = $1"),
    ("response of the wrong shape",
     "UPDATE jeeves_interrupts SET status = 'resolved', response = '{\"approved\": \"yes\"}' WHERE id = $1"),
    ("response not an object", "UPDATE jeeves_interrupts SET status = 'resolved', response = '5' WHERE id = $1"),
]
#: Damage to journal rows alone: the interrupt reads fine, its events do not.
JOURNAL_DAMAGE = {
    "sqlite": [
        "UPDATE jeeves_interrupt_events SET payload = '{broken' WHERE interrupt_id = ?",
        "UPDATE jeeves_interrupt_events SET created_at = 'never' WHERE interrupt_id = ?",
    ],
    "postgres": [
        "UPDATE jeeves_interrupt_events SET payload = '{\"id\": 5}' WHERE interrupt_id = $1",
        "UPDATE jeeves_interrupt_events SET payload = '[]' WHERE interrupt_id = $1",
    ],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any, str]:
    """(dialect, database, where to reach it directly). Sync: pg_dsn runs its own event loop."""
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        return "postgres", PostgresDatabase(dsn), dsn
    path = tmp_path / "damaged.db"
    return "sqlite", SQLiteDatabase(path), str(path)


@pytest.fixture
async def api(setup: tuple[str, Any, str]) -> AsyncIterator[Api]:
    async with running_api(setup[1]) as running:
        yield running


async def damage(setup: tuple[str, Any, str], ids: list[str]) -> None:
    """Damage ids[i] with the dialect's i-th damage, writing past the service."""
    dialect, _, where = setup
    if dialect == "sqlite":
        connection = sqlite3.connect(where)
        try:
            for (_, statement), interrupt_id in zip(SQLITE_DAMAGE, ids, strict=True):
                connection.execute(statement, {"id": interrupt_id, "deep": TOO_DEEP})
            connection.commit()
        finally:
            connection.close()
        return
    pg = await asyncpg.connect(where)
    try:
        for (_, statement), interrupt_id in zip(POSTGRES_DAMAGE, ids, strict=True):
            await pg.execute(statement, interrupt_id, *([TOO_DEEP] if "$2" in statement else []))
    finally:
        await pg.close()


async def make_interrupts(api: Api, damaged: int, readable: int) -> tuple[list[str], list[str]]:
    """Interrupts created alternately, so damaged rows sit between readable ones in every order."""
    agent = api.client("agent")
    made: list[str] = []
    for n in range(damaged + readable):
        response = await agent.post(
            "/v1/interrupts",
            json={"kind": "clarification", "request_id": f"r{n}", "user_id": "alice", "session_id": "s1",
                  "question": f"q{n}", "data": {"n": n}},
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    bad = made[1::2][:damaged]
    good = [i for i in made if i not in bad]
    return bad, good


def damage_list(setup: tuple[str, Any, str]) -> list[tuple[str, str]]:
    return SQLITE_DAMAGE if setup[0] == "sqlite" else POSTGRES_DAMAGE


async def test_listings_skip_unreadable_rows_and_a_get_names_them(setup: tuple[str, Any, str], api: Api) -> None:
    count = len(damage_list(setup))
    bad, good = await make_interrupts(api, count, count + 2)
    await damage(setup, bad)
    admin, alice = api.client("admin"), api.client("alice")
    before = unreadable_rows()

    with capture_logs() as logs:
        everything = await admin.get("/v1/interrupts", params={"limit": 500})
        assert everything.status_code == 200, everything.text
        assert [i["id"] for i in everything.json()["items"]] == list(reversed(good))
        # Pages of two, through the damaged rows: every readable row once, none skipped early.
        paged: list[str] = []
        cursor = None
        while True:
            page = await admin.get("/v1/interrupts", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            paged.extend(i["id"] for i in page.json()["items"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert paged == list(reversed(good))
        pending = await alice.get("/v1/interrupts", params={"status": "pending", "limit": 500})
        assert pending.status_code == 200 and {i["id"] for i in pending.json()["items"]} == set(good)
        # A second listing logs nothing new: one line per unreadable row, however often it is met.
        assert (await admin.get("/v1/interrupts")).status_code == 200

    unreadable = [entry for entry in logs if entry["event"] == "stored_interrupt_unreadable"]
    assert sorted(entry["interrupt_id"] for entry in unreadable) == sorted(bad), unreadable
    assert all(entry["log_level"] == "error" and entry["column"] and entry["cause"] for entry in unreadable)
    assert unreadable_rows() - before == len(bad)

    for (what, _), interrupt_id in zip(damage_list(setup), bad, strict=True):
        response = await admin.get(f"/v1/interrupts/{interrupt_id}")
        assert response.status_code == 500, (what, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        doc = response.json()
        assert doc["code"] == "corrupt_interrupt" and doc["interrupt_id"] == interrupt_id, (what, doc)
        assert "Retry-After" not in response.headers  # retrying cannot help
        # Answering it is refused the same way, and writes nothing.
        position = await api.service.journal_position()
        answer = await alice.post(f"/v1/interrupts/{interrupt_id}/respond", json={"text": "x"})
        assert answer.status_code == 500 and answer.json()["code"] == "corrupt_interrupt", (what, answer.text)
        assert await api.service.journal_position() == position, what  # no transition was journalled
        with pytest.raises(CorruptInterruptError) as raised:
            await api.service.get_interrupt(interrupt_id)
        assert raised.value.interrupt_id == interrupt_id and raised.value.column

    # The readable rows are whole and still work.
    for interrupt_id in good:
        assert (await admin.get(f"/v1/interrupts/{interrupt_id}")).status_code == 200
    answered = await alice.post(f"/v1/interrupts/{good[0]}/respond", json={"text": "fine"})
    assert answered.status_code == 200 and answered.json()["status"] == "resolved", answered.text


async def test_the_journal_and_the_pending_lookups_skip_unreadable_rows(
    setup: tuple[str, Any, str], api: Api
) -> None:
    count = len(damage_list(setup))
    bad, good = await make_interrupts(api, count, count + 1)
    await damage(setup, bad)
    store = api.service.store

    # A creation event shows the interrupt as it was created: on SQLite it is read from the row,
    # minus status and response (so damage there leaves it readable); PostgreSQL's journal
    # stores its own snapshot, which damage to the row never reaches.
    dialect = setup[0]
    untouched = {"unknown status", "response of the wrong shape"} if dialect == "sqlite" else None
    readable_events = {
        interrupt_id
        for (what, _), interrupt_id in zip(damage_list(setup), bad, strict=True)
        if untouched is None or what in untouched
    }
    # In creation order: alternately good and bad (ids made in one millisecond do not sort by time).
    created = [*sum(zip(good[: len(bad)], bad, strict=True), ()), *good[len(bad) :]]
    expected = [i for i in created if i in good or i in readable_events]
    events = await store.events_for(EventQuery())
    assert [e.interrupt_id for e in events] == expected
    # Pages of one, from before the first damaged event: each page still holds the next readable one.
    seen: list[str] = []
    after = 0
    while page := await store.events_for(EventQuery(after_seq=after, limit=1)):
        seen.append(page[0].interrupt_id)
        after = page[0].seq
    assert seen == expected
    assert [e.interrupt_id for e in await store.events_after(0, len(expected))] == expected

    pending = await api.service.get_pending_for_session("s1")
    assert [i.id for i in pending] == good
    for interrupt in pending:
        found = await api.service.get_pending_for_request(interrupt.request_id)
        assert found is not None and found.id == interrupt.id
    for request_id in (f"r{n}" for n in range(1, 2 * count, 2)):  # the damaged rows' requests
        assert await api.service.get_pending_for_request(request_id) is None
    listed = await store.list_interrupts(InterruptQuery(session_id="s1", limit=len(good)))
    assert [i.id for i in listed] == list(reversed(good))


async def test_the_sweep_expires_readable_rows_past_unreadable_ones(setup: tuple[str, Any, str], api: Api) -> None:
    count = len(damage_list(setup))
    bad, good = await make_interrupts(api, count, count + 1)
    await damage(setup, bad)
    dialect, _, where = setup
    # Everything due now, damaged rows included: the sweep must neither fail nor stall on them.
    if dialect == "sqlite":
        connection = sqlite3.connect(where)
        connection.execute(
            "UPDATE jeeves_interrupts SET expires_at = '2000-01-01T00:00:00.000000+00:00'"
            " WHERE status = 'pending' AND expires_at IS NOT 'soon'"
        )
        connection.commit()
        connection.close()
    else:
        pg = await asyncpg.connect(where)
        await pg.execute("UPDATE jeeves_interrupts SET expires_at = '2000-01-01' WHERE status = 'pending'")
        await pg.close()
    expired = await api.service.expire_pending()
    assert expired == len(good)
    for interrupt_id in good:
        interrupt = await api.service.get_interrupt(interrupt_id)
        assert interrupt is not None and interrupt.status.value == "expired"
    assert await api.service.expire_pending() == 0  # and it does not come back to them


async def test_a_damaged_journal_row_is_skipped_and_its_interrupt_still_reads(
    setup: tuple[str, Any, str], api: Api
) -> None:
    dialect, _, where = setup
    statements = JOURNAL_DAMAGE[dialect]
    bad, good = await make_interrupts(api, len(statements), len(statements) + 1)
    if dialect == "sqlite":
        connection = sqlite3.connect(where)
        for statement, interrupt_id in zip(statements, bad, strict=True):
            connection.execute(statement, (interrupt_id,))
        connection.commit()
        connection.close()
    else:
        pg = await asyncpg.connect(where)
        for statement, interrupt_id in zip(statements, bad, strict=True):
            await pg.execute(statement, interrupt_id)
        await pg.close()
    with capture_logs() as logs:
        events = await api.service.store.events_for(EventQuery(limit=len(good)))
    assert [e.interrupt_id for e in events] == good
    logged = [entry for entry in logs if entry["event"] == "stored_interrupt_unreadable"]
    assert sorted(entry["interrupt_id"] for entry in logged) == sorted(bad)
    assert all(entry["event_seq"] is not None for entry in logged)
    admin = api.client("admin")
    listed = await admin.get("/v1/interrupts")
    assert listed.status_code == 200 and len(listed.json()["items"]) == len(bad) + len(good)
    for interrupt_id in bad:
        assert (await admin.get(f"/v1/interrupts/{interrupt_id}")).status_code == 200


async def test_a_webhook_delivery_whose_event_is_unreadable_goes_to_dead_letters(
    setup: tuple[str, Any, str],
) -> None:
    """One unreadable event must not stall webhook delivery: a failed claim would undo (SQLite) or
    strand (PostgreSQL) every lease of its batch, again on every tick."""
    dialect, db, where = setup
    service = InterruptService(db, sweep_interval=0)
    await service.start()
    dispatcher = WebhookService(db, allow_networks=["127.0.0.0/8"])
    try:
        async with Receiver() as receiver:
            await dispatcher.create_subscription(receiver.url, ["*"])
            made = [(await service.create_clarification(f"r{n}", "u1", "s1", "Which?")).id for n in range(3)]
            bad = made[1]
            if dialect == "sqlite":
                connection = sqlite3.connect(where)
                connection.execute("UPDATE jeeves_interrupts SET data = '{broken' WHERE id = ?", (bad,))
                connection.commit()
                connection.close()
            else:
                pg = await asyncpg.connect(where)
                await pg.execute(JOURNAL_DAMAGE["postgres"][0], bad)
                await pg.close()
            await dispatcher.run_until_idle(max_wait=1)
            sent = sorted(request.json["data"]["id"] for request in receiver.requests)
            assert sent == sorted([made[0], made[2]])
            dead = await dispatcher.list_dead_letters()
            assert [d.event_id for d in dead] == [f"evt_{bad}_1"]
            assert await dispatcher.run_until_idle(max_wait=1) == 0  # nothing left to retry
    finally:
        await dispatcher.stop()
        await service.stop()


async def test_the_event_stream_skips_unreadable_events_and_keeps_going(setup: tuple[str, Any, str]) -> None:
    dialect, db, where = setup
    async with running_api(db, over_socket=True) as api:
        bad, good = await make_interrupts(api, 2, 3)
        if dialect == "sqlite":  # the creation event is read from the row: damage its data
            connection = sqlite3.connect(where)
            for interrupt_id in bad:
                connection.execute("UPDATE jeeves_interrupts SET data = '{broken' WHERE id = ?", (interrupt_id,))
            connection.commit()
            connection.close()
        else:
            pg = await asyncpg.connect(where)
            for statement, interrupt_id in zip(JOURNAL_DAMAGE["postgres"], bad, strict=True):
                await pg.execute(statement, interrupt_id)
            await pg.close()
        async with api.client("admin").stream("GET", "/v1/events", params={"last_event_id": "0"}) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()

            async def next_interrupt_id() -> str:
                async with asyncio.timeout(5):
                    async for line in lines:
                        if line.startswith("data: "):
                            return str(json.loads(line[6:])["interrupt"]["id"])
                raise AssertionError("the stream ended")

            assert [await next_interrupt_id() for _ in good] == good
            # Past the unreadable events the stream still follows the journal live.
            later = await api.client("agent").post(
                "/v1/interrupts",
                json={"kind": "clarification", "request_id": "later", "user_id": "alice", "session_id": "s1",
                      "question": "q"},
            )
            assert await next_interrupt_id() == later.json()["id"]
