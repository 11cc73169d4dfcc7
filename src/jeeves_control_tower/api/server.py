"""How `jeeves serve` (and the tests' loopback server) runs the app under uvicorn: the request
line and headers are bounded, and a request too large or too malformed to parse is answered
with a problem document like every other refusal, never uvicorn's plain-text page.

Headers have two bounds, one limit (MAX_HEADER_BYTES): headers that arrive whole are measured
by `BoundedRequests` (431 `headers_too_large`); a request line and headers still incomplete past
the limit are cut off by h11 itself, so a client cannot make the server buffer without end
(400 `invalid_http_request`, since h11 does not say which part was too long). A body past
MAX_BODY_BYTES is refused by `BoundedRequests` too (413 `body_too_large`), declared or chunked.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any, Optional

import h11
import uvicorn
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import PROBLEM_MEDIA_TYPE, problem

__all__ = [
    "BODY_TIMEOUT",
    "HEADER_TIMEOUT",
    "LINGER_BYTES",
    "LINGER_SECONDS",
    "MAX_HEADER_BYTES",
    "BODY_TOO_LARGE",
    "MAX_BODY_BYTES",
    "BoundedRequests",
    "GracefulServer",
    "ProblemH11Protocol",
    "uvicorn_config",
]

#: The request line plus every header name and value. 32 KiB is past any real client (browsers
#: send 1-2 KiB, large cookies 8 KiB) and bounds what one connection can make the server hold.
MAX_HEADER_BYTES = 32 * 1024


#: A request body: room for every field at its limit (`data`'s 256 KiB as compact JSON, and
#: texts of 20,000 characters even when every character is sent as a \\uXXXX escape), with
#: space to spare for indentation. Past it nothing is parsed.
MAX_BODY_BYTES = 1024 * 1024


class BoundedRequests:
    """Refuses a request whose target and headers exceed MAX_HEADER_BYTES (431), or whose body
    exceeds MAX_BODY_BYTES (413), each as a problem document, before the app reads any of it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        declared: Optional[bytes] = None
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"content-length":
                declared = value
        if size > MAX_HEADER_BYTES:
            detail = (
                f"the request's target and headers come to {size:,} bytes; "
                f"at most {MAX_HEADER_BYTES:,} are read"
            )
            await problem(431, "headers_too_large", detail)(scope, receive, send)
            return
        if declared is None or not declared.isdigit():  # chunked (or no body): counted as it arrives
            await self.app(scope, _counting(receive), send)
            return
        # The server holds the body to exactly this length.
        if int(declared) > MAX_BODY_BYTES:
            await problem(413, BODY_TOO_LARGE, _body_detail())(scope, receive, send)
            return
        await self.app(scope, receive, send)


BODY_TOO_LARGE = "body_too_large"


def _body_detail() -> str:
    return f"the request body is larger than {MAX_BODY_BYTES:,} bytes"


def _counting(receive: Receive) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_BODY_BYTES:
            # Raised inside the app's body read: FastAPI passes an HTTPException through, and the
            # API's handler turns it into the 413 problem (api/errors.py).
            raise StarletteHTTPException(413, _body_detail())
        return message

    return counted


def _unparsable_body() -> bytes:
    return json.dumps(
        {
            "type": "https://jeeves.dev/problems/invalid_http_request",
            "title": "Invalid http request",
            "status": 400,
            "detail": "the request is not valid HTTP/1.1, or its request line and headers are "
            f"longer than {MAX_HEADER_BYTES:,} bytes",
            "code": "invalid_http_request",
        }
    ).encode()


#: After refusing an unparsable request, how long and how much of the rest of it is read and
#: dropped before the connection closes. Closing at once, with the client still sending, makes
#: the kernel reset the connection, and the client never reads the refusal ("lingering close").
LINGER_SECONDS = 5.0
LINGER_BYTES = 16 * 1024 * 1024


#: Seconds a connection may take to send a request's line and headers, counted from when it
#: opens or starts a request: a client that connects and stalls (or trickles a byte at a time)
#: gets a 408 problem and is closed, instead of holding the connection for ever.
HEADER_TIMEOUT = 10.0
#: Seconds a request's body may take to arrive once its headers have: past it, a 408 problem and
#: the connection is closed (the app waiting on the body sees the client gone). Far past what a
#: 1 MiB body needs on any link that can use this service.
BODY_TIMEOUT = 30.0


def _problem_bytes(status: int, reason: str, body: bytes) -> bytes:
    """A whole close-delimited problem response, for when h11 has no request to answer."""
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def _timed_out(what: str, seconds: float) -> bytes:
    return _problem_bytes(408, "Request Timeout", json.dumps({
        "type": "https://jeeves.dev/problems/request_timeout",
        "title": "Request timeout",
        "status": 408,
        "detail": f"{what} did not arrive within {seconds:g} s",
        "code": "request_timeout",
    }).encode())


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request it cannot parse with a problem document, and
    one whose headers (HEADER_TIMEOUT) or body (BODY_TIMEOUT) do not arrive in time with a 408."""

    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT
    _BODY = _unparsable_body()
    _HEADERS_LATE = _timed_out("the request line and headers", HEADER_TIMEOUT)
    _BODY_LATE = _timed_out("the request body", BODY_TIMEOUT)
    _lingering: int = -1  # bytes dropped since the refusal; -1 while parsing
    _header_timer: Optional[asyncio.TimerHandle] = None
    _body_timer: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._headers_arrived()
        self._body_arrived()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _headers_arrived(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        self._refuse_late(self._HEADERS_LATE)

    def _body_arrived(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.cycle is not None and self.cycle.more_body:
            self._refuse_late(None if self.cycle.response_started else self._BODY_LATE)

    def _refuse_late(self, answer: Optional[bytes]) -> None:
        if not self.transport.is_closing():
            if answer is not None:
                self.transport.write(answer)
            self.transport.close()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers were read: it is under way
            self._headers_arrived()
            if self.cycle is not None and self.cycle.more_body:  # its body is still to come
                self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)
        if self._body_timer is not None and (self.cycle is None or not self.cycle.more_body):
            self._body_arrived()

    def on_response_complete(self) -> None:
        self._body_arrived()  # answered without reading it all: nothing more to wait for
        super().on_response_complete()
        # uvicorn's keep-alive timeout closes an idle connection; once the next request starts
        # arriving it no longer applies, so the header clock runs again from here.
        if not self.transport.is_closing():
            self._await_headers()

    def send_400_response(self, msg: str) -> None:
        self._headers_arrived()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(self._BODY)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=self._BODY),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # Half-close: the client reads the refusal and EOF while what it still sends is dropped.
        self.transport.write_eof()
        self._lingering = 0
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._lingering < 0:
            super().data_received(data)
            return
        self._lingering += len(data)
        if self._lingering > LINGER_BYTES:
            self.transport.close()


class GracefulServer(uvicorn.Server):
    """uvicorn's server, telling the app the moment shutdown begins (`on_shutdown`, on the event
    loop), before it waits for open connections: event streams and long polls then end at once
    instead of holding the shutdown until the grace period cancels them with a traceback each."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    async def serve(self, sockets: Optional[list[socket.socket]] = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_shutdown)  # from a signal handler: thread-safe
        super().handle_exit(sig, frame)


def uvicorn_config(app: ASGIApp, **options: Any) -> uvicorn.Config:
    """A uvicorn Config for the API: h11 with the bounds above (httptools, if installed, has none)."""
    return uvicorn.Config(
        app, http=ProblemH11Protocol, h11_max_incomplete_event_size=MAX_HEADER_BYTES, **options
    )
