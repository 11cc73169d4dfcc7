"""Change listeners, shared by every store."""

from __future__ import annotations

from collections.abc import Iterable

from .base import ChangeListener


class ListenerSet:
    """Holds the callbacks a store calls after it commits (or learns of) a change.

    The listeners are an immutable tuple, replaced on add and remove: announcing (on every
    change) iterates it without a copy, and a listener that adds or removes one mid-announcement
    cannot disturb the loop.
    """

    def __init__(self) -> None:
        self._listeners: tuple[ChangeListener, ...] = ()

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            listeners = list(self._listeners)
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    def _announce_one(self, interrupt_id: str) -> None:
        for listener in self._listeners:
            listener(interrupt_id)

    def _announce(self, interrupt_ids: Iterable[str]) -> None:
        if not self._listeners:
            return
        for interrupt_id in interrupt_ids:
            for listener in self._listeners:
                listener(interrupt_id)
