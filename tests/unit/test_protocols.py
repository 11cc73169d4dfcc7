"""The contract: seed names and defaults, row round trips, response dicts, config merging."""

from __future__ import annotations

import dataclasses
import inspect
import json
from datetime import UTC, datetime, timedelta

import pytest

import jeeves_protocols
from jeeves_control_tower import services
from jeeves_control_tower.services import interrupt_service
from jeeves_protocols import (
    DEFAULT_INTERRUPT_CONFIGS,
    FlowInterrupt,
    InterruptConfig,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    Resolution,
)
from jeeves_protocols.config import merge_config

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize("module", [jeeves_protocols, services, interrupt_service])
def test_all_is_complete_and_importable(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    for name in names:
        assert hasattr(module, name), name
    public = {n for n in vars(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n))}
    exported_from_here = {
        n for n in public if getattr(getattr(module, n), "__module__", "").startswith(module.__name__)  # type: ignore[attr-defined]
    }
    assert exported_from_here <= set(names)


SEED_NAMES = [
    "InterruptKind", "InterruptStatus", "InterruptResponse", "FlowInterrupt",
    "DatabaseProtocol", "WebhookServiceProtocol", "OTelAdapterProtocol", "LoggerProtocol",
]


@pytest.mark.parametrize("module", [jeeves_protocols, interrupt_service])
def test_the_seed_names_import_from_the_contract_and_the_implementation_module(module: object) -> None:
    for name in SEED_NAMES:
        assert getattr(module, name) is getattr(jeeves_protocols, name)


def test_services_exports_the_service_and_configs() -> None:
    from jeeves_control_tower.services import DEFAULT_INTERRUPT_CONFIGS, InterruptConfig, InterruptService

    assert InterruptService is interrupt_service.InterruptService
    assert InterruptConfig is jeeves_protocols.InterruptConfig
    assert DEFAULT_INTERRUPT_CONFIGS is jeeves_protocols.DEFAULT_INTERRUPT_CONFIGS
    for name in ("InterruptConfig", "DEFAULT_INTERRUPT_CONFIGS", *SEED_NAMES):
        assert hasattr(interrupt_service, name)


def test_enums_match_the_seed() -> None:
    assert [k.value for k in InterruptKind] == [
        "clarification", "confirmation", "agent_review", "checkpoint", "resource_exhausted", "timeout", "system_error",
    ]
    assert [s.value for s in InterruptStatus] == ["pending", "resolved", "cancelled", "expired"]
    assert InterruptKind("clarification") == "clarification"


def test_default_configs_match_the_seed() -> None:
    c = DEFAULT_INTERRUPT_CONFIGS
    assert c[InterruptKind.CLARIFICATION] == InterruptConfig(
        default_ttl=timedelta(hours=24), webhook_event="interrupt.clarification_needed", allowed_responses=["text"]
    )
    assert c[InterruptKind.CONFIRMATION] == InterruptConfig(
        default_ttl=timedelta(hours=1), webhook_event="interrupt.confirmation_needed", allowed_responses=["approved"]
    )
    assert c[InterruptKind.AGENT_REVIEW] == InterruptConfig(
        default_ttl=timedelta(minutes=30), webhook_event="interrupt.agent_review", allowed_responses=["decision"]
    )
    assert c[InterruptKind.CHECKPOINT] == InterruptConfig(
        default_ttl=None, auto_expire=False, require_response=False, webhook_event="interrupt.checkpoint"
    )
    for kind, ttl, event in [
        (InterruptKind.RESOURCE_EXHAUSTED, timedelta(minutes=5), "interrupt.resource_exhausted"),
        (InterruptKind.TIMEOUT, timedelta(minutes=5), "interrupt.timeout"),
        (InterruptKind.SYSTEM_ERROR, timedelta(hours=1), "interrupt.system_error"),
    ]:
        assert c[kind] == InterruptConfig(default_ttl=ttl, webhook_event=event, require_response=False)


def test_interrupt_config_class_defaults() -> None:
    config = InterruptConfig()
    assert (config.default_ttl, config.auto_expire, config.require_response) == (None, True, True)
    assert (config.webhook_event, config.allowed_responses) == ("interrupt.created", [])
    assert dataclasses.is_dataclass(config)
    # The seed's five, in its order (positional use keeps working), then the approval rules.
    assert list(inspect.signature(InterruptConfig).parameters) == [
        "default_ttl", "auto_expire", "require_response", "webhook_event", "allowed_responses",
        "on_expire", "forbid_self_approval", "remind_after",
    ]
    assert (config.on_expire, config.forbid_self_approval, config.remind_after) == ("expire", False, [])


