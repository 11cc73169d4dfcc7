"""The auth matrix: every endpoint x no token / wrong role / another user's interrupt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Optional

import pytest

from jeeves_control_tower.store.listing import InterruptQuery
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.api_server import Api, running_api

# (method, path template, json body, roles that may call it). {id} is alice's pending interrupt.
ENDPOINTS: list[tuple[str, str, Optional[dict[str, Any]], set[str]]] = [
    ("GET", "/v1/me", None, {"agent", "responder", "admin"}),
    (
        "POST",
        "/v1/interrupts",
        {"kind": "checkpoint", "request_id": "r9", "user_id": "alice", "session_id": "s", "message": "m"},
        {"agent", "admin"},
    ),
    ("GET", "/v1/interrupts", None, {"agent", "responder", "admin"}),
    ("GET", "/v1/interrupts/{id}", None, {"agent", "responder", "admin"}),
    ("POST", "/v1/interrupts/{id}/respond", {"text": "ok"}, {"responder", "admin"}),
    ("POST", "/v1/interrupts/{id}/cancel", {}, {"agent", "admin"}),
    ("GET", "/v1/interrupts/{id}/wait?timeout=0", None, {"agent", "responder", "admin"}),
    ("GET", "/v1/events", None, {"agent", "responder", "admin"}),
]
TOKEN_FOR_ROLE = {"agent": "agent", "responder": "alice", "admin": "admin"}
IDS = [f"{method} {path}" for method, path, _, _ in ENDPOINTS]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(SQLiteDatabase(tmp_path / "auth.db")) as running:
        yield running


async def alice_interrupt(api: Api) -> str:
    created = await api.service.create_clarification("r1", "alice", "s1", question="q?")
    return created.id


@pytest.mark.parametrize(("method", "path", "payload", "allowed"), ENDPOINTS, ids=IDS)
async def test_no_token_is_401(api: Api, method: str, path: str, payload: Any, allowed: set[str]) -> None:
    path = path.format(id=await alice_interrupt(api))
    response = await api.client().request(method, path, json=payload)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "payload", "allowed"), ENDPOINTS, ids=IDS)
async def test_wrong_role_is_403_and_changes_nothing(
    api: Api, method: str, path: str, payload: Any, allowed: set[str]
) -> None:
    interrupt_id = await alice_interrupt(api)
    for role, token in TOKEN_FOR_ROLE.items():
        if role in allowed:
            continue
        response = await api.client(token).request(method, path.format(id=interrupt_id), json=payload)
        assert response.status_code == 403, (role, response.text)
        assert response.json()["code"] == "forbidden"
    after = await api.service.get_interrupt(interrupt_id)
    assert after is not None and after.status.value == "pending"
    # A refused create made nothing either.
    assert len(await api.service.store.list_interrupts(InterruptQuery())) == 1


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [(m, p, b) for m, p, b, allowed in ENDPOINTS if "{id}" in p and "responder" in allowed],
    ids=[
        i
        for i, (_, p, _, allowed) in zip(IDS, ENDPOINTS, strict=True)
        if "{id}" in p and "responder" in allowed
    ],
)
async def test_another_users_interrupt_is_404_for_a_responder(
    api: Api, method: str, path: str, payload: Any
) -> None:
    interrupt_id = await alice_interrupt(api)
    response = await api.client("bob").request(method, path.format(id=interrupt_id), json=payload)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    unknown = await api.client("bob").request(method, path.format(id="no-such-id"), json=payload)
    assert unknown.status_code == 404 and unknown.json()["title"] == response.json()["title"]
    after = await api.service.get_interrupt(interrupt_id)
    assert after is not None and after.status.value == "pending"


async def test_a_responder_cannot_list_another_users_interrupts(api: Api) -> None:
    await alice_interrupt(api)
    listed = await api.client("bob").get("/v1/interrupts?user_id=alice")
    assert listed.status_code == 200 and listed.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "wrong_role"),
    [
        ("POST", "/v1/interrupts", "alice"),
        ("POST", "/v1/interrupts/x/respond", "agent"),
        ("POST", "/v1/interrupts/x/cancel", "alice"),
    ],
)
async def test_auth_is_checked_before_the_body(api: Api, method: str, path: str, wrong_role: str) -> None:
    # A malformed body must not tell an unauthorised caller what the endpoint expects.
    junk = {"unexpected": [1, 2, 3]}
    assert (await api.client().request(method, path, json=junk)).status_code == 401
    assert (await api.client(wrong_role).request(method, path, json=junk)).status_code == 403
