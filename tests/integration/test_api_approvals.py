"""Approvals over HTTP, on SQLite and PostgreSQL, in process and over a loopback socket: the
creator taken from the token, who answered and how, expiry outcomes, schema-checked edits,
verify and consume, history with the same visibility as everything else, who waits on what;
and the remote client speaking all of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jeeves_control_tower.client import RemoteInterruptService
from jeeves_control_tower.services.approvals import action_hash
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import (
    ApprovalMismatchError,
    ApprovalUsedError,
    InterruptKind,
    InterruptResponse,
    InvalidResponseError,
    Resolution,
    SelfApprovalError,
)
from tests.integration.test_api import assert_problem, body
from tests.support.api_server import Api, running_api

ACTION = {"tool": "deploy", "args": {"service": "billing", "replicas": 3}}


@pytest.fixture(
    params=["sqlite", "sqlite-over-socket", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, bool]:
    if request.param == "postgres":
        return PostgresDatabase(request.getfixturevalue("pg_dsn")), False
    return SQLiteDatabase(tmp_path / "api.db"), request.param.endswith("socket")


@pytest.fixture
async def api(setup: tuple[Any, bool]) -> AsyncIterator[Api]:
    db, over_socket = setup
    async with running_api(db, over_socket=over_socket) as running:
        yield running


async def confirmation(api: Api, client: str = "agent", **extra: Any) -> dict[str, Any]:
    extra.setdefault("data", {"action": ACTION})
    response = await api.client(client).post("/v1/interrupts", json=body("confirmation", **extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_the_creator_is_the_token_and_an_answer_records_who_and_how(api: Api) -> None:
    created = await confirmation(api, on_expire="reject")
    assert created["created_by"] == "agent-bot"
    assert created["policy"]["on_expire"] == "reject"
    assert created["action_hash"] == action_hash({"action": ACTION})
    assert created["resolution"] is None and created["consumed_at"] is None
    answered = await api.client("alice", **{"X-Jeeves-Via": "inbox"}).post(
        f"/v1/interrupts/{created['id']}/respond", json={"approved": True}
    )
    assert answered.status_code == 200, answered.text
    out = answered.json()
    assert out["resolution"] == "answered"
    token = next(t for t in await api.tokens.list() if t.user_id == "alice")
    assert out["response"]["responder_id"] == "alice"
    assert out["response"]["token_id"] == token.id
    assert out["response"]["via"] == "inbox"
    assert out["response"]["action_hash"] == created["action_hash"]
    # A route no client of ours names is recorded as the API.
    other = await confirmation(api)
    strange = await api.client("alice", **{"X-Jeeves-Via": "carrier-pigeon"}).post(
        f"/v1/interrupts/{other['id']}/respond", json={"approved": False}
    )
    assert strange.json()["response"]["via"] == "api"


async def test_self_approval_is_refused_with_403_and_changes_nothing(api: Api) -> None:
    # An admin raises a confirmation for herself; her own answer may not count.
    created = await confirmation(api, client="admin", user="root", forbid_self_approval=True)
    assert created["created_by"] == "root"
    refused = await api.client("admin").post(f"/v1/interrupts/{created['id']}/respond", json={"approved": True})
    doc = assert_problem(refused, 403, "self_approval_forbidden")
    assert doc["interrupt_id"] == created["id"]
    still = await api.client("admin").get(f"/v1/interrupts/{created['id']}")
    assert still.json()["status"] == "pending"


async def test_an_expiry_outcome_is_chosen_per_kind_and_refused_where_it_cannot_apply(api: Api) -> None:
    wrong = await api.client("agent").post("/v1/interrupts", json=body("clarification", on_expire="approve"))
    assert assert_problem(wrong, 422, "invalid_input")["field"] == "on_expire"
    unknown = await api.client("agent").post("/v1/interrupts", json=body("confirmation", on_expire="later"))
    assert_problem(unknown, 422, "invalid_input")
    created = await confirmation(api, on_expire="reject", ttl_seconds=0)
    ended = (await api.client("alice").get(f"/v1/interrupts/{created['id']}")).json()
    assert ended["status"] == "resolved" and ended["resolution"] == "auto_rejected"
    assert ended["response"]["approved"] is False and ended["response"]["via"] == "expiry"


async def test_an_edit_is_checked_against_the_schema_and_both_actions_are_kept(api: Api) -> None:
    schema = {
        "type": "object",
        "properties": {"action": {"properties": {"args": {"properties": {"replicas": {"maximum": 5}}}}}},
    }
    bad_schema = await api.client("agent").post(
        "/v1/interrupts", json=body("confirmation", response_schema={"type": "potato"})
    )
    assert assert_problem(bad_schema, 422, "invalid_input")["field"] == "response_schema"
    created = await confirmation(api, response_schema=schema)
    path = f"/v1/interrupts/{created['id']}/respond"
    too_many = {"action": {**ACTION, "args": {"service": "billing", "replicas": 50}}}
    refused = await api.client("alice").post(path, json={"approved": True, "data": too_many})
    assert assert_problem(refused, 422, "invalid_response")["field"] == "data.action.args.replicas"
    edited = {"action": {**ACTION, "args": {"service": "billing", "replicas": 2}}}
    approved = (await api.client("alice").post(path, json={"approved": True, "data": edited})).json()
    assert approved["data"] == {"action": ACTION}
    assert approved["response"]["data"] == edited
    assert approved["response"]["action_hash"] == action_hash(edited)


async def test_verify_and_consume_bind_the_approval_to_the_action(api: Api) -> None:
    created = await confirmation(api)
    agent = api.client("agent")
    base = f"/v1/interrupts/{created['id']}"
    assert_problem(await agent.post(f"{base}/verify", json={"action": ACTION}), 409, "not_approved")
    await api.client("alice").post(f"{base}/respond", json={"approved": True})
    assert (await agent.post(f"{base}/verify", json={"action": ACTION})).status_code == 200
    tampered = {**ACTION, "args": {"service": "payments", "replicas": 3}}
    assert_problem(await agent.post(f"{base}/consume", json={"action": tampered}), 409, "approval_mismatch")
    used = await agent.post(f"{base}/consume", json={"action": ACTION})
    assert used.status_code == 200 and used.json()["consumed_at"] is not None
    assert_problem(await agent.post(f"{base}/consume", json={"action": ACTION}), 409, "approval_used")
    # Only agents (and admins) use approvals; a responder may not, and someone else's is a 404.
    assert_problem(await api.client("alice").post(f"{base}/consume", json={"action": ACTION}), 403, "forbidden")
    assert_problem(await agent.post("/v1/interrupts/nope/verify", json={"action": ACTION}), 404, "not_found")
    assert_problem(await agent.post(f"{base}/verify", json={"action": [1]}), 422, "invalid_input")


async def test_history_shows_each_caller_what_they_may_see(api: Api) -> None:
    mine = await confirmation(api, request_id="run-9")
    theirs = await confirmation(api, user="bob", request_id="run-9")
    await api.client("alice").post(f"/v1/interrupts/{mine['id']}/respond", json={"approved": True})
    await api.client("agent").post(f"/v1/interrupts/{mine['id']}/consume", json={"action": ACTION})

    history = (await api.client("alice").get(f"/v1/interrupts/{mine['id']}/history")).json()["items"]
    assert [item["type"] for item in history] == [
        "interrupt.confirmation_needed", "interrupt.resolved", "interrupt.approval_consumed",
    ]
    assert [item["sequence"] for item in history] == [1, 2, 3]
    assert history[1]["interrupt"]["response"]["responder_id"] == "alice"
    assert_problem(await api.client("alice").get(f"/v1/interrupts/{theirs['id']}/history"), 404, "not_found")

    run_for_alice = (await api.client("alice").get("/v1/history", params={"request_id": "run-9"})).json()
    assert {item["interrupt"]["id"] for item in run_for_alice["items"]} == {mine["id"]}
    run_for_admin = (await api.client("admin").get("/v1/history", params={"request_id": "run-9"})).json()
    assert {item["interrupt"]["id"] for item in run_for_admin["items"]} == {mine["id"], theirs["id"]}
    session = (await api.client("admin").get("/v1/sessions/sess-1/history")).json()["items"]
    assert len(session) == 4  # two creations, an answer, a use
    assert_problem(await api.client("admin").get("/v1/history"), 422, "invalid_input")


async def test_who_waits_on_what_is_for_admins(api: Api) -> None:
    await confirmation(api)
    await confirmation(api, user="bob")
    await api.client("agent").post("/v1/interrupts", json=body("clarification", user="bob"))
    summary = (await api.client("admin").get("/v1/pending/summary")).json()
    assert summary["total"] == 3
    assert summary["by_kind"] == {"clarification": 1, "confirmation": 2}
    assert summary["by_user"] == {"bob": 2, "alice": 1}
    assert summary["by_age"]["under_1h"] == 3
    assert_problem(await api.client("alice").get("/v1/pending/summary"), 403, "forbidden")


async def test_the_remote_client_speaks_approvals(api: Api) -> None:
    agent = RemoteInterruptService(api.base_url, api.secrets["agent"], transport=_transport(api))
    alice = RemoteInterruptService(api.base_url, api.secrets["alice"], transport=_transport(api))
    async with agent, alice:
        created = await agent.create_confirmation(
            "req-r", "alice", "sess-r", "Deploy?", action_data={"action": ACTION},
            on_expire="reject", response_schema={"properties": {"action": {"type": "object"}}},
        )
        assert created.created_by == "agent-bot" and created.policy["on_expire"] == "reject"
        with pytest.raises(InvalidResponseError):
            await alice.respond_or_raise(created.id, InterruptResponse(approved=True, data={"action": 5}))
        await alice.respond_or_raise(created.id, InterruptResponse(approved=True))
        verified = await agent.verify_approval(created.id, ACTION)
        assert verified.resolution is Resolution.ANSWERED
        with pytest.raises(ApprovalMismatchError):
            await agent.consume(created.id, {"tool": "rm -rf"})
        await agent.consume(created.id, ACTION)
        with pytest.raises(ApprovalUsedError):
            await agent.consume(created.id, ACTION)
        history = await agent.get_history(created.id)
        assert [e.type for e in history][-1] == "interrupt.approval_consumed"
        assert [e.interrupt_id for e in await agent.get_history(request_id="req-r")] == [created.id] * 3
        assert len(await agent.get_history(session_id="sess-r")) == 3

        root = RemoteInterruptService(api.base_url, api.secrets["admin"], transport=_transport(api))
        async with root:
            own = await root.create_interrupt(
                InterruptKind.CONFIRMATION, "req-s", "root", "sess-s", message="Mine?", forbid_self_approval=True
            )
            with pytest.raises(SelfApprovalError):
                await root.respond_or_raise(own.id, InterruptResponse(approved=True))
            assert (await root.pending_summary())["by_user"] == {"root": 1}


def _transport(api: Api) -> Any:
    """In process: the app itself; over a socket: the default (a real connection)."""
    import httpx

    return httpx.ASGITransport(app=api.app) if api.base_url.startswith("http://test") else None


async def test_extend_over_http_moves_the_deadline_and_streams_it(api: Api) -> None:
    created = await confirmation(api, ttl_seconds=600)
    agent = api.client("agent")
    path = f"/v1/interrupts/{created['id']}/extend"
    extended = await agent.post(path, json={"by_seconds": 3600})
    assert extended.status_code == 200, extended.text
    before, after = created["expires_at"], extended.json()["expires_at"]
    from jeeves_protocols.interrupts import parse_time

    assert (parse_time(after) - parse_time(before)).total_seconds() == 3600  # type: ignore[operator]
    history = (await agent.get(f"/v1/interrupts/{created['id']}/history")).json()["items"]
    assert [(item["type"], item["sequence"]) for item in history] == [
        ("interrupt.confirmation_needed", 1), ("interrupt.extended", 2),
    ]
    assert history[0]["interrupt"]["expires_at"] == before and history[1]["interrupt"]["expires_at"] == after
    for bad in ({"by_seconds": 0}, {"by_seconds": -1}, {"by_seconds": "60"}, {}, {"by_seconds": 1e12}):
        assert_problem(await agent.post(path, json=bad), 422, "invalid_input")
    assert_problem(await api.client("alice").post(path, json={"by_seconds": 60}), 403, "forbidden")
    checkpoint = await api.client("agent").post("/v1/interrupts", json=body("checkpoint"))
    never = await agent.post(f"/v1/interrupts/{checkpoint.json()['id']}/extend", json={"by_seconds": 60})
    assert_problem(never, 422, "invalid_input")
    await api.client("alice").post(f"/v1/interrupts/{created['id']}/respond", json={"approved": True})
    assert_problem(await agent.post(path, json={"by_seconds": 60}), 409, "not_pending")
    remote = RemoteInterruptService(api.base_url, api.secrets["agent"], transport=_transport(api))
    async with remote:
        other = await confirmation(api, ttl_seconds=60)
        moved = await remote.extend(other["id"], timedelta(minutes=5))
        assert moved.expires_at == parse_time(other["expires_at"]) + timedelta(minutes=5)  # type: ignore[operator]


async def test_reminders_over_http(api: Api) -> None:
    import asyncio

    created = await confirmation(api, remind_after_seconds=[0.01, 3600])
    assert created["policy"]["remind_after"] == [0.01, 3600.0]
    await asyncio.sleep(0.05)
    assert await api.service.remind_pending() == 1
    history = (await api.client("alice").get(f"/v1/interrupts/{created['id']}/history")).json()["items"]
    assert [(item["type"], item["sequence"]) for item in history] == [
        ("interrupt.confirmation_needed", 1), ("interrupt.reminder", 2),
    ]
    for bad in ([0], [-1], ["5"], [1] * 11, 5, [1e12]):
        refused = await api.client("agent").post(
            "/v1/interrupts", json=body("confirmation", remind_after_seconds=bad)
        )
        assert_problem(refused, 422, "invalid_input")


async def test_responders_and_token_groups_over_http(api: Api) -> None:
    secret, record = await api.tokens.create("carol", "responder", ["ops"])
    assert record.groups == ("ops",)
    api.secrets["carol"] = secret
    created = await confirmation(api, user="bob", responders={"groups": ["ops"]})
    assert created["policy"]["responders"] == {"users": [], "groups": ["ops"]}
    carol = api.client("carol")
    listed = (await carol.get("/v1/interrupts", params={"status": "pending"})).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert (await carol.get(f"/v1/interrupts/{created['id']}")).status_code == 200
    assert (await carol.get(f"/v1/interrupts/{created['id']}/history")).status_code == 200
    # alice is neither its user nor in ops: it does not exist for her.
    assert_problem(await api.client("alice").get(f"/v1/interrupts/{created['id']}"), 404, "not_found")
    refused = await api.client("alice").post(f"/v1/interrupts/{created['id']}/respond", json={"approved": True})
    assert_problem(refused, 404, "not_found")
    answered = await carol.post(f"/v1/interrupts/{created['id']}/respond", json={"approved": True})
    assert answered.status_code == 200, answered.text
    assert answered.json()["response"]["responder_id"] == "carol"
    made = await api.client("admin").post("/v1/tokens", json={"user_id": "dave", "role": "responder",
                                                               "groups": ["ops", "sre", "ops"]})
    assert made.status_code == 201 and made.json()["groups"] == ["ops", "sre"]
    bad = await api.client("admin").post("/v1/tokens", json={"user_id": "x", "role": "responder", "groups": [""]})
    assert_problem(bad, 422, "invalid_input")
    assert_problem(
        await api.client("agent").post("/v1/interrupts", json=body("confirmation", responders={"users": "carol"})),
        422, "invalid_input",
    )
