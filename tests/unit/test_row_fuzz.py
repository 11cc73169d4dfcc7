"""Property-based fuzzing of the row parsers: `FlowInterrupt.from_db_row`, `FlowInterrupt.from_json`
and `InterruptResponse.from_dict`.

Whatever a row holds, parsing either gives an interrupt that every layer above can serve (JSON
with no NaN, encodable as UTF-8, accepted and serialised by the API's response model) or raises
CorruptInterruptError; never a KeyError, TypeError, RecursionError or anything else. A valid
interrupt survives its row and JSON forms unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jeeves_control_tower.api.models import InterruptOut
from jeeves_protocols import (
    CorruptInterruptError,
    FlowInterrupt,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    Resolution,
    StoreError,
)
from jeeves_protocols.interrupts import MAX_STORED_DATA_DEPTH

COLUMNS = [
    "id", "kind", "request_id", "user_id", "session_id", "envelope_id", "question", "message", "data",
    "status", "response", "created_at", "expires_at", "resolved_at", "trace_id", "span_id", "idempotency_key",
]
RESPONSE_KEYS = ["text", "approved", "decision", "data", "received_at", "responder_id"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- values a valid interrupt holds -------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
texts = st.text(max_size=30)
optional_texts = st.none() | texts

responses = st.builds(
    InterruptResponse,
    text=optional_texts,
    approved=st.none() | st.booleans(),
    decision=optional_texts,
    data=json_objects,
    # to_dict() stamps a missing received_at with "now", so only a set one round-trips.
    received_at=moments,
    responder_id=optional_texts,
    action_hash=optional_texts,
    token_id=optional_texts,
    via=optional_texts,
)


def _resolutions(status: InterruptStatus) -> st.SearchStrategy[Optional[Resolution]]:
    """How an interrupt of this status can have ended (a store always says; pending: not yet)."""
    if status is InterruptStatus.PENDING:
        return st.none()
    if status is InterruptStatus.RESOLVED:
        return st.sampled_from([Resolution.ANSWERED, Resolution.AUTO_REJECTED, Resolution.AUTO_APPROVED])
    return st.just(Resolution(status.value))


def _ended_as(interrupt: FlowInterrupt) -> st.SearchStrategy[FlowInterrupt]:
    return _resolutions(interrupt.status).map(lambda resolution: dataclasses.replace(interrupt, resolution=resolution))


interrupts = st.builds(
    FlowInterrupt,
    id=st.text(min_size=1, max_size=30),
    kind=st.sampled_from(InterruptKind),
    request_id=texts,
    user_id=texts,
    session_id=texts,
    envelope_id=optional_texts,
    question=optional_texts,
    message=optional_texts,
    data=json_objects,
    status=st.sampled_from(InterruptStatus),
    response=st.none() | responses,
    created_at=moments,
    expires_at=st.none() | moments,
    resolved_at=st.none() | moments,
    trace_id=optional_texts,
    span_id=optional_texts,
    idempotency_key=optional_texts,
    created_by=optional_texts,
    policy=json_objects,
    action_hash=optional_texts,
    consumed_at=st.none() | moments,
).flatmap(_ended_as)

# -- values a damaged row may hold --------------------------------------------------------------


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


json_texts = st.one_of(
    json_values.map(json.dumps),
    json_objects.map(json.dumps),
    st.integers(min_value=1, max_value=1500).map(nested),
    st.integers(min_value=1, max_value=1500).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(
        ["", "{", "null", "[]", "{}", '{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', '{"a": "\\ud800"}',
         '{"\\udfff": 1}', '{"a": "\\ud83d\\ude00"}', "1" * 5000, '"text"', "{'a': 1}"]
    ),
    st.text(max_size=40),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    json_texts,
    json_texts.map(str.encode),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    st.dictionaries(st.integers(), st.integers(), max_size=2),
    st.sampled_from(
        ["clarification", "pending", "resolved", "2026-01-01T00:00:00+00:00", "9999-12-31T23:59:59-01:00",
         "0001-01-01T00:00:00+05:00", "not a time", "\x00", "\ud800"]
    ),
)


def valid_row() -> st.SearchStrategy[dict[str, Any]]:
    return interrupts.map(FlowInterrupt.to_db_row)


@st.composite
def damaged_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A valid row with some columns replaced by junk, some dropped, maybe an unknown one added."""
    row = draw(valid_row())
    for column in draw(st.lists(st.sampled_from(COLUMNS), max_size=4, unique=True)):
        if draw(st.booleans()):
            row[column] = draw(junk)
        else:
            del row[column]
    if draw(st.booleans()):
        row[draw(st.text(max_size=8))] = draw(junk)
    return row


def assert_servable(interrupt: FlowInterrupt) -> None:
    """What the API and the event stream do with an interrupt they read must work."""
    as_dict = interrupt.to_dict()
    json.dumps(as_dict, allow_nan=False, ensure_ascii=False).encode("utf-8")
    InterruptOut.model_validate(as_dict).model_dump_json()


def _has_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_or_refuse(row: Any) -> FlowInterrupt | None:
    try:
        interrupt = FlowInterrupt.from_db_row(row)
    except CorruptInterruptError as exc:
        assert exc.message and exc.code == "corrupt_interrupt"
        assert isinstance(exc, StoreError) and isinstance(exc, ValueError)
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            # An id with no UTF-8 form (a lone surrogate) cannot be named anywhere it is reported.
            named = row["id"] if _has_utf8(row["id"]) else None
            assert exc.interrupt_id == named
        return None
    assert_servable(interrupt)
    return interrupt


# -- the properties -----------------------------------------------------------------------------


@FUZZ
@given(interrupts)
def test_a_valid_interrupt_round_trips_through_its_row_and_its_json(interrupt: FlowInterrupt) -> None:
    assert FlowInterrupt.from_db_row(interrupt.to_db_row()) == interrupt
    assert FlowInterrupt.from_json(json.dumps(interrupt.to_dict())) == interrupt
    # A driver that decodes JSON columns itself (a jsonb codec) hands over mappings instead.
    assert FlowInterrupt.from_db_row(interrupt.to_dict()) == interrupt
    assert_servable(interrupt)


@FUZZ
@given(responses)
def test_a_valid_response_round_trips_through_its_dict(response: InterruptResponse) -> None:
    assert InterruptResponse.from_dict(response.to_dict()) == response
    assert InterruptResponse.from_dict(json.loads(json.dumps(response.to_dict()))) == response


@FUZZ
@given(damaged_rows())
def test_a_damaged_row_is_read_or_refused_with_the_one_typed_error(row: dict[str, Any]) -> None:
    parse_or_refuse(row)


@FUZZ
@given(st.dictionaries(st.sampled_from(COLUMNS) | st.text(max_size=6), junk, max_size=len(COLUMNS) + 2))
def test_any_dict_is_read_or_refused_with_the_one_typed_error(row: dict[str, Any]) -> None:
    parse_or_refuse(row)


@FUZZ
@given(junk)
def test_a_row_that_is_not_a_mapping_is_refused(row: Any) -> None:
    with pytest.raises(CorruptInterruptError):
        FlowInterrupt.from_db_row(row)


@FUZZ
@given(st.one_of(json_texts, st.binary(max_size=30), json_texts.map(str.encode)))
def test_any_journal_payload_text_is_read_or_refused(text: str | bytes) -> None:
    try:
        interrupt = FlowInterrupt.from_json(text, interrupt_id="i-1")
    except CorruptInterruptError:
        return
    assert_servable(interrupt)


@FUZZ
@given(
    st.one_of(
        st.dictionaries(st.sampled_from(RESPONSE_KEYS) | st.text(max_size=5), junk, max_size=8),
        junk,
    )
)
def test_any_response_value_is_read_or_refused_with_the_one_typed_error(value: Any) -> None:
    try:
        response = InterruptResponse.from_dict(value)
    except CorruptInterruptError as exc:
        assert exc.column is not None and exc.column.startswith("response")
        return
    json.dumps(response.to_dict(), allow_nan=False, ensure_ascii=False).encode("utf-8")
    # As a stored response column (JSON text), it is read the same way inside a row.
    row = {"id": "i", "kind": "clarification", "request_id": "r", "user_id": "u", "session_id": "s"}
    parse_or_refuse({**row, "response": json.dumps(response.to_dict())})


# -- the limits, case by case -------------------------------------------------------------------

ROW = {"id": "i-1", "kind": "clarification", "request_id": "r", "user_id": "u", "session_id": "s"}


def deep_object(levels: int) -> str:
    """JSON text of an object nested `levels` deep, the object itself being level 1."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


def test_data_at_the_depth_limit_is_read_and_one_level_more_is_refused() -> None:
    at_limit = FlowInterrupt.from_db_row({**ROW, "data": deep_object(MAX_STORED_DATA_DEPTH)})
    assert_servable(at_limit)
    with pytest.raises(CorruptInterruptError, match="deeper than") as refused:
        FlowInterrupt.from_db_row({**ROW, "data": deep_object(MAX_STORED_DATA_DEPTH + 1)})
    assert refused.value.column == "data" and refused.value.interrupt_id == "i-1"
    with pytest.raises(CorruptInterruptError, match="deeper than"):
        FlowInterrupt.from_db_row({**ROW, "data": json.loads(deep_object(MAX_STORED_DATA_DEPTH + 1))})
    # The limit is on the response's `data`, one level inside the response object.
    answered = {**ROW, "response": '{"data":' + deep_object(MAX_STORED_DATA_DEPTH) + "}"}
    assert_servable(FlowInterrupt.from_db_row(answered))
    with pytest.raises(CorruptInterruptError, match="deeper than") as refused:
        FlowInterrupt.from_db_row(
            {**ROW, "response": '{"data":' + deep_object(MAX_STORED_DATA_DEPTH + 1) + "}"}
        )
    assert refused.value.column is not None and refused.value.column.startswith("response")
    with pytest.raises(CorruptInterruptError, match="too deeply"):
        FlowInterrupt.from_db_row({**ROW, "data": nested(100_000, "{\"a\":", "}")})


def test_the_read_limit_covers_every_write_the_service_accepts() -> None:
    from jeeves_control_tower.services.validation import MAX_DATA_DEPTH

    # Anything accepted must stay readable (the cancel reason adds no level).
    assert MAX_DATA_DEPTH <= MAX_STORED_DATA_DEPTH < 255


@pytest.mark.parametrize(
    ("column", "value", "cause"),
    [
        ("kind", "bogus", "unknown interrupt kind"),
        ("status", "weird", "unknown status"),
        ("data", '{"a":', "not valid JSON"),
        ("data", "[1, 2]", "JSON object"),
        ("data", '{"a": NaN}', "not valid JSON"),
        ("data", '{"a": 1e999}', "out of range"),
        ("data", '{"a": "\\ud800"}', "lone surrogate"),
        ("data", b"\xff{}", "not valid JSON"),
        ("created_at", "yesterday", "not a time"),
        ("expires_at", 12, "not a time"),
        ("question", b"\xff", "must be text"),
        ("request_id", None, "missing"),
        ("response", '{"approved": "yes"}', "true, false or null"),
        ("response", '{"received_at": "soon"}', "not a time"),
        ("response", "[]", "JSON object"),
    ],
)
def test_each_kind_of_damage_names_its_column(column: str, value: Any, cause: str) -> None:
    with pytest.raises(CorruptInterruptError, match=cause) as refused:
        FlowInterrupt.from_db_row({**ROW, column: value})
    assert refused.value.interrupt_id == "i-1"
    assert refused.value.column is not None and refused.value.column.startswith(column)
    assert "i-1" in refused.value.message


def test_floats_that_json_can_carry_still_read() -> None:
    interrupt = FlowInterrupt.from_db_row({**ROW, "data": '{"a": 1.5e300, "b": -0.0, "c": 5e-324}'})
    assert interrupt.data["a"] == 1.5e300 and math.copysign(1, interrupt.data["b"]) == -1


@FUZZ
@given(interrupts)
def test_the_api_writes_an_interrupt_exactly_as_its_response_model_would(interrupt: FlowInterrupt) -> None:
    """The routes answer `_out(interrupt)` without validating it through InterruptOut: it must be
    what that validation gives, field for field and in the same order."""
    from jeeves_control_tower.api.routes import interrupt_out as _out

    modelled = InterruptOut.model_validate(interrupt.to_dict()).model_dump(mode="json")
    direct = _out(interrupt)
    assert direct == modelled
    assert list(direct) == list(modelled)
    if direct["response"] is not None:
        assert list(direct["response"]) == list(modelled["response"])
