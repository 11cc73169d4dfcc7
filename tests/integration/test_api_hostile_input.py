"""Bad input as a class, through the HTTP API on SQLite, a real socket and PostgreSQL: any string
content, any JSON depth, any number, any header size. Each gets a typed 4xx problem, and
nothing is written: the store holds exactly what it held before, and every listing still works.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jeeves_control_tower.api.server import MAX_BODY_BYTES, MAX_HEADER_BYTES, ProblemH11Protocol
from jeeves_control_tower.services import validation as check
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.api_server import Api, running_api

PROBLEM = "application/problem+json"
HUGE = 2**70  # past any 64-bit column or C long

TEXTS = {
    "nul": "a\x00b",
    "only NUL": "\x00",
}
ID_FIELDS = ("request_id", "user_id", "session_id", "envelope_id", "idempotency_key")
TEXT_FIELDS = ("question", "message")


@pytest.fixture(
    params=["sqlite", "sqlite-over-socket", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, bool]:
    if request.param == "postgres":
        return PostgresDatabase(request.getfixturevalue("pg_dsn")), False
    return SQLiteDatabase(tmp_path / "hostile.db"), request.param.endswith("socket")


@pytest.fixture
async def api(setup: tuple[Any, bool]) -> AsyncIterator[Api]:
    db, over_socket = setup
    async with running_api(db, over_socket=over_socket) as running:
        yield running


def body(**extra: Any) -> dict[str, Any]:
    return {"kind": "clarification", "request_id": "r", "user_id": "alice", "session_id": "s", **extra}


def raw(**fields: str) -> str:
    """A create body as JSON text, with `fields` spliced in as raw JSON (what json.dumps cannot write)."""
    base = {name: json.dumps(value) for name, value in body().items() if name not in fields}
    return "{" + ", ".join(f'"{name}": {value}' for name, value in {**base, **fields}.items()) + "}"


async def post_raw(client: httpx.AsyncClient, url: str, text: str) -> httpx.Response:
    return await client.post(url, content=text.encode("utf-8"), headers={"content-type": "application/json"})


def nested(depth: int) -> dict[str, Any]:
    """A `data` object `depth` levels deep (the object itself is level 1)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def refused(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A typed problem document with one of `statuses` (422 unless told)."""
    assert response.status_code in (statuses or (422,)), (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith(PROBLEM)
    doc: dict[str, Any] = response.json()
    assert doc["status"] == response.status_code and doc["code"] and doc["detail"]
    return doc


async def everything(api: Api) -> list[dict[str, Any]]:
    """Every stored interrupt, through the listing a responder's inbox uses: it must keep working."""
    listing = await api.client("admin").get("/v1/interrupts", params={"limit": 500})
    assert listing.status_code == 200, listing.text
    items: list[dict[str, Any]] = listing.json()["items"]
    return items


async def test_a_nul_or_lone_surrogate_anywhere_in_a_create_is_refused_and_nothing_is_written(api: Api) -> None:
    agent = api.client("agent")
    cases: list[tuple[str, dict[str, Any]]] = []
    for name in (*ID_FIELDS, *TEXT_FIELDS):
        for label, text in TEXTS.items():
            cases.append((f"{name} {label}", body(**{name: text})))
    cases += [
        ("data value", body(data={"note": "x\x00y"})),
        ("data key", body(data={"k\x00": 1})),
        ("data deep value", body(data={"a": [{"b": ["ok", "\x00"]}]})),
        ("data deep key", body(data={"a": {"b": {"\x00": True}}})),
    ]
    for label, payload in cases:
        doc = refused(await agent.post("/v1/interrupts", json=payload))
        assert doc["code"] == "invalid_input", label
        assert "NUL" in doc["detail"] or "pattern" in doc["detail"].lower() or "match" in doc["detail"], (
            label,
            doc,
        )
    # JSON text that is valid UTF-8 cannot hold a lone surrogate, but an escape can: "\ud800".
    for fields in ({"request_id": '"x\\ud800"'}, {"question": '"x\\udc00y"'}, {"data": '{"k": "\\udfff"}'}):
        refused(await post_raw(agent, "/v1/interrupts", raw(**fields)))
    assert await everything(api) == []


async def test_any_json_depth_is_refused_before_anything_is_written(api: Api) -> None:
    agent = api.client("agent")
    # Just past the documented limit, the few hundred levels of the original report (a 2 KB body),
    # and far past what a recursive parser survives.
    for depth in (check.MAX_DATA_DEPTH + 1, 300, 600, 5_000, 100_000):
        deep = '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
        doc = refused(await post_raw(agent, "/v1/interrupts", raw(data=deep)), 400, 422)
        assert doc["code"] == "invalid_input", depth
    # An array nest is the same, and so is a deep value inside a shallow object.
    deep = '{"list": ' + "[" * 400 + "]" * 400 + "}"
    refused(await post_raw(agent, "/v1/interrupts", raw(data=deep)), 400, 422)
    assert await everything(api) == []
    # The limit itself is accepted, and the listing that holds it is served.
    made = await agent.post("/v1/interrupts", json=body(data=nested(check.MAX_DATA_DEPTH)))
    assert made.status_code == 201, made.text
    assert [item["id"] for item in await everything(api)] == [made.json()["id"]]


async def test_a_bad_answer_leaves_the_interrupt_pending(api: Api) -> None:
    made = await api.client("agent").post("/v1/interrupts", json=body(question="Which?"))
    interrupt_id = made.json()["id"]
    alice = api.client("alice")
    url = f"/v1/interrupts/{interrupt_id}/respond"
    for answer in (
        {"text": "a\x00"},
        {"text": "ok", "data": {"k": "\x00"}},
        {"text": "ok", "data": {"\x00": 1}},
        {"text": "ok", "data": nested(check.MAX_DATA_DEPTH + 1)},
        {"text": "x" * (check.MAX_TEXT_LENGTH + 1)},
    ):
        refused(await alice.post(url, json=answer))
    for depth in (300, 50_000):
        refused(await post_raw(alice, url, '{"text": "ok", "data": ' + '{"a":' * depth + "1" + "}" * depth + "}"), 400, 422)
    cancel = f"/v1/interrupts/{interrupt_id}/cancel"
    refused(await api.client("agent").post(cancel, json={"reason": "why\x00"}))
    (stored,) = await everything(api)
    assert stored["status"] == "pending" and stored["response"] is None
    assert stored["data"] == {}
    # And it can still be answered properly.
    answered = await alice.post(url, json={"text": "This one"})
    assert answered.status_code == 200 and answered.json()["status"] == "resolved"


async def test_any_number_is_refused_typed(api: Api) -> None:
    admin, agent = api.client("admin"), api.client("agent")
    for ttl in (str(HUGE), str(-HUGE), "1e308", "-1", str(check.MAX_TTL_SECONDS + 1), "NaN", "Infinity", "true", '"60"'):
        refused(await post_raw(agent, "/v1/interrupts", raw(ttl_seconds=ttl)))
    refused(await post_raw(agent, "/v1/interrupts", raw(ttl_seconds="1e999")), 400, 422)  # Python reads inf
    for limit in (0, -1, HUGE, -HUGE, "1e3", "abc", 501):
        refused(await admin.get("/v1/interrupts", params={"limit": limit}))
    for cursor in ("=" * 300, "%00", "\x00", "a" * 256, "!!!", str(HUGE)):
        refused(await admin.get("/v1/interrupts", params={"cursor": cursor}))
    made = await agent.post("/v1/interrupts", json=body())
    url = f"/v1/interrupts/{made.json()['id']}/wait"
    for timeout in (HUGE, -1, -HUGE, "inf", "nan", "1e999", 301):
        refused(await admin.get(url, params={"timeout": timeout}))
    for position in (str(2**63), str(2**64), str(HUGE), "-1", "1e3", " 1", "+1", "0x10", "\uff11"):
        refused(await admin.get("/v1/events", params={"last_event_id": position}))
        if position.isascii() and position == position.strip():  # what a header can carry
            refused(await admin.get("/v1/events", headers={"Last-Event-ID": position}))
    for name in ("user_id", "session_id", "request_id"):
        assert refused(await admin.get("/v1/interrupts", params={name: "a\x00b"}))["field"] == name
    for name in ("user_id", "session_id"):
        refused(await admin.get("/v1/events", params={name: "\x00"}))
    broken = await post_raw(agent, "/v1/interrupts", '{"kind":')
    doc = refused(broken, 400)
    assert doc["field"] is None and "not valid JSON" in doc["detail"], doc
    assert [item["status"] for item in await everything(api)] == ["pending"]


async def test_huge_headers_and_bodies_are_refused_without_a_5xx(api: Api) -> None:
    agent = api.client("agent")
    # A body far past every limit: the size check answers before anything is stored.
    fat = body(data={"blob": "x" * (check.MAX_DATA_BYTES + 1)})
    refused(await agent.post("/v1/interrupts", json=fat))
    wide = body(data={f"k{i}": i for i in range(30_000)})  # past 256 KiB of data, under the body bound
    refused(await agent.post("/v1/interrupts", json=wide))
    # A body past MAX_BODY_BYTES is refused unread, declared by Content-Length or chunked.
    oversized = json.dumps(body(question="x" * MAX_BODY_BYTES)).encode()
    doc = refused(await post_raw(agent, "/v1/interrupts", oversized.decode()), 413)
    assert doc["code"] == "body_too_large"

    async def chunks() -> Any:
        for start in range(0, len(oversized), 64 * 1024):
            yield oversized[start : start + 64 * 1024]

    chunked = await agent.post("/v1/interrupts", content=chunks(), headers={"content-type": "application/json"})
    assert refused(chunked, 413)["code"] == "body_too_large"
    # Every field at its limit still fits under the bound, and is accepted.
    near = json.dumps(body(data={"blob": "x" * (check.MAX_DATA_BYTES - 20)}, question="q" * check.MAX_TEXT_LENGTH))
    assert len(near) < MAX_BODY_BYTES
    made = await post_raw(agent, "/v1/interrupts", near)
    assert made.status_code == 201, made.text
    await agent.post(f"/v1/interrupts/{made.json()['id']}/cancel", json={})
    # Headers past the bound: refused whole (431) when they arrive at once, and cut off by the
    # parser (400) when they keep coming, so no client makes the server buffer without end.
    for headers in ({"X-Padding": "x" * (MAX_HEADER_BYTES + 1)}, {f"X-H{i}": "y" * 100 for i in range(400)}):
        doc = refused(await agent.get("/v1/interrupts", headers=headers), 431)
        assert doc["code"] == "headers_too_large"
    refused(await agent.get("/v1/interrupts", params={"session_id": "s" * MAX_HEADER_BYTES}), 431, 422)
    if not api.base_url.startswith("http://test"):  # what only a real HTTP parser sees
        for size in (200_000, 5_000_000):
            try:
                response = await agent.get("/v1/interrupts", headers={"X-Padding": "x" * size})
            except httpx.RemoteProtocolError:
                pytest.fail("the server dropped the connection instead of answering")
            doc = refused(response, 400, 431)
            assert doc["code"] in ("headers_too_large", "invalid_http_request")
        async with httpx.AsyncClient(base_url=api.base_url) as raw_client:
            # Not HTTP at all: still a problem document.
            reader, writer = await asyncio.open_connection(*api.base_url[7:].split(":"))
            writer.write(b"GARBAGE\x00 / HTTP/9\r\n\r\n")
            await writer.drain()
            reply = await reader.read()
            writer.close()
            assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
            assert b"application/problem+json" in reply and b"invalid_http_request" in reply
            assert (await raw_client.get("/healthz")).status_code == 200
    # A huge bearer token is just a wrong one.
    response = await api.client(Authorization="Bearer " + "t" * 20_000).get("/v1/interrupts")
    assert refused(response, 401)["code"]
    assert [item["status"] for item in await everything(api)] == ["cancelled"]


@pytest.fixture
def quick_header_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(ProblemH11Protocol, "header_timeout", 0.5)
    return 0.5


@pytest.mark.parametrize("sent", [b"", b"GET /v1/me HTTP/1.1\r\nHost: x\r\n", b"GET /\r\n"])
async def test_a_request_that_stalls_before_its_headers_end_is_closed_with_a_408(
    tmp_path: Path, quick_header_clock: float, sent: bytes
) -> None:
    async with running_api(SQLiteDatabase(tmp_path / "slow.db"), over_socket=True) as api:
        host, port = api.base_url[7:].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(sent)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout=quick_header_clock * 20)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        assert b"application/problem+json" in reply and b"request_timeout" in reply
        # A client that keeps pace is not cut off: a keep-alive connection serves request after
        # request, each well within the clock.
        async with httpx.AsyncClient(base_url=api.base_url) as client:
            for _ in range(3):
                assert (await client.get("/healthz")).status_code == 200
                await asyncio.sleep(quick_header_clock / 2)


async def test_a_body_that_stalls_is_closed_with_a_408(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProblemH11Protocol, "body_timeout", 0.5)
    async with running_api(SQLiteDatabase(tmp_path / "slow-body.db"), over_socket=True) as api:
        host, port = api.base_url[7:].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            "POST /v1/interrupts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api.secrets['agent']}\r\nContent-Length: 100\r\n\r\n"
        )
        writer.write(head.encode() + b'{"kind": "clar')  # then nothing more
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        assert b"request_timeout" in reply and b"request body" in reply
        # A body that keeps pace is read whole, and nothing of the stalled one was stored.
        agent = api.client("agent")
        made = await agent.post("/v1/interrupts", json=body())
        assert made.status_code == 201
        assert [item["id"] for item in await everything(api)] == [made.json()["id"]]