def test_merge_keeps_unset_fields_and_takes_explicit_defaults() -> None:
    base = DEFAULT_INTERRUPT_CONFIGS[InterruptKind.CLARIFICATION]
    longer = merge_config(base, InterruptConfig(default_ttl=timedelta(hours=48)))
    assert longer.default_ttl == timedelta(hours=48)
    assert longer.webhook_event == "interrupt.clarification_needed"
    assert longer.allowed_responses == ["text"]
    never = merge_config(base, InterruptConfig(default_ttl=None))
    assert never.default_ttl is None
    positional = merge_config(base, InterruptConfig(timedelta(minutes=1)))
    assert positional.default_ttl == timedelta(minutes=1) and positional.webhook_event == base.webhook_event
    assigned = InterruptConfig()
    assigned.require_response = False
    assert merge_config(base, assigned).require_response is False
    assert merge_config(base, assigned).default_ttl == base.default_ttl


def full_interrupt() -> FlowInterrupt:
    return FlowInterrupt(
        id="int-1",
        kind=InterruptKind.CONFIRMATION,
        request_id="req-1",
        user_id="user-1",
        session_id="sess-1",
        envelope_id="env-1",
        question="q?",
        message="Proceed?",
        data={"files": [1, 2], "nested": {"a": None}},
        status=InterruptStatus.RESOLVED,
        response=InterruptResponse(approved=True, data={"why": "ok"}, received_at=T0, responder_id="user-1"),
        created_at=T0,
        expires_at=T0 + timedelta(hours=1),
        resolved_at=T0 + timedelta(minutes=2),
        trace_id="t" * 32,
        span_id="s" * 16,
        idempotency_key="key-1",
        created_by="agent-1",
        policy={"on_expire": "reject", "expiry_response": {"approved": False, "via": "expiry"}},
        action_hash="a" * 64,
        resolution=Resolution.ANSWERED,
        consumed_at=T0 + timedelta(minutes=3),
    )


def test_db_row_round_trip_loses_nothing() -> None:
    original = full_interrupt()
    row = original.to_db_row()
    assert isinstance(row["data"], str) and isinstance(row["response"], str)
    assert FlowInterrupt.from_db_row(row) == original
    assert FlowInterrupt.from_db_row(json.loads(json.dumps(original.to_dict()))) == original


def test_from_db_row_accepts_datetimes_dicts_and_minimal_rows() -> None:
    original = full_interrupt()
    row = original.to_db_row()
    row.update(
        created_at=T0, expires_at=T0 + timedelta(hours=1), resolved_at=(T0 + timedelta(minutes=2)).replace(tzinfo=None),
        data=original.data, response=original.response.to_dict(),  # type: ignore[union-attr]
    )
    assert FlowInterrupt.from_db_row(row) == original
    minimal = FlowInterrupt.from_db_row(
        {"id": "i", "kind": "checkpoint", "request_id": "r", "user_id": "u", "session_id": "s"}
    )
    assert minimal.status is InterruptStatus.PENDING and minimal.data == {} and minimal.response is None
    assert minimal.created_at.tzinfo is not None
    with pytest.raises(ValueError, match="session_id"):
        FlowInterrupt.from_db_row({"id": "i", "kind": "checkpoint", "request_id": "r", "user_id": "u"})


def test_to_dict_is_json_ready() -> None:
    payload = full_interrupt().to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["kind"] == "confirmation" and payload["status"] == "resolved"
    assert payload["created_at"] == "2026-03-01T09:30:15.123456+00:00"


def test_response_to_dict_leaves_out_unset_fields_and_records_received_at() -> None:
    assert set(InterruptResponse(text="hi").to_dict()) == {"text", "received_at"}
    assert InterruptResponse(approved=False).to_dict()["approved"] is False
    stamped = InterruptResponse(decision="approve", received_at=T0).to_dict()
    assert stamped == {"decision": "approve", "received_at": "2026-03-01T09:30:15.123456+00:00"}
    fresh = datetime.fromisoformat(InterruptResponse().to_dict()["received_at"])
    assert fresh.tzinfo is not None
    response = InterruptResponse(text="t", approved=True, decision="d", data={"x": 1}, received_at=T0, responder_id="u")
    assert InterruptResponse.from_dict(response.to_dict()) == response
