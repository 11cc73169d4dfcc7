"""The HTTP API, every endpoint and error code: in-process (httpx.ASGITransport) on SQLite and
PostgreSQL, and over a real loopback socket (uvicorn)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jeeves_control_tower.api import Settings
from jeeves_control_tower.services import EventQuery
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.api_server import Api, running_api

PROBLEM = "application/problem+json"


@pytest.fixture(
    params=["sqlite", "sqlite-over-socket", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, bool]:
    """(database, over a real loopback socket?). Sync: pg_dsn runs its own event loop."""
    if request.param == "postgres":
        return PostgresDatabase(request.getfixturevalue("pg_dsn")), False
    return SQLiteDatabase(tmp_path / "api.db"), request.param.endswith("socket")


@pytest.fixture
async def api(setup: tuple[Any, bool]) -> AsyncIterator[Api]:
    db, over_socket = setup
    async with running_api(db, over_socket=over_socket) as running:
        yield running


def body(kind: str = "clarification", user: str = "alice", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": kind,
        "request_id": extra.pop("request_id", "req-1"),
        "user_id": user,
        "session_id": extra.pop("session_id", "sess-1"),
    }
    if kind == "clarification":
        base["question"] = "Which file?"
    else:
        base["message"] = "Proceed?"
    base.update(extra)
    return base


async def create(api: Api, **kwargs: Any) -> dict[str, Any]:
    response = await api.client("agent").post("/v1/interrupts", json=body(**kwargs))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    doc: dict[str, Any] = response.json()
    assert doc["code"] == code and doc["status"] == status
    assert {"type", "title", "detail"} <= doc.keys()
    return doc


async def test_me_reports_the_token_identity(api: Api) -> None:
    for name, user, role in [
        ("agent", "agent-bot", "agent"),
        ("alice", "alice", "responder"),
        ("admin", "root", "admin"),
    ]:
        response = await api.client(name).get("/v1/me")
        assert response.json() == {"user_id": user, "role": role}


async def test_missing_unknown_and_revoked_tokens_are_401(api: Api) -> None:
    assert_problem(await api.client().get("/v1/me"), 401, "unauthorized")
    bad = api.client(Authorization="Bearer jct_nope")
    assert_problem(await bad.get("/v1/me"), 401, "unauthorized")
    secret, record = await api.tokens.create("carol", "responder")
    carol = api.client(Authorization=f"Bearer {secret}")
    assert (await carol.get("/v1/me")).status_code == 200
    assert await api.tokens.revoke(record.id)
    assert_problem(await carol.get("/v1/me"), 401, "unauthorized")


async def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    async with running_api(SQLiteDatabase(tmp_path / "hashed.db")) as api:
        raw = (tmp_path / "hashed.db").read_bytes() + (tmp_path / "hashed.db-wal").read_bytes()
        assert api.secrets
        for secret in api.secrets.values():
            assert secret.encode() not in raw


async def test_create_returns_201_then_200_on_idempotent_replay(api: Api) -> None:
    agent = api.client("agent")
    first = await agent.post("/v1/interrupts", json=body(idempotency_key="k1", ttl_seconds=60))
    assert first.status_code == 201
    created = first.json()
    assert created["status"] == "pending" and created["question"] == "Which file?"
    assert created["expires_at"] is not None
    replay = await agent.post("/v1/interrupts", json=body(idempotency_key="k1", ttl_seconds=60))
    assert replay.status_code == 200 and replay.json()["id"] == created["id"]
    conflict = await agent.post("/v1/interrupts", json=body(idempotency_key="k1", request_id="other"))
    assert_problem(conflict, 409, "idempotency_conflict")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "clarification", "user_id": "u", "session_id": "s"}, "request_id"),
        ({**body(), "kind": "nonsense"}, "kind"),
        ({**body(), "ttl_seconds": -1}, "ttl_seconds"),
        ({**body(), "user_id": ""}, "user_id"),
        ({**body(), "data": [1, 2]}, "data"),
        ({**body(), "surprise": 1}, "surprise"),
    ],
)
async def test_bad_create_input_is_422_with_the_field(api: Api, payload: dict[str, Any], field: str) -> None:
    doc = assert_problem(await api.client("agent").post("/v1/interrupts", json=payload), 422, "invalid_input")
    assert doc["field"] == field
    assert (await api.client("admin").get("/v1/interrupts")).json()["items"] == []


async def test_malformed_json_is_400(api: Api) -> None:
    response = await api.client("agent").post(
        "/v1/interrupts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "invalid_input")


async def test_service_level_validation_is_422(api: Api) -> None:
    # The API model accepts it, the service's own checks reject it (data must be JSON-safe depth etc.)
    doc = assert_problem(
        await api.client("agent").post("/v1/interrupts", json=body(request_id=" ")), 422, "invalid_input"
    )
    assert doc["field"] == "request_id"


async def test_list_filters_newest_first_and_paginates(api: Api) -> None:
    ids = [(await create(api, request_id=f"r{i}", session_id=f"s{i % 2}"))["id"] for i in range(5)]
    await create(api, user="bob", request_id="rb", kind="confirmation")
    admin = api.client("admin")
    everything = (await admin.get("/v1/interrupts")).json()
    assert len(everything["items"]) == 6 and everything["next_cursor"] is None
    alice_ids = [item["id"] for item in (await admin.get("/v1/interrupts?user_id=alice")).json()["items"]]
    assert alice_ids == list(reversed(ids))
    session = (await admin.get("/v1/interrupts?session_id=s0")).json()["items"]
    assert [item["id"] for item in session] == [ids[4], ids[2], ids[0]]
    assert [i["id"] for i in (await admin.get("/v1/interrupts?request_id=r3")).json()["items"]] == [ids[3]]
    assert len((await admin.get("/v1/interrupts?kind=confirmation")).json()["items"]) == 1
    pages: list[str] = []
    cursor = None
    while True:
        query = "/v1/interrupts?user_id=alice&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await admin.get(query)).json()
        pages.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == list(reversed(ids))
    await api.client("agent").post(f"/v1/interrupts/{ids[0]}/cancel", json={})
    assert [i["id"] for i in (await admin.get("/v1/interrupts?status=cancelled")).json()["items"]] == [ids[0]]
    assert len((await admin.get("/v1/interrupts?status=pending")).json()["items"]) == 5


async def test_a_listing_names_the_journal_position_to_follow_from(api: Api) -> None:
    admin = api.client("admin")
    empty = (await admin.get("/v1/interrupts")).json()
    assert empty["journal_position"] == 0
    first = await create(api)
    page = (await admin.get("/v1/interrupts?status=pending")).json()
    assert [item["id"] for item in page["items"]] == [first["id"]] and page["journal_position"] >= 1
    second = await create(api, request_id="req-2")
    since = await api.service.events(EventQuery(after_seq=page["journal_position"]))
    assert [event.interrupt_id for event in since] == [second["id"]]


async def test_a_responder_lists_only_their_own(api: Api) -> None:
    await create(api)
    await create(api, user="bob", request_id="rb")
    for query in ["/v1/interrupts", "/v1/interrupts?user_id=bob"]:
        items = (await api.client("bob").get(query)).json()["items"]
        assert [item["user_id"] for item in items] == ["bob"]
    # A filter narrows what they may see, never widens it: alice's are none of bob's business.
    assert (await api.client("bob").get("/v1/interrupts?user_id=alice")).json()["items"] == []


async def test_bad_list_parameters_are_422(api: Api) -> None:
    admin = api.client("admin")
    assert_problem(await admin.get("/v1/interrupts?limit=0"), 422, "invalid_input")
    assert_problem(await admin.get("/v1/interrupts?status=sleeping"), 422, "invalid_input")
    doc = assert_problem(await admin.get("/v1/interrupts?cursor=zzz"), 422, "invalid_input")
    assert doc["field"] == "cursor"


async def test_get_hides_other_users_interrupts_behind_404(api: Api) -> None:
    created = await create(api)
    assert (await api.client("alice").get(f"/v1/interrupts/{created['id']}")).json()["id"] == created["id"]
    hidden = assert_problem(await api.client("bob").get(f"/v1/interrupts/{created['id']}"), 404, "not_found")
    unknown = assert_problem(await api.client("bob").get("/v1/interrupts/nope"), 404, "not_found")
    assert hidden["title"] == unknown["title"] and "alice" not in str(hidden)


async def test_respond_resolves_as_the_token_user(api: Api) -> None:
    created = await create(api)
    response = await api.client("alice").post(
        f"/v1/interrupts/{created['id']}/respond", json={"text": "a.py"}
    )
    assert response.status_code == 200
    resolved = response.json()
    assert resolved["status"] == "resolved"
    assert resolved["response"]["text"] == "a.py" and resolved["response"]["responder_id"] == "alice"
    again = await api.client("alice").post(f"/v1/interrupts/{created['id']}/respond", json={"text": "b"})
    assert assert_problem(again, 409, "not_pending")["current_status"] == "resolved"


async def test_a_response_that_does_not_fit_the_kind_names_the_field(api: Api) -> None:
    created = await create(api, kind="confirmation")
    doc = assert_problem(
        await api.client("alice").post(f"/v1/interrupts/{created['id']}/respond", json={"text": "ok"}),
        422,
        "invalid_response",
    )
    assert doc["field"] == "approved"
    assert (await api.client("alice").get(f"/v1/interrupts/{created['id']}")).json()["status"] == "pending"


async def test_an_admin_answers_anyones_interrupt(api: Api) -> None:
    created = await create(api, kind="confirmation")
    response = await api.client("admin").post(
        f"/v1/interrupts/{created['id']}/respond", json={"approved": True}
    )
    assert response.json()["response"] == {
        **response.json()["response"],
        "approved": True,
        "responder_id": "root",
    }


async def test_cancel_keeps_the_reason_and_is_409_twice(api: Api) -> None:
    created = await create(api)
    agent = api.client("agent")
    cancelled = (await agent.post(f"/v1/interrupts/{created['id']}/cancel", json={"reason": "done"})).json()
    assert cancelled["status"] == "cancelled" and cancelled["data"]["cancel_reason"] == "done"
    doc = assert_problem(await agent.post(f"/v1/interrupts/{created['id']}/cancel"), 409, "not_pending")
    assert doc["current_status"] == "cancelled"


async def test_expired_interrupts_answer_409_expired(api: Api) -> None:
    created = await create(api, ttl_seconds=0)
    response = await api.client("alice").post(f"/v1/interrupts/{created['id']}/respond", json={"text": "x"})
    assert assert_problem(response, 409, "expired")["current_status"] == "expired"
    assert (await api.client("alice").get(f"/v1/interrupts/{created['id']}")).json()["status"] == "expired"


async def test_wait_times_out_with_408_and_returns_once_answered(api: Api) -> None:
    created = await create(api)
    agent = api.client("agent")
    assert_problem(await agent.get(f"/v1/interrupts/{created['id']}/wait?timeout=0"), 408, "wait_timeout")
    waiting = asyncio.create_task(agent.get(f"/v1/interrupts/{created['id']}/wait?timeout=30"))
    answered = await api.client("alice").post(f"/v1/interrupts/{created['id']}/respond", json={"text": "y"})
    assert answered.status_code == 200
    result = await waiting
    assert result.status_code == 200 and result.json()["response"]["text"] == "y"
    assert_problem(await agent.get("/v1/interrupts/nope/wait?timeout=0"), 404, "not_found")
    assert_problem(await agent.get(f"/v1/interrupts/{created['id']}/wait?timeout=-1"), 422, "invalid_input")


async def test_health_readiness_metrics_docs_and_pages(api: Api) -> None:
    client = api.client()
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await create(api)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "python_info" in metrics.text
    # The service's own registry is served too: the interrupt just created is counted.
    assert 'jeeves_interrupts_created_total{kind="clarification"} 1.0' in metrics.text
    assert (await client.get("/openapi.json")).json()["paths"]["/v1/interrupts"]
    assert (await client.get("/docs")).status_code == 200
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_problem(await client.get("/nowhere"), 404, "not_found")


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    from jeeves_control_tower.api import create_app
    from jeeves_control_tower.services import InterruptService
    from jeeves_control_tower.store.postgres import PostgresDatabase

    # Port 1 on loopback: nothing listens there, so every connection attempt is refused.
    service = InterruptService(PostgresDatabase("postgresql://postgres@127.0.0.1:1/none"))
    app = create_app(service, Settings(manage_service=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert_problem(await client.get("/readyz"), 503, "not_ready")


async def test_rate_limit_answers_429(tmp_path: Path) -> None:
    settings = Settings(rate_limit=0.001, rate_burst=2, manage_service=False)
    async with running_api(SQLiteDatabase(tmp_path / "rl.db"), settings=settings) as limited:
        client = limited.client("agent")
        assert (await client.get("/v1/me")).status_code == 200
        assert (await client.get("/v1/me")).status_code == 200
        response = await client.get("/v1/me")
        assert_problem(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "1"
        # Another token has its own bucket.
        assert (await limited.client("alice").get("/v1/me")).status_code == 200
