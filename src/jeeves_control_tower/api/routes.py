"""/v1: interrupts (create, list, get, respond, cancel, long-poll wait) and the caller's identity."""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime, timedelta
from typing import Any, Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from jeeves_protocols import (
    FlowInterrupt,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
)
from jeeves_protocols.interrupts import format_time, parse_time

from ..services import InterruptQuery, InterruptService
from ..tokens import Role
from .auth import Principal, allow, authenticate, authenticated, ensure_visible, visibility
from .errors import RETRY_AFTER_SECONDS, ApiError
from .models import (
    CancelBody,
    CreateInterrupt,
    InterruptOut,
    InterruptPage,
    Me,
    RespondBody,
    id_query,
    problems,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticated)])

#: The longest a single long-poll may hold a connection; clients loop for longer waits.
MAX_WAIT_SECONDS = 300.0
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: What encode_cursor writes: unpadded URL-safe base64 of "<created_at>|<id>", ids up to 255.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
MAX_CURSOR_LENGTH = 255


def _link(operation_id: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "parameters": {"interrupt_id": "$response.body#/id"},
        "description": description,
    }


#: What a client (and schemathesis's stateful phase) can do next with the interrupt it created.
_CREATED_LINKS = {
    "GetInterrupt": _link("get_interrupt", "Read it back."),
    "RespondToInterrupt": _link("respond_to_interrupt", "Answer it."),
    "CancelInterrupt": _link("cancel_interrupt", "Cancel it."),
    "WaitForInterrupt": _link("wait_for_interrupt", "Wait until it is answered."),
}


def service_of(request: Request) -> InterruptService:
    service: InterruptService = request.app.state.service
    return service


#: ResponseOut's fields, in its order, as its model fills the ones an answer leaves unset.
_RESPONSE_FIELDS: dict[str, Any] = {
    "text": None, "approved": None, "decision": None, "data": {}, "received_at": None, "responder_id": None,
    "action_hash": None, "token_id": None, "via": None,
}
#: The routes an answer may say it took (header X-Jeeves-Via); anything else is recorded as "api".
ANSWER_ROUTES = frozenset({"api", "cli", "inbox"})


def interrupt_out(interrupt: FlowInterrupt) -> dict[str, Any]:
    """The InterruptOut form of an interrupt the service returned, built directly: exactly what
    validating `to_dict()` through the model gives (a test holds them equal), without paying for
    a validation of what the service itself made."""
    out = interrupt.to_dict()
    if out["response"] is not None:
        out["response"] = {**_RESPONSE_FIELDS, **out["response"]}
    return out


def _json(interrupt: FlowInterrupt, status_code: int = 200) -> JSONResponse:
    """The route's answer as is: FastAPI passes a Response through without the response model."""
    return JSONResponse(interrupt_out(interrupt), status_code)


@router.get("/me", response_model=Me, responses=problems())
async def me(request: Request) -> dict[str, str]:
    principal = await authenticate(request)
    return {"user_id": principal.user_id, "role": principal.role.value}


@router.post(
    "/interrupts",
    status_code=201,
    response_model=InterruptOut,
    operation_id="create_interrupt",
    responses={
        **problems(403, 409),
        200: {"model": InterruptOut, "description": "idempotent replay", "links": _CREATED_LINKS},
        201: {"description": "created", "links": _CREATED_LINKS},
    },
    dependencies=[allow(Role.AGENT)],
)
async def create_interrupt(body: CreateInterrupt, request: Request) -> JSONResponse:
    principal = await authenticate(request)  # recorded as the interrupt's creator
    interrupt, created = await service_of(request).create_or_replay(
        body.kind,
        body.request_id,
        body.user_id,
        body.session_id,
        envelope_id=body.envelope_id,
        question=body.question,
        message=body.message,
        data=body.data,
        created_by=principal.user_id,
        on_expire=body.on_expire,
        forbid_self_approval=body.forbid_self_approval,
        response_schema=body.response_schema,
        responders=body.responders.model_dump() if body.responders is not None else None,
        remind_after=(
            [timedelta(seconds=seconds) for seconds in body.remind_after_seconds]
            if body.remind_after_seconds is not None
            else None
        ),
        ttl=timedelta(seconds=body.ttl_seconds) if body.ttl_seconds is not None else None,
        idempotency_key=body.idempotency_key,
    )
    if not created:
        return _json(interrupt)  # an idempotent replay: the interrupt the key already made
    request.app.state.events.wake()
    return _json(interrupt, 201)


