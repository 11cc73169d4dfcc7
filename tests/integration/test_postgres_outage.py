"""A PostgreSQL restart under load, on a throwaway cluster (never the shared server).

`jeeves serve` runs on the cluster, a few HTTP clients create and answer interrupts, and the
server is stopped (`pg_ctl stop -m fast`, then `-m immediate`), kept down ~2 s and started again.
Every reply must be a 2xx or a 503 problem with Retry-After (no plain-text 500, no dropped
connection, no request past its timeout); /readyz says 503 while the database is down and 200
soon after it is back; waiters started before the outage wake when answered after it, on the
serving instance and from a second instance; an event stream open across the outage ends with
a `: closed:` comment and resumes from its Last-Event-ID; every acknowledged create is stored; the expiry
sweeper and the webhook dispatcher log one line when an outage starts and one when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.postgres import PostgresDatabase
from jeeves_protocols import InterruptResponse, InterruptStatus, StoreError
from tests.conftest import IN_CI
from tests.support.serve_process import JEEVES, jeeves_serve
from tests.support.throwaway_pg import ThrowawayCluster, postgres_bin, throwaway_cluster

pytestmark = [pytest.mark.slow]

CLIENTS = 4
#: Each request's own bound: a reply later than this counts as a hang.
REQUEST_TIMEOUT = 10.0
OUTAGE_SECONDS = 2.0
#: How long /readyz may stay 503 after the server accepts connections again.
RECOVERY_BOUND = 10.0
#: Requests per mode, all clients together (bounds the run whatever the machine's speed).
MAX_REQUESTS = 4000


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    if postgres_bin() is None:
        message = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("SKIPPING POSTGRESQL RESTART TEST: " + message)
    with throwaway_cluster() as running:
        yield running


def make_token(dsn: str, user: str, role: str) -> str:
    done = subprocess.run(
        [str(JEEVES), "tokens", "create", "--user", user, "--role", role, "--json"],
        env={**os.environ, "JEEVES_DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        check=True,
    )
    token: str = json.loads(done.stdout)["token"]
    return token


@dataclass
class Reply:
    at: float
    operation: str
    status: int | str  # an int, or "dropped" / "timeout" for no reply
    took: float
    problem_ok: bool = True  # a 503 is a problem document with a code and Retry-After
    detail: str = ""


@dataclass
class Load:
    mode: str
    agent: str
    responder: str
    url: str
    replies: list[Reply] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, operation: str, started: float, response: httpx.Response) -> None:
        ok = True
        detail = ""
        if response.status_code == 503:
            ok = (
                response.headers.get("content-type", "").startswith("application/problem+json")
                and response.json().get("code") == "store_error"
                and response.headers.get("retry-after", "").isdigit()
            )
            detail = response.text[:200]
        elif response.status_code >= 300:
            detail = response.text[:300]
        self.replies.append(Reply(started, operation, response.status_code, time.monotonic() - started, ok, detail))

    async def client(self, number: int) -> None:
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=REQUEST_TIMEOUT,
                              headers={"Authorization": f"Bearer {self.agent}"}) as agent,
            httpx.AsyncClient(base_url=self.url, timeout=REQUEST_TIMEOUT,
                              headers={"Authorization": f"Bearer {self.responder}"}) as responder,
        ):
            serial = 0
            while not self.stop.is_set() and len(self.replies) < MAX_REQUESTS:
                serial += 1
                body = {"kind": "clarification", "request_id": f"load-{self.mode}-{number}-{serial}",
                        "user_id": "alice", "session_id": f"s{number}", "question": "Which?"}
                created = await self.call("create", agent, "POST", "/v1/interrupts", body)
                if created is None or created.status_code != 201:
                    await asyncio.sleep(0.02)  # a real client backs off (Retry-After); a short one here
                    continue
                interrupt_id = created.json()["id"]
                self.created.append(interrupt_id)
                answered = await self.call(
                    "respond", responder, "POST", f"/v1/interrupts/{interrupt_id}/respond", {"text": "this"}
                )
                if answered is not None and answered.status_code == 200:
                    self.resolved.append(interrupt_id)
                elif answered is not None:
                    await asyncio.sleep(0.02)

    async def call(
        self, operation: str, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = await client.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            self.replies.append(Reply(started, operation, "timeout", time.monotonic() - started, False, repr(exc)))
            return None
        except httpx.TransportError as exc:
            self.replies.append(Reply(started, operation, "dropped", time.monotonic() - started, False, repr(exc)))
            return None
        self.record(operation, started, response)
        return response


async def poll_ready(url: str, seen: list[tuple[float, int, bool]], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as client:
        while not stop.is_set():
            try:
                response = await client.get("/readyz")
                ok = response.status_code == 200 or (
                    response.headers.get("content-type", "").startswith("application/problem+json")
                    and "retry-after" in response.headers
                )
                seen.append((time.monotonic(), response.status_code, ok))
            except httpx.TransportError:
                seen.append((time.monotonic(), -1, False))
            await asyncio.sleep(0.05)


async def until(condition: Any, bound: float, what: str) -> None:
    """A bounded wait for something another process does."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound} s: {what}")
        await asyncio.sleep(0.02)


