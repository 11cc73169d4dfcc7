"""A real HTTP receiver on loopback for webhook tests: records every request, answers as scripted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

#: Given the 1-based number of the request, the status and extra headers to answer with.
Script = Callable[[int], tuple[int, dict[str, str]]]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def always(status: int, headers: Optional[dict[str, str]] = None) -> Script:
    return lambda _n: (status, headers or {})


def sequence(*statuses: int) -> Script:
    """Answer with the given statuses in turn, then 200 for ever."""
    return lambda n: (statuses[n - 1] if n <= len(statuses) else 200, {})


class Receiver:
    def __init__(self, script: Optional[Script] = None, delay: float = 0.0) -> None:
        self.script = script or always(200)
        #: Seconds each answer takes: a slow receiver keeps deliveries in flight.
        self.delay = delay
        self.requests: list[Received] = []
        self.arrived = asyncio.Event()
        self._server: Optional[asyncio.base_events.Server] = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()  # request line
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n"):
                if not line:
                    return  # the sender died mid-request: nothing arrived
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            try:
                body = await reader.readexactly(int(headers.get("content-length", "0")))
            except asyncio.IncompleteReadError:
                return
            self.requests.append(Received(headers, body))
            self.arrived.set()
            if self.delay:
                await asyncio.sleep(self.delay)
            status, extra = self.script(len(self.requests))
            reply = f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n"
            reply += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write((reply + "\r\nok").encode())
            await writer.drain()
        finally:
            writer.close()
