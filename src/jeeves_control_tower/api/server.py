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

import json
from typing import Any, Optional

import h11
import uvicorn
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import PROBLEM_MEDIA_TYPE, problem

__all__ = [
    "LINGER_BYTES",
    "LINGER_SECONDS",
    "MAX_HEADER_BYTES",
    "BODY_TOO_LARGE",
    "MAX_BODY_BYTES",
    "BoundedRequests",
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


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request it cannot parse with a problem document."""

    _BODY = _unparsable_body()
    _lingering: int = -1  # bytes dropped since the refusal; -1 while parsing

    def send_400_response(self, msg: str) -> None:
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


def uvicorn_config(app: ASGIApp, **options: Any) -> uvicorn.Config:
    """A uvicorn Config for the API: h11 with the bounds above (httptools, if installed, has none)."""
    return uvicorn.Config(
        app, http=ProblemH11Protocol, h11_max_incomplete_event_size=MAX_HEADER_BYTES, **options
    )
