"""jeeves-control-tower: a durable human-in-the-loop interrupt service for AI agent runtimes."""

from importlib import metadata as _metadata

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

try:
    __version__ = _metadata.version("jeeves-control-tower")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

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