@router.get(
    "/interrupts",
    response_model=InterruptPage,
    operation_id="list_interrupts",
    responses={
        **problems(),
        200: {
            "description": "a page, newest first",
            "links": {
                "NextPage": {
                    "operationId": "list_interrupts",
                    "parameters": {"cursor": "$response.body#/next_cursor"},
                    "description": "The page after this one.",
                }
            },
        },
    },
)
async def list_interrupts(
    request: Request,
    status: Optional[InterruptStatus] = None,
    user_id: Optional[str] = id_query("Only this user's interrupts."),
    session_id: Optional[str] = id_query("Only this session's."),
    request_id: Optional[str] = id_query("Only this request's."),
    kind: Optional[InterruptKind] = None,
    limit: int = Query(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Page size."),
    cursor: Optional[str] = Query(
        default=None,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=CURSOR_PATTERN,
        description="The next_cursor of the previous page, as returned (opaque).",
    ),
) -> dict[str, Any]:
    principal = await authenticate(request)
    # A responder lists only what they may answer (theirs, or naming them or their groups).
    visible_to = visibility(principal)
    service = service_of(request)
    # One extra row tells whether another page exists without a count query.
    before = decode_cursor(cursor) if cursor is not None else None
    position = await service.journal_position()  # before the read: a change during it is after
    found = await service.list_interrupts(
        InterruptQuery(
            user_id, session_id, request_id, kind, status, before, limit + 1, visible_to=visible_to
        )
    )
    page = found[:limit]
    return {
        "items": [interrupt_out(interrupt) for interrupt in page],
        "next_cursor": encode_cursor(page[-1]) if len(found) > limit else None,
        "journal_position": position,
    }


def encode_cursor(last: FlowInterrupt) -> str:
    """An opaque cursor: the (created_at, id) position of the last item of a page."""
    raw = f"{format_time(last.created_at)}|{last.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        # validate=True: a character outside the alphabet is an error, not skipped.
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        moment, _, interrupt_id = raw.partition("|")
        parsed = parse_time(moment)
        if parsed is None or not interrupt_id:
            raise ValueError(raw)
        return parsed, interrupt_id
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):  # Overflow: year 1 at +01:00
        raise InvalidInterruptError("cursor is not one this API returned", field="cursor") from None


async def visible_interrupt(request: Request, principal: Principal, interrupt_id: str) -> FlowInterrupt:
    return ensure_visible(principal, await service_of(request).get_interrupt(interrupt_id), interrupt_id)


@router.get(
    "/interrupts/{interrupt_id}",
    response_model=InterruptOut,
    operation_id="get_interrupt",
    responses=problems(404),
)
async def get_interrupt(interrupt_id: str, request: Request) -> JSONResponse:
    principal = await authenticate(request)
    return _json(await visible_interrupt(request, principal, interrupt_id))


@router.post(
    "/interrupts/{interrupt_id}/respond",
    response_model=InterruptOut,
    operation_id="respond_to_interrupt",
    responses=problems(403, 404, 409),
    dependencies=[allow(Role.RESPONDER)],
)
async def respond(interrupt_id: str, body: RespondBody, request: Request) -> JSONResponse:
    principal = await authenticate(request)
    # Read first, though the atomic step checks the owner too: a row another tool damaged is
    # refused (500 corrupt_interrupt) before anything is written, and someone else's is a 404.
    await visible_interrupt(request, principal, interrupt_id)
    answer = InterruptResponse(
        text=body.text,
        approved=body.approved,
        decision=body.decision,
        data=body.data or {},
        responder_id=principal.user_id,
        token_id=principal.token_id,
        via=_answer_route(request),
    )
    # A responder answers as themselves (the service checks it is their interrupt, atomically);
    # an admin may answer anyone's, recorded under the admin's own id.
    as_user = principal.user_id if principal.role is Role.RESPONDER else None
    resolved = await service_of(request).respond_or_raise(
        interrupt_id, answer, as_user, groups=principal.groups
    )
    request.app.state.events.wake()
    return _json(resolved)


def _answer_route(request: Request) -> str:
    """Where an answer came from, as its client says (the CLI and the inbox say so): recorded with it."""
    said = request.headers.get("x-jeeves-via", "api").strip().lower()
    return said if said in ANSWER_ROUTES else "api"


@router.post(
    "/interrupts/{interrupt_id}/cancel",
    response_model=InterruptOut,
    operation_id="cancel_interrupt",
    responses=problems(403, 404, 409),
    dependencies=[allow(Role.AGENT)],
)
async def cancel(interrupt_id: str, request: Request, body: Optional[CancelBody] = None) -> JSONResponse:
    principal = await authenticate(request)
    await visible_interrupt(request, principal, interrupt_id)
    cancelled = await service_of(request).cancel_or_raise(interrupt_id, body.reason if body else None)
    request.app.state.events.wake()
    return _json(cancelled)


@router.get(
    "/interrupts/{interrupt_id}/wait",
    response_model=InterruptOut,
    operation_id="wait_for_interrupt",
    responses=problems(404, 408),
)
async def wait(
    interrupt_id: str,
    request: Request,
    timeout: float = Query(
        default=30.0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        allow_inf_nan=False,
        description="Seconds to hold the request.",
    ),
) -> JSONResponse:
    principal = await authenticate(request)
    await visible_interrupt(request, principal, interrupt_id)
    closing: asyncio.Event = request.app.state.events.closing
    waiting = asyncio.ensure_future(service_of(request).wait_for_response(interrupt_id, timeout))
    shutdown = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait((waiting, shutdown), return_when=asyncio.FIRST_COMPLETED)
    finally:
        shutdown.cancel()
        if not waiting.done():
            waiting.cancel()
    if not waiting.done() or waiting.cancelled():
        raise ApiError(503, "shutting_down", "the server is shutting down; wait again",
                       {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return _json(waiting.result())
