"""Change listeners, shared by every store."""

from __future__ import annotations

from collections.abc import Iterable

from .base import ChangeListener


class ListenerSet:
    """Holds the callbacks a store calls after it commits (or learns of) a change."""

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _announce(self, interrupt_ids: Iterable[str]) -> None:
        if not self._listeners:
            return
        for interrupt_id in interrupt_ids:
            for listener in tuple(self._listeners):
                listener(interrupt_id)
