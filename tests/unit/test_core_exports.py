"""The names the issue promises are in each module's `__all__`, so `from m import *` and
documentation tools see them, and `__all__` names nothing that is missing or duplicated."""

from __future__ import annotations

import importlib

import pytest

SEED_CONTRACT = [
    "InterruptKind", "InterruptStatus", "InterruptResponse", "FlowInterrupt",
    "DatabaseProtocol", "WebhookServiceProtocol", "OTelAdapterProtocol", "LoggerProtocol",
]
SERVICE = ["InterruptService", "InterruptConfig", "DEFAULT_INTERRUPT_CONFIGS"]
ERRORS = [
    "InterruptError", "InvalidInterruptError", "IdempotencyConflictError", "InterruptNotFoundError",
    "InterruptNotPendingError", "InterruptExpiredError", "ResponderMismatchError", "InvalidResponseError",
    "WaitTimeoutError", "StoreError", "CorruptInterruptError",
]

PROMISED = {
    "jeeves_protocols": [*SEED_CONTRACT, "InterruptConfig", "DEFAULT_INTERRUPT_CONFIGS", *ERRORS],
    "jeeves_control_tower.services": SERVICE,
    "jeeves_control_tower.services.interrupt_service": [*SERVICE, *SEED_CONTRACT],
}


@pytest.mark.parametrize("module_name", sorted(PROMISED))
def test_promised_names_are_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    assert set(PROMISED[module_name]) <= set(exported)
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # what a star import really gives
    assert set(exported) <= set(namespace)


def test_the_same_objects_everywhere() -> None:
    """One class per name: an isinstance check must not depend on the import path used."""
    protocols = importlib.import_module("jeeves_protocols")
    for module_name in ("jeeves_control_tower.services", "jeeves_control_tower.services.interrupt_service"):
        module = importlib.import_module(module_name)
        for name in set(PROMISED[module_name]) - {"InterruptService"}:
            assert getattr(module, name) is getattr(protocols, name), (module_name, name)


def test_every_error_has_one_root_and_a_stable_code() -> None:
    protocols = importlib.import_module("jeeves_protocols")
    root = protocols.InterruptError
    codes = {}
    for name in ERRORS:
        cls = getattr(protocols, name)
        assert issubclass(cls, root)
        codes[name] = cls.code
    assert codes["InterruptExpiredError"] == "expired"
    assert issubclass(protocols.InterruptExpiredError, protocols.InterruptNotPendingError)
    assert issubclass(protocols.WaitTimeoutError, TimeoutError)
    assert len(set(codes.values()) - {root.code}) == len(ERRORS) - 1
