"""Kernel-level services of the Control Tower."""

from jeeves_protocols import DEFAULT_INTERRUPT_CONFIGS, InterruptConfig

from ..store.base import InterruptEvent
from ..store.listing import EventQuery, InterruptQuery, Visibility
from .interrupt_service import InterruptService

__all__ = [
    "DEFAULT_INTERRUPT_CONFIGS",
    "EventQuery",
    "InterruptConfig",
    "InterruptEvent",
    "InterruptQuery",
    "InterruptService",
    "Visibility",
]
