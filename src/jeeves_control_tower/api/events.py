"""GET /v1/events: the event journal as Server-Sent Events, filtered to what the caller may see.

Each message carries the journal position as its `id`, so a reconnecting EventSource resumes
with `Last-Event-ID` and misses nothing. The stream sleeps between reads: a change in this
process (a store listener, or a route that just wrote) wakes it at once; changes written by
another process are picked up by a short poll. A `: keepalive` comment keeps proxies from
closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from ..store.base import InterruptEvent, InterruptStore
from ..store.listing import EventQuery
from .auth import authenticate, authenticated_stream
from .errors import ApiError
from .models import problems
from .tokens import Role

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticated_stream)])


class EventHub:
    """Wakes every open stream of this process when the journal may have grown."""

    def __init__(self) -> None:
        self._waiting: set[asyncio.Event] = set()

    def wake(self, _interrupt_id: Optional[str] = None) -> None:
        for event in self._waiting:
            event.set()

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.add(event)
        try:
            yield event
        finally:
            self._waiting.discard(event)


def format_event(event: InterruptEvent) -> str:
    data = {
        "seq": event.seq,
        "type": event.type,
        "sequence": event.sequence,
        "interrupt": event.interrupt.to_dict(),
    }
    return f"id: {event.seq}\nevent: {event.type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream_events(
    store: InterruptStore,
    hub: EventHub,
    query: EventQuery,
    *,
    poll: float,
    keepalive: float,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    after = query.after_seq
    last_sent = time.monotonic()
    with hub.subscription() as woken:
        yield ": connected\n\n"
        while not await is_disconnected():
            woken.clear()
            batch = await store.events_for(EventQuery(after, query.user_id, query.session_id, query.limit))
            for event in batch:
                after = event.seq
                yield format_event(event)
            if batch:
                last_sent = time.monotonic()
                if len(batch) == query.limit:
                    continue  # more are waiting: no sleep
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(woken.wait(), poll)
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
    session_id: Optional[str] = Query(default=None, min_length=1, max_length=255),
    user_id: Optional[str] = Query(default=None, min_length=1, max_length=255),
    last_event_id: Optional[int] = Query(default=None, ge=0),
    access_token: Optional[str] = Query(
        default=None, description="for EventSource, which cannot send headers"
    ),
) -> StreamingResponse:
    del access_token  # read by authenticate() from the query string
    principal = await authenticate(request, allow_query=True)
    if principal.role is Role.RESPONDER:
        user_id = principal.user_id
    header = request.headers.get("last-event-id")
    if header is not None:
        try:
            last_event_id = int(header)
        except ValueError:
            raise ApiError(422, "invalid_input", "Last-Event-ID must be an integer") from None
        if last_event_id < 0:
            raise ApiError(422, "invalid_input", "Last-Event-ID must not be negative")
    settings = request.app.state.settings
    query = EventQuery(last_event_id or 0, user_id, session_id)
    body = stream_events(
        request.app.state.service.store,
        request.app.state.events,
        query,
        poll=settings.sse_poll_seconds,
        keepalive=settings.keepalive_seconds,
        is_disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
