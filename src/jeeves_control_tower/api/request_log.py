"""One structured line per HTTP request, through the service's logger (where an operator reads
everything else): every refused request (4xx, with its problem `code`) at info, and every request
when the access log is on. The path is logged without its query string, which may carry a token
(`?access_token=` on the event stream)."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PROBLEM_MEDIA_TYPE, service_logger

__all__ = ["RequestLog"]

#: A problem document is small; past this, its `code` is not looked for.
_MAX_PROBLEM_BYTES = 16 * 1024


class RequestLog:
    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        problem = False
        body = b""

        async def watched(message: Message) -> None:
            nonlocal status, problem, body
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", ()))
                problem = headers.get(b"content-type", b"").startswith(PROBLEM_MEDIA_TYPE.encode())
            elif problem and message["type"] == "http.response.body" and len(body) < _MAX_PROBLEM_BYTES:
                body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            if self.access_log or 400 <= status < 500:
                service_logger(scope).info(
                    "http_request",
                    method=scope.get("method"),
                    path=scope.get("path"),
                    status=status,
                    code=_problem_code(body) if problem else None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    client=(scope.get("client") or (None,))[0],
                )


def _problem_code(body: bytes) -> Optional[str]:
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, str) else None
