"""jeeves-control-tower: a durable human-in-the-loop interrupt service for AI agent runtimes."""

from jeeves_protocols import (
    FlowInterrupt,
    InterruptConfig,
    InterruptError,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
)

from .backend import Backend, open_backend
from .services import DEFAULT_INTERRUPT_CONFIGS, InterruptService
from .store.sqlite import SQLiteDatabase

__all__ = [
    "Backend",
    "DEFAULT_INTERRUPT_CONFIGS",
    "FlowInterrupt",
    "InterruptConfig",
    "InterruptError",
    "InterruptKind",
    "InterruptResponse",
    "InterruptService",
    "InterruptStatus",
    "open_backend",
    "PostgresDatabase",
    "SQLiteDatabase",
]


def __getattr__(name: str) -> object:
    # PostgresDatabase needs asyncpg; import it only when asked for.
    if name == "PostgresDatabase":
        from .store.postgres import PostgresDatabase

        return PostgresDatabase
    raise AttributeError(name)
