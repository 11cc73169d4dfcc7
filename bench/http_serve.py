"""HTTP: respond requests per second through `jeeves serve`, from a loopback load generator.

The interrupts are created beforehand (through InterruptService on the same database); the
timed part is only `POST /v1/interrupts/{id}/respond` by a responder token, from `clients`
concurrent keep-alive connections (bench.loadgen). The load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.loadgen import Connection
from bench.roundtrip import _Quiet
from bench.stats import Timing
from jeeves_control_tower.services import InterruptService

ROOT = Path(__file__).resolve().parents[1]
JEEVES = [sys.executable, "-c", "from jeeves_control_tower.cli import main; main()"]


async def responder_token(database_url: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *JEEVES, "tokens", "create", "--database-url", database_url, "--user", "bench-user",
        "--role", "responder", "--json", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out
    return str(json.loads(out)["token"])


async def pending_ids(db: Any, count: int) -> list[str]:
    async with InterruptService(db=db, logger=_Quiet(), sweep_interval=0) as service:
        return [(await service.create_clarification(f"http-{n}", "bench-user", "s", "q?")).id for n in range(count)]


async def respond_rate(database_url: str, db: Any, count: int, clients: int) -> tuple[Timing, int, Timing]:
    """Timing of `count` respond requests from `clients` connections, how many resolved, and the
    floor: the same clients and server answering `GET /healthz` (no auth, no database)."""
    ids = await pending_ids(db, count + clients)  # a warm-up request per connection (and the database)
    token = await responder_token(database_url)
    server = await asyncio.create_subprocess_exec(
        *JEEVES, "serve", "--database-url", database_url, "--port", "0", "--sweep-interval", "0",
        "--no-dispatcher", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        line = (await server.stdout.readline()).decode()
        while "serving on" not in line:
            assert line, "jeeves serve exited before listening"
            line = (await server.stdout.readline()).decode()
        host, port = line.split("serving on http://", 1)[1].split("/ ", 1)[0].rsplit(":", 1)
        # The server logs every transition to stdout: keep reading it, or a full pipe stalls it.
        drain = asyncio.create_task(_drain(server.stdout))
        headers = {"Authorization": f"Bearer {token}"}
        connections = [Connection(host, int(port), headers) for _ in range(clients)]
        async with contextlib.AsyncExitStack() as stack:
            for connection in connections:
                await stack.enter_async_context(connection)
            resolved = 0

            async def respond(connection: Connection, interrupt_id: str) -> None:
                nonlocal resolved
                status, body = await connection.request("POST", f"/v1/interrupts/{interrupt_id}/respond", {"text": "yes"})
                assert status == 200, body
                resolved += body["status"] == "resolved"

            # One warm-up request per connection: authentication caches, prepared statements.
            await asyncio.gather(*(respond(c, i) for c, i in zip(connections, ids[:clients], strict=True)))
            resolved = 0
            latencies: list[float] = []
            queue = iter(ids[clients:])

            async def worker(connection: Connection) -> None:
                for interrupt_id in queue:
                    began = time.perf_counter()
                    await respond(connection, interrupt_id)
                    latencies.append(time.perf_counter() - began)

            start = time.perf_counter()
            await asyncio.gather(*(worker(c) for c in connections))
            timing = Timing(count, time.perf_counter() - start, latencies)
            floor = await _health_floor(connections, count)
        server.terminate()
        await server.wait()
        await drain
        return timing, resolved, floor
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()


async def _health_floor(connections: list[Connection], count: int) -> Timing:
    latencies: list[float] = []
    remaining = iter(range(count))

    async def worker(connection: Connection) -> None:
        for _ in remaining:
            began = time.perf_counter()
            status, body = await connection.request("GET", "/healthz")
            assert status == 200, body
            latencies.append(time.perf_counter() - began)

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    return Timing(count, time.perf_counter() - start, latencies)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass
