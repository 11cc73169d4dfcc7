"""/v1 routes of approvals: an agent verifies and consumes the approval of its action; anyone
reads the history of what they may see; an admin sees who waits on what."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from jeeves_protocols import FlowInterrupt
from jeeves_protocols.interrupts import format_time

from ..services import InterruptEvent, InterruptService
from ..services import validation as check
from ..tokens import Role
from .auth import Principal, allow, authenticate, authenticated
from .models import ID_PATTERN, ActionBody, ExtendBody, History, InterruptOut, PendingSummaryOut, problems
from .routes import interrupt_out, service_of, visible_interrupt

router = APIRouter(prefix="/v1", tags=["approvals"], dependencies=[Depends(authenticated)])


async def _on_visible(
    request: Request,
    interrupt_id: str,
    operation: Callable[[InterruptService], Awaitable[FlowInterrupt]],
    *,
    changes: bool,
) -> JSONResponse:
    """Run `operation` on an interrupt the caller may see (anyone else's is a 404, as for an
    unknown id) and answer the interrupt it returns; `changes`: wake the event streams."""
    principal = await authenticate(request)
    await visible_interrupt(request, principal, interrupt_id)
    result = await operation(service_of(request))
    if changes:
        request.app.state.events.wake()
    return JSONResponse(interrupt_out(result))


@router.post(
    "/interrupts/{interrupt_id}/extend",
    response_model=InterruptOut,
    operation_id="extend_interrupt",
    responses=problems(403, 404, 409),
    dependencies=[allow(Role.AGENT)],
)
async def extend(interrupt_id: str, body: ExtendBody, request: Request) -> JSONResponse:
    """Move a pending interrupt's expiry `by_seconds` later (journalled as interrupt.extended);
    409 if it already ended, 422 if it never expires."""
    by = timedelta(seconds=body.by_seconds)
    return await _on_visible(
        request, interrupt_id, lambda service: service.extend(interrupt_id, by), changes=True
    )


@router.post(
    "/interrupts/{interrupt_id}/verify",
    response_model=InterruptOut,
    operation_id="verify_approval",
    responses=problems(403, 404, 409),
    dependencies=[allow(Role.AGENT)],
)
async def verify(interrupt_id: str, body: ActionBody, request: Request) -> JSONResponse:
    """200 if the interrupt approved exactly `action` and the approval is unused; 409 with code
    not_approved, approval_mismatch or approval_used if not. Changes nothing."""
    action = body.action
    return await _on_visible(
        request, interrupt_id, lambda service: service.verify_approval(interrupt_id, action), changes=False
    )


@router.post(
    "/interrupts/{interrupt_id}/consume",
    response_model=InterruptOut,
    operation_id="consume_approval",
    responses=problems(403, 404, 409),
    dependencies=[allow(Role.AGENT)],
)
async def consume(interrupt_id: str, body: ActionBody, request: Request) -> JSONResponse:
    """Verify, then mark the approval used, once: a second consume (a replay) is 409 approval_used."""
    return await _on_visible(
        request, interrupt_id, lambda service: service.consume(interrupt_id, body.action), changes=True
    )


def _history(events: list[InterruptEvent], principal: Principal) -> dict[str, Any]:
    return {
        "items": [
            {
                "seq": event.seq,
                "type": event.type,
                "sequence": event.sequence,
                "created_at": format_time(event.created_at),
                "interrupt": interrupt_out(event.interrupt),
            }
            for event in events
            if principal.sees(event.interrupt)
        ]
    }


@router.get(
    "/interrupts/{interrupt_id}/history",
    response_model=History,
    operation_id="interrupt_history",
    responses=problems(404),
)
async def interrupt_history(interrupt_id: str, request: Request) -> dict[str, Any]:
    """Every event of the interrupt, oldest first: created, how it ended and by whom, used."""
    principal = await authenticate(request)
    await visible_interrupt(request, principal, interrupt_id)
    return _history(await service_of(request).get_history(interrupt_id), principal)


@router.get(
    "/history",
    response_model=History,
    operation_id="run_history",
    responses=problems(),
)
async def run_history(
    request: Request,
    request_id: str = Query(
        min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN,
        description="The run whose interrupts' events to read.",
    ),
) -> dict[str, Any]:
    """The events of every interrupt of a run, oldest first; a responder sees those of their
    own interrupts only."""
    principal = await authenticate(request)
    return _history(await service_of(request).get_history(request_id=request_id), principal)


@router.get(
    "/sessions/{session_id}/history",
    response_model=History,
    operation_id="session_history",
    responses=problems(),
)
async def session_history(session_id: str, request: Request) -> dict[str, Any]:
    """The events of every interrupt of a session, oldest first (a responder: their own)."""
    principal = await authenticate(request)
    return _history(await service_of(request).get_history(session_id=session_id), principal)


@router.get(
    "/pending/summary",
    response_model=PendingSummaryOut,
    operation_id="pending_summary",
    responses=problems(403),
    dependencies=[allow()],
)
async def pending_summary(request: Request) -> dict[str, Any]:
    """Who waits on what (admins): pending interrupts by kind, by addressee and by age."""
    return (await service_of(request).pending_summary()).to_dict()
