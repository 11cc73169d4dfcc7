"""Kernel-level services of the Control Tower."""

from jeeves_protocols import DEFAULT_INTERRUPT_CONFIGS, InterruptConfig

from .interrupt_service import InterruptService

__all__ = ["InterruptService", "InterruptConfig", "DEFAULT_INTERRUPT_CONFIGS"]
