"""The interrupt record and the human's response, with their wire and row forms."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

from .enums import InterruptKind, InterruptStatus

__all__ = ["FlowInterrupt", "InterruptResponse", "utc_now", "format_time", "parse_time"]

_REQUIRED_COLUMNS = ("id", "kind", "request_id", "user_id", "session_id")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a fixed width, so that text order is time order (SQLite indexes rely on it)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(value: Any) -> Optional[datetime]:
    """A datetime from a row value: a datetime (naive ones are taken as UTC), an ISO string, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise TypeError(f"cannot read a time from {type(value).__name__}: {value!r}")
    if moment.tzinfo is None:
        # Rows written by other tools may carry naive UTC; caller input never reaches here.
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_KINDS = {kind.value: kind for kind in InterruptKind}
_STATUSES = {status.value: status for status in InterruptStatus}


def _json_object(value: Any, column: str) -> Any:
    if value is None or isinstance(value, Mapping):
        return value
    if value == "{}":  # most rows' `data`: skip the decoder
        return {}
    if isinstance(value, (str, bytes, bytearray)):
        return json.loads(value) if value else None
    raise TypeError(f"column {column!r} must be JSON text or a mapping, not {type(value).__name__}")


@dataclass(slots=True)
class InterruptResponse:
    """What the human answered. Which field matters depends on the interrupt's kind."""

    text: Optional[str] = None
    approved: Optional[bool] = None
    decision: Optional[str] = None
    data: dict[str, Any] = field(default_factory=dict)
    #: When the service accepted the response (set by `respond`).
    received_at: Optional[datetime] = None
    #: Who answered, when the responder identified themselves.
    responder_id: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """The set fields only, plus `received_at` (now, if the response was not yet received)."""
        result: dict[str, Any] = {}
        if self.text is not None:
            result["text"] = self.text
        if self.approved is not None:
            result["approved"] = self.approved
        if self.decision is not None:
            result["decision"] = self.decision
        if self.data:
            result["data"] = self.data
        if self.responder_id is not None:
            result["responder_id"] = self.responder_id
        result["received_at"] = format_time(self.received_at or utc_now())
        return result

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> InterruptResponse:
        return cls(
            text=value.get("text"),
            approved=value.get("approved"),
            decision=value.get("decision"),
            data=dict(value.get("data") or {}),
            received_at=parse_time(value.get("received_at")),
            responder_id=value.get("responder_id"),
        )


@dataclass(slots=True)
class FlowInterrupt:
    """One interrupt raised by an agent run, from creation to its single terminal state."""

    id: str
    kind: InterruptKind
    request_id: str
    user_id: str
    session_id: str
    envelope_id: Optional[str] = None

    # Content
    question: Optional[str] = None
    message: Optional[str] = None
    data: dict[str, Any] = field(default_factory=dict)

    # Status
    status: InterruptStatus = InterruptStatus.PENDING
    response: Optional[InterruptResponse] = None

    # Timing
    created_at: datetime = field(default_factory=utc_now)
    expires_at: Optional[datetime] = None
    resolved_at: Optional[datetime] = None

    # Tracing
    trace_id: Optional[str] = None
    span_id: Optional[str] = None

    #: The caller's key that makes creation idempotent (see `create_interrupt`).
    idempotency_key: Optional[str] = None

    def is_due(self, now: datetime) -> bool:
        """Pending but past its expiry: it must not be answered or listed as pending any more."""
        return (
            self.status is InterruptStatus.PENDING
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: enum values, ISO 8601 times, the response as its own dict."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "request_id": self.request_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "envelope_id": self.envelope_id,
            "question": self.question,
            "message": self.message,
            "data": self.data,
            "status": self.status.value,
            "response": self.response.to_dict() if self.response is not None else None,
            "created_at": format_time(self.created_at),
            "expires_at": format_time(self.expires_at) if self.expires_at else None,
            "resolved_at": format_time(self.resolved_at) if self.resolved_at else None,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "idempotency_key": self.idempotency_key,
        }

    def to_db_row(self) -> dict[str, Any]:
        """A flat row for any SQL table: JSON text for `data`/`response`, ISO text for times."""
        row = self.to_dict()
        row["data"] = json.dumps(self.data, separators=(",", ":"))
        row["response"] = (
            json.dumps(row["response"], separators=(",", ":")) if self.response is not None else None
        )
        return row

    @classmethod
    def from_db_row(cls, row: Mapping[str, Any]) -> FlowInterrupt:
        """Rebuild from a row: times as ISO text or datetimes, JSON columns as text or mappings.

        Only id, kind, request_id, user_id and session_id are required; the rest take their defaults.
        """
        missing = [name for name in _REQUIRED_COLUMNS if row.get(name) is None]
        if missing:
            raise ValueError(f"interrupt row lacks required column(s): {', '.join(missing)}")
        response = _json_object(row.get("response"), "response")
        created_at = parse_time(row.get("created_at"))
        return cls(
            id=str(row["id"]),
            # A dict lookup first: calling an Enum class to find a member costs several times more.
            kind=_KINDS.get(row["kind"]) or InterruptKind(row["kind"]),
            request_id=row["request_id"],
            user_id=row["user_id"],
            session_id=row["session_id"],
            envelope_id=row.get("envelope_id"),
            question=row.get("question"),
            message=row.get("message"),
            data=dict(_json_object(row.get("data"), "data") or {}),
            status=_STATUSES.get(row.get("status") or "pending") or InterruptStatus(row["status"]),
            response=InterruptResponse.from_dict(response) if response is not None else None,
            created_at=created_at if created_at is not None else utc_now(),
            expires_at=parse_time(row.get("expires_at")),
            resolved_at=parse_time(row.get("resolved_at")),
            trace_id=row.get("trace_id"),
            span_id=row.get("span_id"),
            idempotency_key=row.get("idempotency_key"),
        )