def drain(process: subprocess.Popen[str], output: list[str]) -> threading.Thread:
    """Keep reading the server's output (its log), so a full pipe never blocks it."""

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


async def follow_events(url: str, token: str, lines: list[str], last_event_id: int | None = None) -> str:
    """Read the event stream until it ends: "ended" when the server closed it, else the error."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    timeout = httpx.Timeout(REQUEST_TIMEOUT, read=30)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout) as client:
        try:
            async with client.stream("GET", "/v1/events") as response:
                assert response.status_code == 200, response.status_code
                async for line in response.aiter_lines():
                    lines.append(line)
        except httpx.TransportError as exc:
            return repr(exc)
    return "ended"


def last_id(lines: list[str]) -> int:
    return max(int(line[4:]) for line in lines if line.startswith("id: "))


async def one_outage(
    mode: str, cluster: ThrowawayCluster, url: str, agent: str, responder: str, other: InterruptService
) -> dict[str, Any]:
    headers_agent = {"Authorization": f"Bearer {agent}"}
    headers_responder = {"Authorization": f"Bearer {responder}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers_agent, timeout=60) as waiting_agent,
        httpx.AsyncClient(base_url=url, headers=headers_responder, timeout=REQUEST_TIMEOUT) as answering,
    ):
        # Three interrupts whose waiters start before the outage and are answered after it.
        ids = []
        for name in ("here", "to-other", "from-other"):
            created = await waiting_agent.post("/v1/interrupts", json={
                "kind": "clarification", "request_id": f"wait-{mode}-{name}", "user_id": "alice",
                "session_id": "waiters", "question": "Still there?"})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        here, to_other, from_other = ids
        # Long-polls on the serving instance; a wait_for_response on the second instance.
        wait_here = asyncio.create_task(waiting_agent.get(f"/v1/interrupts/{here}/wait?timeout=60"))
        wait_to_other = asyncio.create_task(waiting_agent.get(f"/v1/interrupts/{to_other}/wait?timeout=60"))
        wait_on_other = asyncio.create_task(other.wait_for_response(from_other, timeout=60))

        # An event stream open across the outage must end cleanly (a `: closed:` comment), never
        # torn, and resume from its Last-Event-ID afterwards.
        stream: list[str] = []
        streaming = asyncio.create_task(follow_events(url, agent, stream))
        load = Load(mode, agent, responder, url)
        ready: list[tuple[float, int, bool]] = []
        clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
        poller = asyncio.create_task(poll_ready(url, ready, load.stop))
        await until(lambda: len(load.resolved) >= 100, 30, "100 answered interrupts before the outage")

        stopping = time.monotonic()
        await asyncio.to_thread(cluster.stop, mode)
        down = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        await until(lambda: any(at > down and status == 503 for at, status, _ in ready), 5, "/readyz 503")
        assert await asyncio.wait_for(streaming, 10) == "ended", stream[-5:]
        assert any(line.startswith(": closed: ") for line in stream), stream[-5:]
        starting = time.monotonic()
        await asyncio.to_thread(cluster.start)
        up = time.monotonic()
        await until(lambda: any(at > up and status == 200 for at, status, _ in ready), RECOVERY_BOUND,
                    "/readyz 200 after the restart")
        recovered = next(at for at, status, _ in ready if at > up and status == 200)
        resolved_before = len(load.resolved)
        await until(lambda: len(load.resolved) >= resolved_before + 100, 30, "the load resuming")
        load.stop.set()
        await asyncio.gather(*clients, poller)
        seen = last_id(stream)
        resumed: list[str] = []
        resuming = asyncio.create_task(follow_events(url, agent, resumed, seen))
        await until(lambda: any(line.startswith("id: ") for line in resumed), 10, "the stream resuming")
        resuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await resuming
        assert last_id(resumed) > seen

        # Answered after the outage: here -> here, other -> here's waiter, here -> other's waiter.
        assert (await answering.post(f"/v1/interrupts/{here}/respond", json={"text": "yes"})).status_code == 200
        await other.respond(to_other, InterruptResponse(text="yes"), "alice")
        assert (await answering.post(f"/v1/interrupts/{from_other}/respond", json={"text": "yes"})).status_code == 200
        for task in (wait_here, wait_to_other):
            result = await asyncio.wait_for(task, 15)
            assert result.status_code == 200, result.text
            assert result.json()["status"] == "resolved"
        assert (await asyncio.wait_for(wait_on_other, 15)).status is InterruptStatus.RESOLVED

        # Nothing acknowledged is lost.
        for interrupt_id in load.created:
            stored = await other.get_interrupt(interrupt_id)
            assert stored is not None, f"{interrupt_id} was acknowledged (201) but is not stored"
        for interrupt_id in load.resolved:
            stored = await other.get_interrupt(interrupt_id)
            assert stored is not None and stored.status is InterruptStatus.RESOLVED, interrupt_id
        # A 503 create may still have committed (the link was lost after the commit, before the
        # reply): stored, never acknowledged. Counted, not forbidden: that is what retrying with
        # an idempotency key is for.
        connection = await asyncpg.connect(cluster.dsn)
        try:
            stored_total = await connection.fetchval(
                "SELECT count(*) FROM jeeves_interrupts WHERE request_id LIKE $1", f"load-{mode}-%")
        finally:
            await connection.close()

    during = [r for r in load.replies if stopping <= r.at <= recovered]
    print(f"\n{mode}: during the outage {dict(Counter(str(r.status) for r in during))},"
          f" all {dict(Counter(str(r.status) for r in load.replies))}, recovered {recovered - up:.3f} s after start")
    bad = [r for r in load.replies if not (isinstance(r.status, int) and (r.status < 300 or (r.status == 503 and r.problem_ok)))]
    assert not bad, f"{mode}: {len(bad)} replies neither 2xx nor a 503 problem: {bad[:5]}"
    ready_bad = [entry for entry in ready if not entry[2]]
    assert not ready_bad, f"{mode}: /readyz answers neither 200 nor a 503 problem: {ready_bad[:5]}"
    assert all(status == 503 for at, status, _ in ready if down <= at <= starting), "/readyz 200 while down"
    return {
        "mode": mode,
        "requests": len(load.replies),
        "during_outage_by_status": dict(Counter(str(r.status) for r in during)),
        "all_by_status": dict(Counter(str(r.status) for r in load.replies)),
        "outage_seconds": round(up - stopping, 2),
        "recover_seconds_after_start": round(recovered - up, 3),
        "slowest_reply_seconds": round(max(r.took for r in load.replies), 3),
        "created": len(load.created),
        "resolved": len(load.resolved),
        "stored_without_2xx": stored_total - len(load.created),
        "stream_closed_with": next(line for line in stream if line.startswith(": closed: ")),
    }


async def test_postgres_restart_under_load_is_a_clean_503_and_loses_nothing(cluster: ThrowawayCluster) -> None:
    agent = make_token(cluster.dsn, "agent-bot", "agent")
    responder = make_token(cluster.dsn, "alice", "responder")
    serve = [str(JEEVES), "serve", "--port", "0", "--database-url", cluster.dsn, "--sweep-interval", "1"]
    other = InterruptService(PostgresDatabase(cluster.dsn), sweep_interval=0)
    await other.start()
    results = []
    try:
        with jeeves_serve(serve) as served:
            reader = drain(served.process, served.output)
            for mode in ("fast", "immediate"):
                results.append(await one_outage(mode, cluster, served.url, agent, responder, other))
            # Each loop retries once per interval (1 s): the last outage may end less than an
            # interval before the load does, so wait for both to say they are back before stopping.
            await until(lambda: "".join(served.output).count('"store_recovered"') >= 4, 10,
                        "the sweeper and the dispatcher recovering from the second outage")
            served.process.terminate()
            served.process.wait(timeout=15)
            reader.join(timeout=5)
            log = "".join(served.output)
    finally:
        with contextlib.suppress(StoreError):
            await other.stop()
    print("\nPostgreSQL restart under load:")
    for result in results:
        print("  ", json.dumps(result))
    assert "Traceback" not in log, log[-5000:]
    for component in ("expiry_sweeper", "webhook_dispatcher"):
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and component in line]
        events = [line["event"] for line in lines if line.get("component") == component]
        assert events == ["store_unavailable", "store_recovered"] * 2, (component, events)
