"""The one exception tree of jeeves. Each docstring is the exception's default message.

    InterruptError
    ├── InvalidInterruptError        bad input to create/query (also a ValueError)
    │   └── IdempotencyConflictError an idempotency key reused for another request
    ├── InterruptNotFoundError       no interrupt has that id (or the caller may not see it)
    ├── InterruptNotPendingError     the interrupt already left pending; `.status` says where it is
    │   └── InterruptExpiredError    ... because its time ran out
    ├── ResponderMismatchError       the responder is not the user the interrupt is for
    │   └── SelfApprovalError        ... because they raised it, and its policy forbids that
    ├── ApprovalError                an approval does not cover what the agent is about to do
    │   ├── ApprovalNotGrantedError  nothing was approved: pending, rejected, cancelled, expired
    │   ├── ApprovalMismatchError    the action differs from the one approved (tampered or edited)
    │   └── ApprovalUsedError        the approval was already consumed (a replay)
    ├── InvalidResponseError         the response does not fit the kind; `.field` names what is needed
    ├── WaitTimeoutError             wait_for_response gave up (also a TimeoutError)
    └── StoreError                   the storage backend failed; the operation did not happen
        └── CorruptInterruptError    a stored interrupt cannot be read back (also a ValueError);
                                     `.interrupt_id` and `.column` name it
"""

from __future__ import annotations

from typing import Any, Optional

from .enums import InterruptStatus

__all__ = [
    "InterruptError",
    "InvalidInterruptError",
    "IdempotencyConflictError",
    "InterruptNotFoundError",
    "InterruptNotPendingError",
    "InterruptExpiredError",
    "ResponderMismatchError",
    "SelfApprovalError",
    "ApprovalError",
    "ApprovalNotGrantedError",
    "ApprovalMismatchError",
    "ApprovalUsedError",
    "InvalidResponseError",
    "WaitTimeoutError",
    "StoreError",
    "CorruptInterruptError",
]


class InterruptError(Exception):
    """An interrupt operation failed."""

    #: A stable machine-readable code (used by the HTTP API's problem documents).
    code = "interrupt_error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (type(self).__doc__ or "").strip()
        self.details = details
        super().__init__(self.message)


class InvalidInterruptError(InterruptError, ValueError):
    """The interrupt request is not valid."""

    code = "invalid_input"

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any) -> None:
        self.field = field
        super().__init__(message, field=field, **details)


class IdempotencyConflictError(InvalidInterruptError):
    """The idempotency key was already used for a different request."""

    code = "idempotency_conflict"


class InterruptNotFoundError(InterruptError):
    """No interrupt with that id exists."""

    code = "not_found"

    def __init__(self, interrupt_id: str, message: str | None = None) -> None:
        self.interrupt_id = interrupt_id
        super().__init__(message or f"interrupt {interrupt_id!r} not found", interrupt_id=interrupt_id)


class InterruptNotPendingError(InterruptError):
    """The interrupt is no longer pending."""

    code = "not_pending"

    def __init__(self, interrupt_id: str, status: InterruptStatus, message: str | None = None) -> None:
        self.interrupt_id = interrupt_id
        self.status = InterruptStatus(status)
        super().__init__(
            message or f"interrupt {interrupt_id!r} is {self.status.value}, not pending",
            interrupt_id=interrupt_id,
            status=self.status.value,
        )


class InterruptExpiredError(InterruptNotPendingError):
    """The interrupt expired before it was answered."""

    code = "expired"

    def __init__(self, interrupt_id: str, message: str | None = None) -> None:
        super().__init__(
            interrupt_id, InterruptStatus.EXPIRED, message or f"interrupt {interrupt_id!r} has expired"
        )


class ResponderMismatchError(InterruptError):
    """The responder is not the user this interrupt is addressed to."""

    code = "responder_mismatch"

    def __init__(self, interrupt_id: str, responder_id: str) -> None:
        self.interrupt_id = interrupt_id
        self.responder_id = responder_id
        super().__init__(
            f"user {responder_id!r} may not respond to interrupt {interrupt_id!r}",
            interrupt_id=interrupt_id,
        )


class SelfApprovalError(ResponderMismatchError):
    """The interrupt's policy forbids its creator to answer it."""

    code = "self_approval_forbidden"

    def __init__(self, interrupt_id: str, responder_id: Optional[str], message: Optional[str] = None) -> None:
        self.interrupt_id = interrupt_id
        self.responder_id = responder_id or ""  # "": the answer named no responder
        why = (
            f"{responder_id!r} raised it and may not answer it"
            if responder_id is not None
            else "an answer must name its responder"
        )
        message = message or f"interrupt {interrupt_id!r} forbids self-approval: {why}"
        InterruptError.__init__(self, message, interrupt_id=interrupt_id)


class ApprovalError(InterruptError):
    """The approval does not cover this action."""

    code = "approval_invalid"

    def __init__(self, interrupt_id: str, message: Optional[str] = None) -> None:
        self.interrupt_id = interrupt_id
        super().__init__(message, interrupt_id=interrupt_id)


class ApprovalNotGrantedError(ApprovalError):
    """The interrupt holds no approval: it is pending, rejected, cancelled or expired."""

    code = "not_approved"


class ApprovalMismatchError(ApprovalError):
    """The action is not the one the approval covers."""

    code = "approval_mismatch"


class ApprovalUsedError(ApprovalError):
    """The approval was already used."""

    code = "approval_used"


class InvalidResponseError(InterruptError, ValueError):
    """The response does not fit the interrupt's kind."""

    code = "invalid_response"

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any) -> None:
        self.field = field
        super().__init__(message, field=field, **details)


class WaitTimeoutError(InterruptError, TimeoutError):
    """No response arrived before the wait timed out."""

    code = "wait_timeout"

    def __init__(self, interrupt_id: str, timeout: float) -> None:
        self.interrupt_id = interrupt_id
        self.timeout = timeout
        super().__init__(
            f"interrupt {interrupt_id!r} still pending after {timeout:g}s",
            interrupt_id=interrupt_id,
            timeout=timeout,
        )


class StoreError(InterruptError):
    """The interrupt store failed; nothing was changed."""

    code = "store_error"


class CorruptInterruptError(StoreError, ValueError):
    """A stored interrupt cannot be read back."""

    code = "corrupt_interrupt"

    def __init__(
        self, interrupt_id: str | None, message: str | None = None, *, column: str | None = None
    ) -> None:
        #: None when the id itself is what cannot be read.
        self.interrupt_id = interrupt_id
        self.column = column
        super().__init__(message, interrupt_id=interrupt_id, column=column)
