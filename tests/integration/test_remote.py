"""RemoteInterruptService against a real uvicorn server on a loopback port, and the SSE stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jeeves_control_tower.client import RemoteAuthError, RemoteInterruptService, ServerUnavailableError
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import (
    FlowInterrupt,
    IdempotencyConflictError,
    InterruptExpiredError,
    InterruptKind,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    InvalidResponseError,
    WaitTimeoutError,
)
from tests.support.api_server import Api, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(SQLiteDatabase(tmp_path / "remote.db"), over_socket=True) as running:
        yield running


def remote(api: Api, who: str) -> RemoteInterruptService:
    return RemoteInterruptService(api.base_url, api.secrets[who])


async def test_the_remote_service_round_trip(api: Api) -> None:
    async with remote(api, "agent") as agent, remote(api, "alice") as alice:
        asked = await agent.create_clarification("r1", "alice", "s1", "Which?", context={"options": ["a"]})
        assert isinstance(asked, FlowInterrupt) and asked.kind is InterruptKind.CLARIFICATION
        assert asked.data == {"options": ["a"]}
        assert (await agent.get_interrupt(asked.id)) == asked
        assert await agent.get_interrupt("missing") is None
        assert (await agent.get_pending_for_request("r1")) == asked
        confirm = await agent.create_confirmation("r2", "alice", "s1", "Go?", action_data={"x": 1})
        assert [i.id for i in await agent.get_pending_for_session("s1")] == [asked.id, confirm.id]
        assert [i.id for i in await agent.get_pending_for_session("s1", [InterruptKind.CONFIRMATION])] == [
            confirm.id
        ]
        waiting = asyncio.create_task(agent.wait_for_response(asked.id, timeout=30))
        answered = await alice.respond_or_raise(asked.id, InterruptResponse(text="a"))
        assert answered.status is InterruptStatus.RESOLVED and answered.response is not None
        assert answered.response.responder_id == "alice"
        assert (await waiting).response == answered.response
        assert await alice.respond(asked.id, InterruptResponse(text="again")) is None
        cancelled = await agent.cancel_or_raise(confirm.id, "changed my mind")
        assert (
            cancelled.status is InterruptStatus.CANCELLED
            and cancelled.data["cancel_reason"] == "changed my mind"
        )
        assert await agent.cancel(confirm.id) is None
        exhausted = await agent.create_resource_exhausted("r3", "alice", "s2", "gpu", 120)
        assert exhausted.data == {"resource_type": "gpu", "retry_after_seconds": 120}
        assert exhausted.expires_at is not None


async def test_the_remote_service_raises_the_same_typed_exceptions(api: Api) -> None:
    async with remote(api, "agent") as agent, remote(api, "alice") as alice, remote(api, "bob") as bob:
        asked = await agent.create_confirmation("r1", "alice", "s1", "Go?", idempotency_key="k")
        with pytest.raises(IdempotencyConflictError):
            await agent.create_confirmation("other", "alice", "s1", "Go?", idempotency_key="k")
        with pytest.raises(InvalidInterruptError) as invalid:
            await agent.create_interrupt(InterruptKind.CHECKPOINT, "r", "", "s")
        assert invalid.value.field == "user_id"
        with pytest.raises(InvalidInterruptError):
            await agent.create_resource_exhausted("r", "u", "s", "", 1)
        with pytest.raises(InvalidResponseError) as wrong:
            await alice.respond_or_raise(asked.id, InterruptResponse(text="yes"))
        assert wrong.value.field == "approved"
        with pytest.raises(InterruptNotFoundError):
            await bob.respond_or_raise(asked.id, InterruptResponse(approved=True))
        with pytest.raises(WaitTimeoutError):
            await agent.wait_for_response(asked.id, timeout=0)
        with pytest.raises(RemoteAuthError):
            await alice.cancel_or_raise(asked.id)
        await alice.respond_or_raise(asked.id, InterruptResponse(approved=True))
        with pytest.raises(InterruptNotPendingError) as not_pending:
            await agent.cancel_or_raise(asked.id)
        assert not_pending.value.status is InterruptStatus.RESOLVED
        due = await agent.create_interrupt(
            InterruptKind.CLARIFICATION, "r9", "alice", "s", question="late?", ttl=timedelta(0)
        )
        with pytest.raises(InterruptExpiredError):
            await alice.respond_or_raise(due.id, InterruptResponse(text="too late"))
        with pytest.raises(InterruptNotFoundError):
            await agent.wait_for_response("missing", timeout=1)
    async with RemoteInterruptService(api.base_url, "jct_wrong") as stranger:
        with pytest.raises(RemoteAuthError):
            await stranger.get_interrupt("x")
    async with RemoteInterruptService("http://127.0.0.1:1", "t") as nowhere:
        with pytest.raises(ServerUnavailableError):
            await nowhere.get_interrupt("x")


async def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The next `count` SSE messages of an open stream, as {id, event, data}."""
    found: list[dict[str, Any]] = []
    message: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            message["id"] = int(line[4:])
        elif line.startswith("event: "):
            message["event"] = line[7:]
        elif line.startswith("data: "):
            message["data"] = json.loads(line[6:])
        elif line == "" and message:
            found.append(message)
            message = {}
            if len(found) == count:
                return found
    raise AssertionError(f"stream ended after {found}")


