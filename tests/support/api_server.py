"""An API under test: a real SQLite-backed service, tokens per role, and clients in-process or
over a real loopback socket (uvicorn in this event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx
import uvicorn
from fastapi import FastAPI

from jeeves_control_tower.api import Settings, create_app
from jeeves_control_tower.api.server import uvicorn_config
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.tokens import TokenRegistry


@dataclass
class Api:
    service: InterruptService
    app: FastAPI
    tokens: TokenRegistry
    base_url: str
    secrets: dict[str, str] = field(default_factory=dict)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, who: Optional[str] = None, **headers: str) -> httpx.AsyncClient:
        """A client authenticated as `who` (a key of `secrets`), or anonymous."""
        merged = dict(headers)
        if who is not None:
            merged["Authorization"] = f"Bearer {self.secrets[who]}"
        if self.base_url.startswith("http://test"):
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url=self.base_url, headers=merged
            )
        else:
            client = httpx.AsyncClient(base_url=self.base_url, headers=merged, timeout=30)
        self._clients.append(client)
        return client

    async def add_token(self, name: str, user_id: str, role: str) -> str:
        secret, _ = await self.tokens.create(user_id, role)
        self.secrets[name] = secret
        return secret


STANDARD_TOKENS = {
    "agent": ("agent-bot", "agent"),
    "alice": ("alice", "responder"),
    "bob": ("bob", "responder"),
    "admin": ("root", "admin"),
}


@contextlib.asynccontextmanager
async def running_api(
    db: Any, *, over_socket: bool = False, settings: Optional[Settings] = None, webhooks: Any = None
) -> AsyncIterator[Api]:
    service = InterruptService(db, sweep_interval=3600, webhook_service=webhooks)
    await service.start()
    if webhooks is not None:
        await webhooks.open()  # no dispatcher loop: tests drive it with run_until_idle()
    app = create_app(service, settings or Settings(sse_poll_seconds=0.05, manage_service=False))
    server: Optional[uvicorn.Server] = None
    task: Optional[asyncio.Task[None]] = None
    base_url = "http://test"
    if over_socket:
        # Bind and listen before uvicorn starts: connections wait in the backlog, so no test
        # has to poll for "server is up".
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(app, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        base_url = f"http://127.0.0.1:{port}"
    api = Api(service, app, app.state.tokens, base_url)
    for name, (user, role) in STANDARD_TOKENS.items():
        await api.add_token(name, user, role)
    try:
        yield api
    finally:
        for client in api._clients:
            await client.aclose()
        if server is not None and task is not None:
            server.should_exit = True
            await task
        if webhooks is not None:
            await webhooks.stop()
        await service.stop()
