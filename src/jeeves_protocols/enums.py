"""The two vocabularies every part of the system shares: what an interrupt is, and where it stands."""

from __future__ import annotations

from enum import Enum

__all__ = ["InterruptKind", "InterruptStatus", "TERMINAL_STATUSES"]


class InterruptKind(str, Enum):
    CLARIFICATION = "clarification"
    CONFIRMATION = "confirmation"
    AGENT_REVIEW = "agent_review"
    CHECKPOINT = "checkpoint"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    TIMEOUT = "timeout"
    SYSTEM_ERROR = "system_error"


class InterruptStatus(str, Enum):
    PENDING = "pending"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


#: Statuses an interrupt never leaves once it has reached them.
TERMINAL_STATUSES = frozenset(
    {InterruptStatus.RESOLVED, InterruptStatus.CANCELLED, InterruptStatus.EXPIRED}
)
