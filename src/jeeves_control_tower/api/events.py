"""GET /v1/events: the event journal as Server-Sent Events, filtered to what the caller may see.

Each message carries the journal position as its `id`, so a reconnecting EventSource resumes
with `Last-Event-ID` and misses nothing. The stream sleeps between reads: a change in this
process (a store listener, or a route that just wrote) wakes it at once; changes written by
another process are picked up by a short poll. A `: keepalive` comment keeps proxies from
closing an idle stream.

A stream re-checks its token against the token store every `Settings.sse_reauth_seconds`, idle
or not, and ends (after a `: closed: <why>` comment) once the token is revoked, by any instance,
or no longer stands for the same user and role. The client's reconnect then gets the 401.

Where a stream starts: after the position it names (`Last-Event-ID`, `?last_event_id=` or
`?since=`; 0 replays the whole journal). A stream that names none starts now: first a snapshot of
every pending interrupt it may see (`event: interrupt.pending`, each with the start position as
its `id`), then every change from that position on. So a fresh connection does not replay
history, and a reconnect resumes where it left off.

A position is ASCII digits up to the journal's 64-bit `seq` (2**63 - 1); anything else is refused
with a 422 problem before the stream opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from jeeves_protocols import FlowInterrupt, InterruptStatus, InvalidInterruptError, StoreError

from ..services import EventQuery, InterruptEvent, InterruptQuery, InterruptService
from .auth import Principal, authenticate, authenticated_stream, still_valid, visibility
from .errors import RETRY_AFTER_SECONDS
from .models import id_query, problems

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticated_stream)])

#: The largest journal position: `seq` is a signed 64-bit integer on PostgreSQL (and SQLite).
MAX_EVENT_ID = 2**63 - 1
# Plain decimal digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits.
# 19 digits hold MAX_EVENT_ID; the length cap keeps int() away from huge strings.
_POSITION = re.compile(r"[0-9]{1,19}")


def parse_event_id(raw: str, name: str) -> int:
    """A journal position from the header or the query string; a 422 problem if it is not one."""
    if _POSITION.fullmatch(raw) is None or int(raw) > MAX_EVENT_ID:
        raise InvalidInterruptError(f"{name} must be a decimal integer from 0 to {MAX_EVENT_ID}", field=name)
    return int(raw)


class EventHub:
    """Wakes every open stream of this process when the journal may have grown, and ends them
    all when the server shuts down (`close`)."""

    def __init__(self) -> None:
        self._waiting: set[asyncio.Event] = set()
        self.closing = asyncio.Event()

    def wake(self, _interrupt_id: Optional[str] = None) -> None:
        for event in self._waiting:
            event.set()

    def close(self) -> None:
        """The server is shutting down: open streams end now, long polls answer 503."""
        self.closing.set()
        self.wake()

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.add(event)
        try:
            yield event
        finally:
            self._waiting.discard(event)


#: How a stream ends when the database is unreachable: cleanly, not with a torn connection;
#: EventSource reconnects after `retry` ms and resumes from its Last-Event-ID.
_STORE_GONE = f"retry: {RETRY_AFTER_SECONDS * 1000}\n: closed: the store is unavailable\n\n"
#: The event type of a pending interrupt in a stream's opening snapshot.
PENDING_SNAPSHOT = "interrupt.pending"
_SNAPSHOT_PAGE = 200


def format_snapshot(interrupt: FlowInterrupt, position: int) -> str:
    data = {"seq": position, "type": PENDING_SNAPSHOT, "sequence": 1, "interrupt": interrupt.to_dict()}
    return f"id: {position}\nevent: {PENDING_SNAPSHOT}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def pending_now(service: InterruptService, query: EventQuery) -> AsyncIterator[FlowInterrupt]:
    """Every pending interrupt the stream's filters admit, newest first, a page at a time."""
    before: Optional[tuple[datetime, str]] = None
    while True:
        page = await service.list_interrupts(InterruptQuery(
            user_id=query.user_id, session_id=query.session_id, status=InterruptStatus.PENDING,
            visible_to=query.visible_to,
            before=before, limit=_SNAPSHOT_PAGE,
        ))
        for interrupt in page:
            yield interrupt
        if len(page) < _SNAPSHOT_PAGE:
            return
        before = (page[-1].created_at, page[-1].id)