async def test_event_stream_is_live_filtered_and_resumable(api: Api) -> None:
    async with remote(api, "agent") as agent, remote(api, "bob") as bob:
        bob_stream = api.client("bob")
        async with bob_stream.stream("GET", "/v1/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            await agent.create_clarification("ra", "alice", "s1", "for alice")
            mine = await agent.create_clarification("rb", "bob", "s2", "for bob")
            await bob.respond_or_raise(mine.id, InterruptResponse(text="done"))
            events = await read_events(response, 2)
        # Alice's interrupt never reaches bob's stream: his first event is his own.
        assert [(e["event"], e["data"]["interrupt"]["id"]) for e in events] == [
            ("interrupt.clarification_needed", mine.id),
            ("interrupt.resolved", mine.id),
        ]
        assert events[0]["id"] == events[0]["data"]["seq"] and events[1]["data"]["sequence"] == 2
        # Resuming after the first event replays only what came after it.
        admin = api.client("admin", **{"Last-Event-ID": str(events[0]["id"])})
        async with admin.stream("GET", "/v1/events?session_id=s2") as resumed:
            again = await read_events(resumed, 1)
        assert again[0]["event"] == "interrupt.resolved" and again[0]["id"] == events[1]["id"]
        # EventSource cannot send headers: the token may ride in the query string.
        anonymous = api.client()
        token = api.secrets["alice"]
        async with anonymous.stream("GET", f"/v1/events?access_token={token}&last_event_id=0") as query:
            first = await read_events(query, 1)
        assert first[0]["data"]["interrupt"]["user_id"] == "alice"


async def test_a_fresh_stream_starts_now_with_what_is_pending(api: Api) -> None:
    """No position given: no replay of history, a snapshot of what is pending (for this caller),
    then live changes; `?since=0` is the way to the whole journal, Last-Event-ID to resume."""
    async with remote(api, "agent") as agent, remote(api, "bob") as bob:
        done = await agent.create_clarification("r1", "bob", "s1", "answered before")
        await bob.respond_or_raise(done.id, InterruptResponse(text="yes"))
        waiting = await agent.create_clarification("r2", "bob", "s1", "still waiting")
        await agent.create_clarification("r3", "alice", "s1", "not bob's")
        async with api.client("bob").stream("GET", "/v1/events") as fresh:
            # Its start was fixed before the 200: a change made now is streamed after the snapshot.
            live = await agent.create_clarification("r4", "bob", "s1", "asked after")
            snapshot, created = await read_events(fresh, 2)
        assert snapshot["event"] == "interrupt.pending" and snapshot["data"]["interrupt"]["id"] == waiting.id
        assert snapshot["data"]["interrupt"]["status"] == "pending"
        assert created["event"] == "interrupt.clarification_needed"
        assert created["data"]["interrupt"]["id"] == live.id and created["id"] > snapshot["id"]
        # Resuming from the snapshot's position: no snapshot again, only what came after it.
        resume = api.client("bob", **{"Last-Event-ID": str(snapshot["id"])})
        async with resume.stream("GET", "/v1/events") as resumed:
            [again] = await read_events(resumed, 1)
        assert again["event"] == "interrupt.clarification_needed" and again["id"] == created["id"]
        # The whole journal, on request: bob's four events in commit order.
        async with api.client("bob").stream("GET", "/v1/events?since=0") as history:
            replayed = await read_events(history, 4)
        assert [(e["event"], e["data"]["interrupt"]["id"]) for e in replayed] == [
            ("interrupt.clarification_needed", done.id), ("interrupt.resolved", done.id),
            ("interrupt.clarification_needed", waiting.id), ("interrupt.clarification_needed", live.id),
        ]
    bad = await api.client("bob").get("/v1/events", params={"since": "-1"})
    assert bad.status_code == 422


async def test_event_stream_sends_keepalives(tmp_path: Path) -> None:
    from jeeves_control_tower.api import Settings

    settings = Settings(keepalive_seconds=0.01, sse_poll_seconds=0.01, manage_service=False)
    db = SQLiteDatabase(tmp_path / "k.db")
    async with (
        running_api(db, over_socket=True, settings=settings) as api,
        api.client("admin").stream("GET", "/v1/events") as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == ": connected"
        # Nothing happens on an empty journal, so the next line can only be a keepalive comment.
        assert await anext(lines) == ""
        assert await anext(lines) == ": keepalive"


async def test_a_due_interrupt_is_not_pending_over_http_either(tmp_path: Path) -> None:
    """The remote client's pending queries go through the listing: it must agree with the service."""
    async with running_api(SQLiteDatabase(tmp_path / "due.db"), over_socket=True) as api:
        due = await api.service.create_interrupt(
            InterruptKind.CLARIFICATION, "r1", "alice", "s1", question="q", ttl=timedelta(0))
        agent = api.client("agent")
        listed = (await agent.get("/v1/interrupts", params={"status": "pending"})).json()["items"]
        assert listed == []
        everything = (await agent.get("/v1/interrupts")).json()["items"]
        assert [(i["id"], i["status"]) for i in everything] == [(due.id, "expired")]
        async with RemoteInterruptService(api.base_url, api.secrets["agent"]) as remote:
            assert await remote.get_pending_for_request("r1") is None
            assert await remote.get_pending_for_session("s1") == []
