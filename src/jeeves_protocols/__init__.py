"""jeeves_protocols: the contract of jeeves-control-tower. Standard library only, no I/O."""

from .config import DEFAULT_INTERRUPT_CONFIGS, InterruptConfig
from .enums import TERMINAL_STATUSES, InterruptKind, InterruptStatus
from .errors import (
    CorruptInterruptError,
    IdempotencyConflictError,
    InterruptError,
    InterruptExpiredError,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InvalidInterruptError,
    InvalidResponseError,
    ResponderMismatchError,
    StoreError,
    WaitTimeoutError,
)
from .interrupts import FlowInterrupt, InterruptResponse
from .protocols import DatabaseProtocol, LoggerProtocol, OTelAdapterProtocol, WebhookServiceProtocol

__all__ = [
    "CorruptInterruptError",
    "DatabaseProtocol",
    "DEFAULT_INTERRUPT_CONFIGS",
    "FlowInterrupt",
    "IdempotencyConflictError",
    "InterruptConfig",
    "InterruptError",
    "InterruptExpiredError",
    "InterruptKind",
    "InterruptNotFoundError",
    "InterruptNotPendingError",
    "InterruptResponse",
    "InterruptStatus",
    "InvalidInterruptError",
    "InvalidResponseError",
    "LoggerProtocol",
    "OTelAdapterProtocol",
    "ResponderMismatchError",
    "StoreError",
    "TERMINAL_STATUSES",
    "WaitTimeoutError",
    "WebhookServiceProtocol",
]
