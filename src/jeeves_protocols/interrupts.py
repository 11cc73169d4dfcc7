"""The interrupt record and the human's response, with their wire and row forms."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, Optional

from .enums import RESOLUTION_BY_STATUS, InterruptKind, InterruptStatus, Resolution
from .errors import CorruptInterruptError

__all__ = [
    "FlowInterrupt",
    "InterruptResponse",
    "MAX_STORED_DATA_DEPTH",
    "utc_now",
    "format_time",
    "parse_time",
]

_REQUIRED_COLUMNS = ("id", "kind", "request_id", "user_id", "session_id")
#: In FlowInterrupt's field order: request_id .. message positionally, then the tracing ones.
_TEXT_COLUMNS = (
    "request_id", "user_id", "session_id", "envelope_id", "question", "message",
    "trace_id", "span_id", "idempotency_key", "created_by", "action_hash", "resolution",
)
_TIME_COLUMNS = ("created_at", "expires_at", "resolved_at", "consumed_at")
#: The response's text fields, in InterruptResponse's field order.
_RESPONSE_TEXTS = ("text", "decision", "responder_id", "action_hash", "token_id", "via")
_TEXT_TYPES = frozenset({str, type(None)})

#: The deepest `data` (objects and arrays, the object itself being level 1) a stored row may
#: hold and still be read. At or above the write limit (services.validation.MAX_DATA_DEPTH), so
#: whatever was accepted stays readable, and below the 255 levels past which pydantic-core
#: refuses to serialise, so whatever is read can be served: a row past it is unreadable.
MAX_STORED_DATA_DEPTH = 200
#: JSON text shorter than this cannot nest deeper than the limit (every level costs two
#: brackets), so most rows skip the walk that measures depth.
_DEPTH_NEEDS_WALK = 2 * (MAX_STORED_DATA_DEPTH + 1)
#: A \uD800-\uDFFF escape: json.loads turns a lone one into a str that has no UTF-8 form.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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
_RESOLUTIONS = {resolution.value: resolution for resolution in Resolution}
#: By the status's value: a str key hashes in C, an Enum member's through Python (hot path).
_RESOLUTION_OF_STATUS = {status.value: resolution for status, resolution in RESOLUTION_BY_STATUS.items()}


class _Unreadable(Exception):
    """Internal: why one column cannot be read; from_db_row names the interrupt around it."""

    def __init__(self, column: str, cause: str) -> None:
        super().__init__(f"column {column!r}: {cause}")
        self.column = column


def _refuse_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON: nothing could serve them back (allow_nan=False).
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # "1e999" decodes to inf, which no JSON response can hold
        raise ValueError(f"{text} is out of range")
    return number


#: One decoder, made once: json.loads with any option builds a new decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _decode_json(value: str | bytes | bytearray, column: str) -> Any:
    try:
        text = value if isinstance(value, str) else value.decode("utf-8")
        return _DECODER.decode(text)
    except RecursionError:
        raise _Unreadable(column, "JSON nested too deeply to decode") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the refusals above
        raise _Unreadable(column, f"not valid JSON ({exc})") from None


def _fit_problem(root: Any, max_depth: int) -> Optional[str]:
    """What keeps decoded JSON from being served: depth past the limit or a lone surrogate.
    Walked with a stack, so no nesting exhausts Python's."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and not _has_utf8(node):
                return "holds a lone surrogate, which has no UTF-8 form"
        elif isinstance(node, dict):
            if depth > max_depth:
                return f"nested deeper than {MAX_STORED_DATA_DEPTH} levels"
            for key, item in node.items():
                stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                return f"nested deeper than {MAX_STORED_DATA_DEPTH} levels"
            stack.extend((item, depth + 1) for item in node)
    return None


def _json_object(value: Any, column: str) -> Optional[dict[str, Any]]:
    """A JSON-object column (`data`, `response`) as a fresh dict: JSON text (str or bytes), an
    already decoded mapping, or None (also JSON `null`). Anything else is unreadable."""
    if value is None:
        return None
    if value == "{}":  # most rows' `data`: skip the decoder
        return {}
    if isinstance(value, (str, bytes, bytearray)):
        if not value:
            return None
        decoded = _decode_json(value, column)
        if decoded is None:
            return None
        text = value if isinstance(value, str) else value.decode("utf-8")
        needs_walk = len(text) >= _DEPTH_NEEDS_WALK or (
            "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None  # the `in` test is cheaper
        )
    elif isinstance(value, Mapping):
        decoded, needs_walk = value, bool(value)
        if not all(isinstance(key, str) for key in value):  # JSON text can only give str keys
            raise _Unreadable(column, "has a key that is not a string")
    else:
        raise _Unreadable(column, f"must be JSON text or a mapping, not {type(value).__name__}")
    if type(decoded) is not dict and not isinstance(decoded, Mapping):  # the ABC check costs more
        raise _Unreadable(column, f"must be a JSON object, not {type(decoded).__name__}")
    if needs_walk:
        # A response holds its `data` one level down: the limit is on that `data`.
        problem = _fit_problem(decoded, MAX_STORED_DATA_DEPTH + (column == "response"))
        if problem is not None:
            raise _Unreadable(column, problem)
    return dict(decoded)


