"""Two `jeeves serve` processes on one PostgreSQL work as one service."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from tests.support.serve_process import JEEVES, jeeves_serve

pytestmark = pytest.mark.postgres


def make_token(dsn: str, user: str, role: str) -> str:
    done = subprocess.run(
        [str(JEEVES), "tokens", "create", "--user", user, "--role", role, "--json"],
        env={"JEEVES_DATABASE_URL": dsn, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    token: str = json.loads(done.stdout)["token"]
    return token


async def test_create_on_a_answer_on_b_wakes_the_long_poll_and_the_stream_on_a(pg_dsn: str) -> None:
    agent = make_token(pg_dsn, "agent-bot", "agent")
    alice = make_token(pg_dsn, "alice", "responder")
    serve = [str(JEEVES), "serve", "--port", "0", "--database-url", pg_dsn, "--sweep-interval", "1"]
    with jeeves_serve(serve) as a, jeeves_serve(serve) as b:
        assert a.admin_token is None and b.admin_token is None  # tokens already existed
        async with (
            httpx.AsyncClient(
                base_url=a.url, headers={"Authorization": f"Bearer {agent}"}, timeout=30
            ) as on_a,
            httpx.AsyncClient(
                base_url=b.url, headers={"Authorization": f"Bearer {alice}"}, timeout=30
            ) as on_b,
            on_a.stream("GET", "/v1/events?user_id=alice") as stream,
        ):
            created = await on_a.post(
                "/v1/interrupts",
                json={
                    "kind": "clarification",
                    "request_id": "r1",
                    "user_id": "alice",
                    "session_id": "s1",
                    "question": "Which?",
                },
            )
            assert created.status_code == 201
            interrupt_id = created.json()["id"]
            waiting = asyncio.create_task(on_a.get(f"/v1/interrupts/{interrupt_id}/wait?timeout=60"))
            # B sees what A created (one database) and answers it.
            assert (await on_b.get(f"/v1/interrupts/{interrupt_id}")).json()["status"] == "pending"
            answered = await on_b.post(f"/v1/interrupts/{interrupt_id}/respond", json={"text": "that one"})
            assert answered.status_code == 200
            result = await waiting
            assert result.status_code == 200
            assert result.json()["response"] == {
                **result.json()["response"],
                "text": "that one",
                "responder_id": "alice",
            }
            seen: list[str] = []
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    seen.append(line[7:])
                if "interrupt.resolved" in seen:
                    break
            assert seen == ["interrupt.clarification_needed", "interrupt.resolved"]
            # Answering again through A is refused: the state is shared, not per process.
            async with httpx.AsyncClient(
                base_url=a.url, headers={"Authorization": f"Bearer {alice}"}
            ) as alice_a:
                again = await alice_a.post(f"/v1/interrupts/{interrupt_id}/respond", json={"text": "other"})
            assert again.status_code == 409 and again.json()["current_status"] == "resolved"


class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint on loopback that records each delivery's webhook-id."""

    received: ClassVar[list[str]] = []
    enough = threading.Event()
    expected = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append(self.headers["webhook-id"])
        if len(type(self).received) >= type(self).expected:
            type(self).enough.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


async def test_sweeper_and_dispatcher_do_each_job_once_across_instances(pg_dsn: str) -> None:
    admin = make_token(pg_dsn, "root", "admin")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    _Receiver.received, _Receiver.enough = [], threading.Event()
    _Receiver.expected = 4  # two interrupts: created + expired, created + resolved
    serve = [
        str(JEEVES),
        "serve",
        "--port",
        "0",
        "--database-url",
        pg_dsn,
        "--sweep-interval",
        "0.2",
        "--webhook-allow-network",
        "127.0.0.0/8",
    ]
    try:
        with jeeves_serve(serve) as a, jeeves_serve(serve) as b:
            headers = {"Authorization": f"Bearer {admin}"}
            async with (
                httpx.AsyncClient(base_url=a.url, headers=headers, timeout=30) as on_a,
                httpx.AsyncClient(base_url=b.url, headers=headers, timeout=30) as on_b,
            ):
                hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
                assert (await on_a.post("/v1/webhooks", json={"url": hook})).status_code == 201
                base = {"kind": "clarification", "user_id": "alice", "session_id": "s9", "question": "q"}
                short = (
                    await on_a.post("/v1/interrupts", json={**base, "request_id": "r1", "ttl_seconds": 0.5})
                ).json()
                kept = (await on_b.post("/v1/interrupts", json={**base, "request_id": "r2"})).json()
                # Both instances wait on the short one; it expires exactly once, by whoever is first.
                waits = await asyncio.gather(
                    on_a.get(f"/v1/interrupts/{short['id']}/wait?timeout=30"),
                    on_b.get(f"/v1/interrupts/{short['id']}/wait?timeout=30"),
                )
                assert [w.json()["status"] for w in waits] == ["expired", "expired"]
                assert (
                    await on_b.post(f"/v1/interrupts/{kept['id']}/respond", json={"text": "x"})
                ).status_code == 200
                assert await asyncio.to_thread(_Receiver.enough.wait, 30)
                deliveries = (await on_a.get("/v1/webhooks/deliveries?limit=500")).json()["items"]
        # Each journal event was fanned out to one delivery and sent once, though both ran a dispatcher.
        assert len(deliveries) == 4 and len({d["event_id"] for d in deliveries}) == 4
        assert sorted(d["event_type"] for d in deliveries) == sorted(
            ["interrupt.clarification_needed"] * 2 + ["interrupt.expired", "interrupt.resolved"]
        )
        assert len(_Receiver.received) == len(set(_Receiver.received)) == 4
    finally:
        receiver.shutdown()
        receiver.server_close()
