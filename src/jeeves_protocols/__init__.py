"""jeeves_protocols: the contract of jeeves-control-tower. Standard library only, no I/O."""

from .config import DEFAULT_INTERRUPT_CONFIGS, InterruptConfig
from .enums import TERMINAL_STATUSES, InterruptKind, InterruptStatus, Resolution
from .errors import (
    ApprovalError,
    ApprovalMismatchError,
    ApprovalNotGrantedError,
    ApprovalUsedError,
    CorruptInterruptError,
    IdempotencyConflictError,
    InterruptError,
    InterruptExpiredError,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InvalidInterruptError,
    InvalidResponseError,
    ResponderMismatchError,
    SelfApprovalError,
    StoreError,
    WaitTimeoutError,
)
from .interrupts import FlowInterrupt, InterruptResponse
from .protocols import DatabaseProtocol, LoggerProtocol, OTelAdapterProtocol, WebhookServiceProtocol

__all__ = [
    "ApprovalError",
    "ApprovalMismatchError",
    "ApprovalNotGrantedError",
    "ApprovalUsedError",
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
    "Resolution",
    "ResponderMismatchError",
    "SelfApprovalError",
    "StoreError",
    "TERMINAL_STATUSES",
    "WaitTimeoutError",
    "WebhookServiceProtocol",
]