def _has_utf8(text: str) -> bool:
    """False for text holding a lone surrogate: it could be neither stored nor served as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: Any, column: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unreadable(column, f"must be text, not {type(value).__name__}")
    if not value.isascii() and not _has_utf8(value):
        raise _Unreadable(column, "holds a lone surrogate, which has no UTF-8 form")
    return value


def _time(value: Any, column: str) -> Optional[datetime]:
    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError) as exc:  # the last: datetime.min in a +hh zone
        raise _Unreadable(column, f"not a time ({exc})") from None


def _resolution(value: Optional[str], status_value: str) -> Optional[Resolution]:
    """The stored resolution, or the one its status implies: stores write one only where the
    status does not tell (auto_rejected, auto_approved), so an answer writes nothing more."""
    if value is None:
        return _RESOLUTION_OF_STATUS.get(status_value)
    resolution = _RESOLUTIONS.get(value)
    if resolution is None:
        raise _Unreadable("resolution", f"unknown resolution {_describe(value)}")
    return resolution


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    #: The SHA-256 of the action this answer approved (set by the service on approvals; see
    #: `InterruptService.verify_approval`): the proposed action's, or the edited one's.
    action_hash: Optional[str] = None
    #: The API token the answer came with (None: the library, in process).
    token_id: Optional[str] = None
    #: The route the answer took: "library", "api", "cli" or "inbox".
    via: Optional[str] = None

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
        if self.action_hash is not None:
            result["action_hash"] = self.action_hash
        if self.token_id is not None:
            result["token_id"] = self.token_id
        if self.via is not None:
            result["via"] = self.via
        result["received_at"] = format_time(self.received_at or utc_now())
        return result

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> InterruptResponse:
        """Rebuild from the `to_dict()` form (as stored with an interrupt); unknown keys are ignored.

        Raises CorruptInterruptError, naming the field, for a value of another form.
        """
        try:
            return cls._from_dict(value)
        except _Unreadable as exc:
            raise CorruptInterruptError(None, f"response cannot be read: {exc}", column=exc.column) from None

    @classmethod
    def _from_dict(cls, value: Any) -> InterruptResponse:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise _Unreadable("response", f"must be a JSON object, not {type(value).__name__}")
        approved = value.get("approved")
        if approved is not None and not isinstance(approved, bool):
            raise _Unreadable("response.approved", f"must be true, false or null, not {_describe(approved)}")
        texts = [value.get(name) for name in _RESPONSE_TEXTS]
        for text in texts:  # a plain loop: every answered row comes here, and most are None
            if text is not None and (
                text.__class__ is not str or (not text.isascii() and not _has_utf8(text))
            ):
                for name in _RESPONSE_TEXTS:
                    _text(value.get(name), f"response.{name}")  # raises, naming the field
        try:
            received_at = parse_time(value.get("received_at"))
        except (TypeError, ValueError, OverflowError):
            _time(value.get("received_at"), "response.received_at")  # raises, naming the field
            raise
        return cls(
            texts[0],
            approved,
            texts[1],
            _json_object(value.get("data"), "response.data") or {},
            received_at,
            *texts[2:],
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

    # Approvals (all opt-in; see docs in the README's "Approvals" section)
    #: The principal that raised the interrupt (an API token's user; None: the library, unnamed).
    created_by: Optional[str] = None
    #: The approval rules fixed at creation: `on_expire`, `forbid_self_approval`,
    #: `response_schema`. Empty: none, the seed's behaviour.
    policy: dict[str, Any] = field(default_factory=dict)
    #: SHA-256 of the canonical JSON of `data["action"]` (or of `data`), for approvals: what an
    #: answer is bound to (`verify_approval`).
    action_hash: Optional[str] = None
    #: How it ended (None while pending): answered, cancelled, expired, auto_rejected, auto_approved.
    resolution: Optional[Resolution] = None
    #: When the agent used the approval (`consume`): an approval is used once.
    consumed_at: Optional[datetime] = None

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
            "created_by": self.created_by,
            "policy": self.policy,
            "action_hash": self.action_hash,
            "resolution": self.resolution.value if self.resolution is not None else None,
            "consumed_at": format_time(self.consumed_at) if self.consumed_at else None,
        }

    def to_db_row(self) -> dict[str, Any]:
        """A flat row for any SQL table: JSON text for `data`/`response`, ISO text for times."""
        row = self.to_dict()
        row["data"] = json.dumps(self.data, separators=(",", ":"))
        row["response"] = (
            json.dumps(row["response"], separators=(",", ":")) if self.response is not None else None
        )
        row["policy"] = json.dumps(self.policy, separators=(",", ":")) if self.policy else None
        return row

    @classmethod
    def from_db_row(cls, row: Mapping[str, Any]) -> FlowInterrupt:
        """Rebuild from a row: times as ISO text or datetimes, JSON columns as text or mappings.

        Only id, kind, request_id, user_id and session_id are required; the rest take their defaults.
        A row that cannot be read back (a column missing or of the wrong type, an unknown kind
        or status, a time or JSON that does not parse, `data` nested past MAX_STORED_DATA_DEPTH)
        raises CorruptInterruptError naming the interrupt and the column; nothing else escapes.
        """
        # Duck-typed: a driver's record (asyncpg.Record) reads like a mapping without being one.
        if type(row) is not dict and not callable(getattr(row, "get", None)):
            raise CorruptInterruptError(None, f"an interrupt row must be a mapping, not {type(row).__name__}")
        raw_id = row.get("id")
        # An id with no UTF-8 form could not even be named in a log line or a problem document.
        interrupt_id = raw_id if isinstance(raw_id, str) and (raw_id.isascii() or _has_utf8(raw_id)) else None
        try:
            return cls._from_db_row(row, interrupt_id)
        except _Unreadable as exc:
            name = repr(interrupt_id) if interrupt_id is not None else "with an unreadable id"
            raise CorruptInterruptError(
                interrupt_id, f"stored interrupt {name} cannot be read: {exc}", column=exc.column
            ) from None

    @classmethod
    def _from_db_row(cls, row: Mapping[str, Any], interrupt_id: Optional[str]) -> FlowInterrupt:
        missing = [name for name in _REQUIRED_COLUMNS if row.get(name) is None]
        if missing:
            also = f" (as are {', '.join(missing[1:])})" if len(missing) > 1 else ""
            raise _Unreadable(missing[0], f"missing or null{also}")
        if interrupt_id is None:
            raw_id = row["id"]
            raise _Unreadable(
                "id",
                "holds a lone surrogate, which has no UTF-8 form"
                if isinstance(raw_id, str)
                else f"must be text, not {type(raw_id).__name__}",
            )
        kind_value = row["kind"]
        # A dict lookup first: calling an Enum class to find a member costs several times more.
        kind = _KINDS.get(kind_value) if isinstance(kind_value, str) else None
        if kind is None:
            raise _Unreadable("kind", f"unknown interrupt kind {_describe(kind_value)}")
        status_value = row.get("status") or "pending"
        status = _STATUSES.get(status_value) if isinstance(status_value, str) else None
        if status is None:
            raise _Unreadable("status", f"unknown status {_describe(status_value)}")
        # Checked in one pass, not a call per column: this runs for every row read (hot path).
        texts = [row.get(name) for name in _TEXT_COLUMNS]
        for value in texts:
            if value.__class__ not in _TEXT_TYPES or (
                value is not None and not value.isascii() and not _has_utf8(value)
            ):
                for name in _TEXT_COLUMNS:
                    _text(row.get(name), name)  # raises, naming the column
        response = _json_object(row.get("response"), "response")
        policy = row.get("policy")
        try:
            created_at = parse_time(row.get("created_at"))
            expires_at = parse_time(row.get("expires_at"))
            resolved_at = parse_time(row.get("resolved_at"))
            consumed_at = parse_time(row.get("consumed_at"))
        except (TypeError, ValueError, OverflowError):  # the last: datetime.min in a +hh zone
            for name in _TIME_COLUMNS:
                _time(row.get(name), name)  # raises, naming the column
            raise
        return cls(
            interrupt_id,
            kind,
            texts[0],  # type: ignore[arg-type]  # required: not None (checked above)
            texts[1],  # type: ignore[arg-type]
            texts[2],  # type: ignore[arg-type]
            envelope_id=texts[3],
            question=texts[4],
            message=texts[5],
            data=_json_object(row.get("data"), "data") or {},
            status=status,
            response=InterruptResponse._from_dict(response) if response is not None else None,
            created_at=created_at if created_at is not None else utc_now(),
            expires_at=expires_at,
            resolved_at=resolved_at,
            trace_id=texts[6],
            span_id=texts[7],
            idempotency_key=texts[8],
            created_by=texts[9],
            policy=_json_object(policy, "policy") or {} if policy is not None else {},
            action_hash=texts[10],
            resolution=_resolution(texts[11], status_value),
            consumed_at=consumed_at,
        )

    @classmethod
    def from_json(cls, text: str | bytes | bytearray, *, interrupt_id: Optional[str] = None) -> FlowInterrupt:
        """Rebuild from the JSON text of `to_dict()` (or a row's columns as one JSON object, as
        a journal stores them). Raises CorruptInterruptError like `from_db_row`; `interrupt_id`
        names the interrupt if the text is too broken to tell."""
        try:
            row = _decode_json(text, "payload")
        except _Unreadable as exc:
            raise CorruptInterruptError(
                interrupt_id, f"stored interrupt {interrupt_id!r} cannot be read: {exc}", column=exc.column
            ) from None
        if not isinstance(row, Mapping):
            raise CorruptInterruptError(
                interrupt_id,
                f"stored interrupt {interrupt_id!r} cannot be read: JSON {type(row).__name__}, not an object",
                column="payload",
            )
        return cls.from_db_row(row)