def format_event(event: InterruptEvent) -> str:
    data = {
        "seq": event.seq,
        "type": event.type,
        "sequence": event.sequence,
        "interrupt": event.interrupt.to_dict(),
    }
    return f"id: {event.seq}\nevent: {event.type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream_events(
    service: InterruptService,
    hub: EventHub,
    query: EventQuery,
    *,
    poll: float,
    keepalive: float,
    is_disconnected: Callable[[], Awaitable[bool]],
    still_valid: Optional[Callable[[], Awaitable[Optional[str]]]] = None,
    reauth: float = 2.0,
    snapshot: bool = False,
) -> AsyncIterator[str]:
    """The stream's body. `still_valid` (why the caller may no longer read it, or None) runs every
    `reauth` seconds; the wait for new events never outlasts the next check, so an idle stream
    ends as promptly as a busy one."""
    after = query.after_seq
    last_sent = time.monotonic()
    next_check = last_sent + reauth
    with hub.subscription() as woken:
        yield ": connected\n\n"
        if snapshot:
            try:
                async for interrupt in pending_now(service, query):
                    yield format_snapshot(interrupt, after)
            except StoreError:
                yield _STORE_GONE
                return
        while not await is_disconnected():
            if hub.closing.is_set():
                # EventSource reconnects (to another instance, or this one restarted) and resumes.
                yield ": closed: the server is shutting down\n\n"
                return
            if still_valid is not None and time.monotonic() >= next_check:
                reason = await still_valid()
                if reason is not None:
                    yield f": closed: {reason}\n\n"
                    return
                next_check = time.monotonic() + reauth
            woken.clear()
            page = replace(query, after_seq=after)
            try:
                batch = await service.events(page)
            except StoreError:
                yield _STORE_GONE
                return
            for event in batch:
                after = event.seq
                yield format_event(event)
            if batch:
                last_sent = time.monotonic()
                if len(batch) == query.limit:
                    continue  # more are waiting: no sleep
            wait = poll if still_valid is None else min(poll, max(0.0, next_check - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):  # no task of its own, unlike wait_for
                    await woken.wait()
            if time.monotonic() - last_sent >= keepalive:
                last_sent = time.monotonic()
                yield ": keepalive\n\n"


@router.get(
    "/events",
    responses={
        **problems(),
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "the journal as Server-Sent Events",
        },
    },
)
async def events(
    request: Request,
    session_id: Optional[str] = id_query("Only this session's events."),
    user_id: Optional[str] = id_query("Only this user's events (a responder: within what they may answer)."),
    last_event_id: Optional[int] = Query(
        default=None,
        ge=0,
        le=MAX_EVENT_ID,
        description="resume after this journal position (the `Last-Event-ID` header wins)",
    ),
    since: Optional[int] = Query(
        default=None,
        ge=0,
        le=MAX_EVENT_ID,
        description="start after this journal position (0: the whole journal); without any "
        "position the stream starts now, after a snapshot of what is pending",
    ),
    access_token: Optional[str] = Query(
        default=None, description="for EventSource, which cannot send headers"
    ),
) -> StreamingResponse:
    del access_token  # read by authenticate() from the query string
    principal = await authenticate(request, allow_query=True)
    # The declared ints bound them for the document; parse_event_id also refuses what pydantic's
    # int would take (" 5", "+5", "5_0"). Precedence: the header, ?last_event_id=, then ?since=.
    del last_event_id, since
    raw = {
        "last_event_id": request.query_params.get("last_event_id"),
        "since": request.query_params.get("since"),
        "Last-Event-ID": request.headers.get("last-event-id"),
    }
    given = {name: parse_event_id(text, name) for name, text in raw.items() if text is not None}
    start = next((given[name] for name in ("Last-Event-ID", "last_event_id", "since") if name in given), None)
    settings = request.app.state.settings
    service: InterruptService = request.app.state.service
    snapshot = start is None
    if start is None:  # fixed before the response starts: whatever commits after the 200 follows
        start = await service.journal_position()
    query = EventQuery(start, user_id, session_id, visible_to=visibility(principal))
    body = stream_events(
        service,
        request.app.state.events,
        query,
        poll=settings.sse_poll_seconds,
        keepalive=settings.keepalive_seconds,
        is_disconnected=request.is_disconnected,
        still_valid=_checker(request, principal),
        reauth=settings.sse_reauth_seconds,
        snapshot=snapshot,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _checker(request: Request, principal: Principal) -> Callable[[], Awaitable[Optional[str]]]:
    async def check() -> Optional[str]:
        return await still_valid(request, principal)

    return check
