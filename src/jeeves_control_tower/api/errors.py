"""RFC 9457 problem documents: every error the API returns, mapped once from the exception tree.

A StoreError (the database is unreachable or failed) is 503 with code `store_error` and a
`Retry-After` header: the operation may be retried (a create with its idempotency key, so a
create that did commit before the reply was lost is not made twice). Any exception outside the
tree is a bug: it is logged once with its traceback and answered 500 `internal_error`, still a
problem document, never the server's plain-text page.
"""

from __future__ import annotations

import traceback
from typing import Any, Optional

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jeeves_protocols import (
    ApprovalError,
    CorruptInterruptError,
    IdempotencyConflictError,
    InterruptError,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InvalidInterruptError,
    InvalidResponseError,
    ResponderMismatchError,
    StoreError,
    WaitTimeoutError,
)

__all__ = [
    "ApiError",
    "problem",
    "install_error_handlers",
    "STATUS_FOR",
    "PROBLEM_MEDIA_TYPE",
    "RETRY_AFTER_SECONDS",
    "service_logger",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: The Retry-After of a 503: a restart of PostgreSQL took well under a second to recover from in
#: the outage test, and a few seconds spreads the retries of many clients.
RETRY_AFTER_SECONDS = 2

#: HTTP status per exception class; the most specific class listed first wins (checked in order).
STATUS_FOR: tuple[tuple[type[InterruptError], int], ...] = (
    (IdempotencyConflictError, 409),
    (InvalidInterruptError, 422),
    (InvalidResponseError, 422),
    (InterruptNotFoundError, 404),
    (InterruptNotPendingError, 409),
    (ResponderMismatchError, 403),  # SelfApprovalError too
    # The interrupt's state does not permit the use: not approved, another action, used already.
    (ApprovalError, 409),
    (WaitTimeoutError, 408),
    # Not 503: a retry cannot help a row that is stored unreadable; it needs an operator.
    (CorruptInterruptError, 500),
    (StoreError, 503),
)


STATUS_BY_CODE: dict[str, int] = {
    "invalid_input": 422,
    "not_found": 404,
    "not_pending": 409,
    "store_error": 503,
}


class ApiError(Exception):
    """An error of the HTTP layer itself (auth, rate limit), with its own stable code."""

    def __init__(self, status: int, code: str, detail: str, headers: Optional[dict[str, str]] = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def problem(
    status: int, code: str, detail: str, headers: Optional[dict[str, str]] = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"https://jeeves.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def interrupt_problem(exc: InterruptError) -> JSONResponse:
    status = next((code for cls, code in STATUS_FOR if isinstance(exc, cls)), None)
    if status is None:
        # Errors of other parts (e.g. webhooks' not found) share the stable codes, so map by code.
        status = STATUS_BY_CODE.get(exc.code, 500)
    extra: dict[str, Any] = {}
    if isinstance(exc, InterruptNotPendingError):
        extra["current_status"] = exc.status.value
    if isinstance(exc, (InvalidInterruptError, InvalidResponseError)) and exc.field is not None:
        extra["field"] = exc.field
    interrupt_id = getattr(exc, "interrupt_id", None)
    if interrupt_id is not None:
        extra["interrupt_id"] = interrupt_id
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return problem(status, exc.code, exc.message, headers=headers, **extra)


def install_error_handlers(app: FastAPI) -> None:
    async def on_interrupt_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InterruptError)
        return interrupt_problem(exc)

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return problem(exc.status, exc.code, exc.detail, headers=exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            # Its location is a byte offset into the body, not a field.
            at = next((part for part in first.get("loc", ()) if isinstance(part, int)), None)
            where = f" at byte {at}" if at is not None else ""
            return problem(400, "invalid_input", f"the body is not valid JSON{where}", field=None)
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(location) or None
        return problem(
            422,
            "invalid_input",
            f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg", "invalid input")),
            field=field,
            errors=[{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg")} for e in errors],
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # 400: a body FastAPI could not parse at all (e.g. JSON nested past Python's recursion
        # limit), bad input like any other.
        codes = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        code = codes.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path served by several
            # routes (GET and POST /v1/interrupts) must list them all.
            headers["Allow"] = ", ".join(sorted(_allowed_methods(app, request)))
        return problem(exc.status_code, code, str(exc.detail), headers=headers or None)

    app.add_exception_handler(InterruptError, on_interrupt_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_middleware(_LastResort)


class _LastResort:
    """Any exception no handler above took: logged once with its traceback, answered 500 problem.

    A pure ASGI middleware rather than an `Exception` handler: Starlette's server-error middleware
    answers with the handler's response but then re-raises, so uvicorn logs the error a second
    time. Here it ends. A reply already under way (a stream) cannot change its status: it is only
    logged and ended.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            service_logger(scope).error(
                "unhandled_error", method=scope.get("method"), path=scope.get("path"),
                error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                reply_started=started,
            )
            if not started:
                await problem(500, "internal_error", "an unexpected error occurred; it was logged")(
                    scope, receive, send
                )


def service_logger(scope: Scope) -> Any:
    """The service's logger (where an operator reads everything else), else structlog's."""
    app = scope.get("app")
    service = getattr(getattr(app, "state", None), "service", None)
    return getattr(service, "logger", None) or structlog.get_logger("jeeves.api")


def _allowed_methods(app: FastAPI, request: Request) -> set[str]:
    allowed: set[str] = set()
    for route in app.router.routes:
        methods = getattr(route, "methods", None)
        if methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= methods
    return allowed
