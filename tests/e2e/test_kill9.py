"""kill -9 under load: `jeeves serve` is SIGKILLed at random moments while clients create,
answer and cancel interrupts over HTTP and a webhook receiver verifies every delivery.

Restarted each time on the same database, then run once more to the end. After that:
- every operation that got a 2xx is stored with that outcome (nothing acknowledged is lost);
- every committed journal event reached the receiver at least once, correctly signed, and
  nothing reached it that was not committed;
- no interrupt has two terminal events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from jeeves_control_tower.store.base import TERMINAL_EVENT_TYPES
from tests.support.serve_process import JEEVES, Served, jeeves_serve, keep_reading
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.slow

KILLS = 5
CLIENTS = 4
#: Bounds of the load: at most this many interrupts per server run (so at most 6 x 100 per store:
#: a run never finds the clients done early), and this long per run.
INTERRUPTS_PER_RUN = 100
RUN_SECONDS = (0.6, 1.4)
#: A claimed delivery the killed server was sending goes out again once its lease runs out: a
#: short lease (and attempt timeout) keep the final drain within seconds instead of a minute.
LEASE_SECONDS = 2.0
DRAIN_SECONDS = 20.0
TERMINAL = set(TERMINAL_EVENT_TYPES.values())


@dataclass
class Load:
    """What the clients were told, by outcome. Only a 2xx is an acknowledgement."""

    url: str = ""
    token: str = ""
    stop: bool = False
    created: set[str] = field(default_factory=set)
    resolved: dict[str, str] = field(default_factory=dict)  # interrupt id -> the answer's text
    cancelled: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)  # "201", "200", "transport error", ...
    started: int = 0
    budget: int = 0  # the clients create until this many are acknowledged, then wait for more

    def allow_more(self) -> None:
        self.budget = len(self.created) + INTERRUPTS_PER_RUN

    def acknowledged(self) -> int:
        return len(self.created) + len(self.resolved) + len(self.cancelled)


async def client(load: Load, number: int) -> None:
    rng = random.Random(number)
    async with httpx.AsyncClient(timeout=5) as http:
        while not load.stop:
            if len(load.created) >= load.budget:
                await asyncio.sleep(0.01)
                continue
            load.started += 1
            n = load.started
            headers = {"Authorization": f"Bearer {load.token}"}
            body = {"kind": "clarification", "request_id": f"req-{n}", "user_id": "alice",
                    "session_id": f"s{number}", "question": f"question {n}?"}
            created = await _call(load, http, "POST", "/v1/interrupts", headers, body)
            if created is None or created.status_code != 201:
                continue
            interrupt_id = created.json()["id"]
            load.created.add(interrupt_id)
            if rng.random() < 0.7:
                text = f"answer {n}"
                answered = await _call(load, http, "POST", f"/v1/interrupts/{interrupt_id}/respond",
                                       headers, {"text": text})
                if answered is not None and answered.status_code == 200:
                    load.resolved[interrupt_id] = text
            else:
                cancelled = await _call(load, http, "POST", f"/v1/interrupts/{interrupt_id}/cancel",
                                        headers, {"reason": "not needed"})
                if cancelled is not None and cancelled.status_code == 200:
                    load.cancelled.add(interrupt_id)


async def _call(
    load: Load, http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response | None:
    """One request; None when no reply came (the server died or is restarting: outcome unknown)."""
    try:
        response = await http.request(method, load.url + path, headers=headers, json=body)
    except httpx.TransportError:
        load.statuses["no reply"] += 1
        await asyncio.sleep(0.05)  # the server is down or coming back: a short pause, not a spin
        return None
    load.statuses[str(response.status_code)] += 1
    return response


@dataclass
class Server:
    manager: contextlib.AbstractContextManager[Served]
    served: Served
    reader: threading.Thread

    @classmethod
    async def start(cls, command: list[str]) -> Server:
        # Started off the event loop: the receiver keeps answering deliveries meanwhile.
        manager = jeeves_serve(command)
        served = await asyncio.to_thread(manager.__enter__)
        return cls(manager, served, keep_reading(served))

    async def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        """Signal the server, wait for it to exit and for its output to end, then clean up."""
        self.served.process.send_signal(how)
        await asyncio.to_thread(self.served.process.wait, 20)
        await asyncio.to_thread(self.reader.join, 5)
        await asyncio.to_thread(self.manager.__exit__, None, None, None)


async def stored(target: str) -> tuple[dict[str, tuple[str, Any]], list[tuple[str, str, int]]]:
    """Every interrupt's (status, response) and every journal row, read straight from the database."""
    if target.startswith("postgresql://"):
        import asyncpg

        connection = await asyncpg.connect(target)
        try:
            interrupts = await connection.fetch("SELECT id, status, response FROM jeeves_interrupts")
            events = await connection.fetch("SELECT interrupt_id, event_type, sequence FROM jeeves_interrupt_events")
        finally:
            await connection.close()
    else:
        with contextlib.closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as connection:
            interrupts = connection.execute("SELECT id, status, response FROM jeeves_interrupts").fetchall()
            events = connection.execute("SELECT interrupt_id, event_type, sequence FROM jeeves_interrupt_events").fetchall()
    by_id = {}
    for interrupt_id, status, response in interrupts:
        by_id[interrupt_id] = (status, json.loads(response) if isinstance(response, str) else response)
    return by_id, [(i, t, s) for i, t, s in events]


