"""Two `jeeves serve` processes on one PostgreSQL work as one service."""

from __future__ import annotations

import asyncio
import json
import subprocess

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
