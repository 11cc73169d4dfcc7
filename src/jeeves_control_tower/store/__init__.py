"""Interrupt stores: the storage boundary and its backends (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from .base import (
    TERMINAL_EVENT_TYPES,
    Finish,
    FinishOutcome,
    Guard,
    InterruptEvent,
    InterruptStore,
)
from .memory import MemoryStore

__all__ = [
    "Finish",
    "FinishOutcome",
    "Guard",
    "InterruptEvent",
    "InterruptStore",
    "MemoryStore",
    "TERMINAL_EVENT_TYPES",
]

