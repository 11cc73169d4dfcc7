"""Per-kind behaviour of interrupts, and the defaults for each kind."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, Optional

from .enums import InterruptKind

__all__ = ["InterruptConfig", "DEFAULT_INTERRUPT_CONFIGS", "merge_config"]


@dataclass
class InterruptConfig:
    """How interrupts of one kind behave.

    A config passed to `InterruptService(configs=...)` overrides only the fields its caller
    set: `InterruptConfig(default_ttl=timedelta(hours=48))` for clarifications changes the TTL
    and keeps the kind's webhook event and allowed responses. To set a field back to the class
    default, pass it explicitly: `InterruptConfig(default_ttl=None)` means "never expires".
    """

    default_ttl: Optional[timedelta] = None
    auto_expire: bool = True
    require_response: bool = True
    webhook_event: str = "interrupt.created"
    allowed_responses: list[str] = field(default_factory=list)
    #: What the expiry of an unanswered interrupt does: "expire" (the default), or for
    #: confirmations and reviews "reject" (approved=False / decision "reject") or "approve".
    #: The outcome shows in `FlowInterrupt.resolution` ("auto_rejected", "auto_approved").
    on_expire: str = "expire"
    #: Refuse answers from the principal that raised the interrupt (its `created_by`).
    forbid_self_approval: bool = False
    #: Times after creation at which a still-pending interrupt is announced again
    #: ("interrupt.reminder": webhook, event stream, log), each once.
    remind_after: list[timedelta] = field(default_factory=list)

    @property
    def explicit_fields(self) -> frozenset[str]:
        """The fields given to the constructor or assigned since; only these override a kind's default."""
        return frozenset(getattr(self, "_explicit", ()))

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _FIELD_NAMES and not getattr(self, "_initialising", False):
            explicit: set[str] = self.__dict__.setdefault("_explicit", set())
            explicit.add(name)


_FIELD_NAMES = frozenset(f.name for f in fields(InterruptConfig))
_FIELD_ORDER = [f.name for f in fields(InterruptConfig)]
_dataclass_init = InterruptConfig.__init__


@functools.wraps(_dataclass_init)
def _tracking_init(self: InterruptConfig, *args: Any, **kwargs: Any) -> None:
    self.__dict__["_initialising"] = True
    try:
        _dataclass_init(self, *args, **kwargs)
    finally:
        del self.__dict__["_initialising"]
    self.__dict__["_explicit"] = set(_FIELD_ORDER[: len(args)]) | set(kwargs)


InterruptConfig.__init__ = _tracking_init  # type: ignore[method-assign]


def merge_config(base: InterruptConfig, override: InterruptConfig) -> InterruptConfig:
    """`base` with the fields `override`'s caller set explicitly."""
    changes = {name: getattr(override, name) for name in override.explicit_fields}
    merged = replace(base, **changes)
    merged.__dict__["_explicit"] = set(base.explicit_fields) | set(changes)
    return merged


DEFAULT_INTERRUPT_CONFIGS: dict[InterruptKind, InterruptConfig] = {
    InterruptKind.CLARIFICATION: InterruptConfig(
        default_ttl=timedelta(hours=24),
        webhook_event="interrupt.clarification_needed",
        allowed_responses=["text"],
    ),
    InterruptKind.CONFIRMATION: InterruptConfig(
        default_ttl=timedelta(hours=1),
        webhook_event="interrupt.confirmation_needed",
        allowed_responses=["approved"],
    ),
    InterruptKind.AGENT_REVIEW: InterruptConfig(
        default_ttl=timedelta(minutes=30),
        webhook_event="interrupt.agent_review",
        allowed_responses=["decision"],
    ),
    InterruptKind.CHECKPOINT: InterruptConfig(
        default_ttl=None,  # No expiry
        auto_expire=False,
        require_response=False,
        webhook_event="interrupt.checkpoint",
    ),
    InterruptKind.RESOURCE_EXHAUSTED: InterruptConfig(
        default_ttl=timedelta(minutes=5),
        webhook_event="interrupt.resource_exhausted",
        require_response=False,
    ),
    InterruptKind.TIMEOUT: InterruptConfig(
        default_ttl=timedelta(minutes=5),
        webhook_event="interrupt.timeout",
        require_response=False,
    ),
    InterruptKind.SYSTEM_ERROR: InterruptConfig(
        default_ttl=timedelta(hours=1),
        webhook_event="interrupt.system_error",
        require_response=False,
    ),
}