async def kill_loop(target: str) -> dict[str, Any]:
    command = [str(JEEVES), "serve", "--port", "0", "--database-url", target, "--sweep-interval", "1",
               "--webhook-allow-network", "127.0.0.0/8", "--webhook-timeout", str(LEASE_SECONDS / 2),
               "--webhook-lease", str(LEASE_SECONDS)]
    rng = random.Random(11)
    load = Load()
    async with Receiver() as receiver:
        server = await Server.start(command)
        try:
            assert server.served.admin_token is not None
            load.url, load.token = server.served.url, server.served.admin_token
            async with httpx.AsyncClient(base_url=load.url, timeout=10) as http:
                subscribed = await http.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]},
                                             headers={"Authorization": f"Bearer {load.token}"})
            assert subscribed.status_code == 201, subscribed.text
            secret = subscribed.json()["secret"]

            clients = [asyncio.create_task(client(load, n)) for n in range(CLIENTS)]
            kills = 0
            try:
                for _ in range(KILLS):
                    load.allow_more()
                    before = load.acknowledged()
                    deadline = time.monotonic() + rng.uniform(*RUN_SECONDS)
                    # A random moment, but one after this run acknowledged something, and while the
                    # clients still have work (so requests are in flight when the server dies).
                    while (
                        time.monotonic() < deadline and len(load.created) < load.budget - CLIENTS
                    ) or load.acknowledged() == before:
                        assert time.monotonic() < deadline + 15, f"nothing acknowledged in 15 s: {load.statuses}"
                        await asyncio.sleep(0.02)
                    await server.stop(signal.SIGKILL)
                    kills += 1
                    server = await Server.start(command)
                    load.url = server.served.url
                # The final run: a little more load, then let every delivery go out.
                load.allow_more()
                before, deadline = load.acknowledged(), time.monotonic() + 15
                while load.acknowledged() < before + 20:
                    assert time.monotonic() < deadline, f"nothing acknowledged in 15 s: {load.statuses}"
                    await asyncio.sleep(0.02)
            finally:
                load.stop = True
                await asyncio.gather(*clients)

            deadline = time.monotonic() + DRAIN_SECONDS
            while True:
                interrupts, events = await stored(target)
                committed = {f"evt_{i}_{s}" for i, _t, s in events}
                received = {request.headers["webhook-id"] for request in receiver.requests}
                if committed <= received or time.monotonic() > deadline:
                    break
                receiver.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receiver.arrived.wait(), timeout=0.5)
        finally:
            await server.stop()
        interrupts, events = await stored(target)  # after a clean stop: nothing more can commit

    verifier = Webhook(secret)
    bad_signatures = 0
    for request in receiver.requests:
        try:
            verifier.verify(request.body, request.headers)
        except Exception:
            bad_signatures += 1
    lost = [i for i in load.created if i not in interrupts]
    lost += [i for i, text in load.resolved.items()
             if interrupts.get(i, ("", None))[0] != "resolved" or (interrupts[i][1] or {}).get("text") != text]
    lost += [i for i in load.cancelled if interrupts.get(i, ("", None))[0] != "cancelled"]
    terminal = Counter(i for i, event_type, _s in events if event_type in TERMINAL)
    committed = {f"evt_{i}_{s}" for i, _t, s in events}
    received = {request.headers["webhook-id"] for request in receiver.requests}
    return {
        "kills": kills,
        "acknowledged": load.acknowledged(),
        "acknowledged creates / answers / cancels": (len(load.created), len(load.resolved), len(load.cancelled)),
        "lost": lost,
        "replies": dict(load.statuses),
        "interrupts stored": len(interrupts),
        "events committed": len(committed),
        "events delivered": len(committed & received),
        "undelivered": sorted(committed - received),
        "delivered but never committed": sorted(received - committed),
        "deliveries": len(receiver.requests),
        "duplicates": len(receiver.requests) - len(received),
        "bad signatures": bad_signatures,
        "twice terminal": [i for i, count in terminal.items() if count > 1],
    }


def check(figures: dict[str, Any], store: str) -> None:
    print(f"\nkill -9 loop on {store}: " + "; ".join(f"{k} {v}" for k, v in figures.items()
                                                    if k not in ("lost", "undelivered")))
    assert figures["kills"] == KILLS
    assert figures["acknowledged"] > 0
    assert figures["lost"] == [], f"{len(figures['lost'])} acknowledged operations lost"
    assert figures["undelivered"] == [], f"{len(figures['undelivered'])} committed events never delivered"
    assert figures["delivered but never committed"] == []
    assert figures["bad signatures"] == 0
    assert figures["twice terminal"] == []
    assert not any(status.startswith("5") for status in figures["replies"]), figures["replies"]


async def test_kill9_loop_loses_nothing_on_sqlite(tmp_path: Path) -> None:
    check(await kill_loop(str(tmp_path / "kill9.db")), "SQLite")


async def test_kill9_loop_loses_nothing_on_postgres(pg_dsn: str) -> None:
    check(await kill_loop(pg_dsn), "PostgreSQL")


def test_serve_refuses_a_lease_no_longer_than_the_attempt_timeout(tmp_path: Path) -> None:
    # Otherwise a slow attempt's claim would run out mid-request and another instance send it too.
    completed = subprocess.run(
        [str(JEEVES), "serve", "--database-url", str(tmp_path / "x.db"), "--webhook-timeout", "3",
         "--webhook-lease", "3"], capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2
    assert "Invalid value for --webhook-lease: must exceed --webhook-timeout" in completed.stderr
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened
