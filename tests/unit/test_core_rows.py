"""Row decoding edges that real databases produce: later migrations' extra columns, NULL JSON,
bytes from drivers, offsets other than UTC; and the response dict's inverse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jeeves_protocols import FlowInterrupt, InterruptResponse, InterruptStatus

REQUIRED = {"id": "i", "kind": "checkpoint", "request_id": "r", "user_id": "u", "session_id": "s"}


def test_columns_added_by_later_migrations_are_ignored() -> None:
    # `SELECT *` keeps working when a migration adds a column the contract does not know.
    row = {**REQUIRED, "webhook_fanned_out": 1, "tenant": "t"}
    assert FlowInterrupt.from_db_row(row).id == "i"


@pytest.mark.parametrize(("data", "response"), [(None, None), ("null", "null"), ("{}", None)])
def test_null_json_reads_as_empty(data: object, response: object) -> None:
    interrupt = FlowInterrupt.from_db_row({**REQUIRED, "data": data, "response": response})
    assert interrupt.data == {} and interrupt.response is None


def test_bytes_json_and_offsets_are_normalised() -> None:
    interrupt = FlowInterrupt.from_db_row(
        {**REQUIRED, "data": b'{"a": 1}', "created_at": "2026-01-01T02:00:00+02:00", "status": "resolved"}
    )
    assert interrupt.data == {"a": 1}
    assert interrupt.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert interrupt.created_at.utcoffset() is not None
    assert interrupt.status is InterruptStatus.RESOLVED


def test_unknown_kind_in_a_row_is_an_error() -> None:
    with pytest.raises(ValueError, match="zzz"):
        FlowInterrupt.from_db_row({**REQUIRED, "kind": "zzz"})


def test_response_from_dict_accepts_z_and_ignores_unknown_keys() -> None:
    response = InterruptResponse.from_dict({"text": "a", "received_at": "2026-01-01T00:00:00Z", "extra": 1})
    assert response == InterruptResponse(text="a", received_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert InterruptResponse.from_dict(response.to_dict()) == response
