"""Wake-ups for `wait_for_response`: one asyncio.Event per waiting coroutine, keyed by interrupt."""

from __future__ import annotations

import asyncio

from ..store.base import ANY_INTERRUPT


class Waiters:
    def __init__(self) -> None:
        self._by_interrupt: dict[str, set[asyncio.Event]] = {}

    def register(self, interrupt_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._by_interrupt.setdefault(interrupt_id, set()).add(event)
        return event

    def unregister(self, interrupt_id: str, event: asyncio.Event) -> None:
        events = self._by_interrupt.get(interrupt_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._by_interrupt[interrupt_id]

    def notify(self, interrupt_id: str) -> None:
        """A store listener: the interrupt changed, so whoever waits on it re-reads."""
        if interrupt_id == ANY_INTERRUPT:
            for events in self._by_interrupt.values():
                for event in events:
                    event.set()
            return
        for event in self._by_interrupt.get(interrupt_id, ()):
            event.set()
