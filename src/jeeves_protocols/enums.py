"""The two vocabularies every part of the system shares: what an interrupt is, and where it stands."""

from __future__ import annotations

from enum import Enum

__all__ = ["InterruptKind", "InterruptStatus", "Resolution", "TERMINAL_STATUSES"]


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


class Resolution(str, Enum):
    """How an interrupt ended, machine-readable: a timeout never looks like a human "no"."""

    #: A human answered (`respond`).
    ANSWERED = "answered"
    #: Cancelled by the agent or an admin (`cancel`).
    CANCELLED = "cancelled"
    #: Its time ran out with no answer (`on_expire="expire"`, the default).
    EXPIRED = "expired"
    #: Its time ran out and the configured outcome rejected it (`on_expire="reject"`).
    AUTO_REJECTED = "auto_rejected"
    #: Its time ran out and the configured outcome approved it (`on_expire="approve"`).
    AUTO_APPROVED = "auto_approved"


#: The resolution of an interrupt that ended by a status alone (rows written before resolutions).
RESOLUTION_BY_STATUS = {
    InterruptStatus.RESOLVED: Resolution.ANSWERED,
    InterruptStatus.CANCELLED: Resolution.CANCELLED,
    InterruptStatus.EXPIRED: Resolution.EXPIRED,
}
