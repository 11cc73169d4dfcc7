"""Request and response bodies of the HTTP API (they also make up /openapi.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, SkipValidation, StringConstraints
from pydantic.config import JsonDict
from pydantic_core import core_schema
from typing_extensions import TypeAliasType

from jeeves_protocols import InterruptKind, InterruptStatus, Resolution

from ..services import validation as check

# Every limit below is one of validation.py's constants, so the document states exactly what the
# service enforces (tests/unit/test_api_schema.py holds the two to each other).

#: Any string the stores can hold: no NUL. (A lone surrogate is refused too, but JSON text that
#: is valid Unicode cannot carry one, and ECMAScript reads surrogate ranges as UTF-16 units.)
NO_NUL_PATTERN = r"^[^\u0000]*$"
#: An id or key: no NUL, and at least one character that is not whitespace (str.isspace()).
ID_PATTERN = rf"^[^\u0000]*[^\u0000{check.WHITESPACE_CLASS}][^\u0000]*$"


def _id(description: str) -> Any:
    return Field(
        default=None,
        min_length=1,
        max_length=check.MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description=description,
    )


def id_field(description: str) -> Any:
    """An optional id in a body."""
    return _id(description)


def id_query(description: str) -> Any:
    """An optional id filter in a query string: the same rules as an id in a body."""
    return Query(
        default=None,
        min_length=1,
        max_length=check.MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description=description,
    )


def _text(limit: int, description: str) -> Any:
    return Field(default=None, max_length=limit, pattern=NO_NUL_PATTERN, description=description)


class _KeysByName:
    """Spells a dict's key constraint as JSON Schema's `propertyNames` (pydantic writes
    `patternProperties`, which would let a key that breaks the pattern hold anything)."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        out = handler(schema)
        target = handler.resolve_ref_schema(out)
        ((pattern, value),) = target.pop("patternProperties").items()
        target["propertyNames"] = {"pattern": pattern}
        target["additionalProperties"] = value
        return dict(out)


_NoNul = Annotated[str, StringConstraints(pattern=NO_NUL_PATTERN)]
if TYPE_CHECKING:  # mypy cannot follow the recursive alias; to the code, `data` is a plain dict
    Data = Optional[dict[str, Any]]
    ObjectData = dict[str, Any]
else:
    #: A JSON value whose strings and keys every store can hold. Only the document uses it: the
    #: service checks `data` itself (validation.json_data), once, for library callers and HTTP alike.
    JsonValue = TypeAliasType(
        "JsonValue",
        Union[
            bool,
            int,
            float,
            _NoNul,
            list["JsonValue"],
            Annotated[dict[_NoNul, "JsonValue"], _KeysByName],
            None,
        ],
    )
    #: `data` as the document states it; its value reaches the service as parsed, to be checked there.
    Data = Annotated[Optional[Annotated[dict[_NoNul, JsonValue], _KeysByName]], SkipValidation]
    #: The same, where a value is required (the service still checks it).
    ObjectData = Annotated[Annotated[dict[_NoNul, JsonValue], _KeysByName], SkipValidation]
_DATA_LIMITS = (
    f"A JSON object of at most {check.MAX_DATA_BYTES:,} bytes encoded, nested at most "
    f"{check.MAX_DATA_DEPTH} levels deep (the object itself is level 1), no NUL in any key or string."
)
_DATA_EXTENSIONS: JsonDict = {"x-max-depth": check.MAX_DATA_DEPTH, "x-max-bytes": check.MAX_DATA_BYTES}


def _data(what: str) -> Any:
    return Field(default=None, description=f"{what} {_DATA_LIMITS}", json_schema_extra=_DATA_EXTENSIONS)


MAX_TTL_SECONDS = check.MAX_TTL_SECONDS


#: A delay in seconds: at least a microsecond (the finest a time can be), at most the ttl bound.
_Delay = Annotated[float, Field(strict=True, ge=0.000001, le=MAX_TTL_SECONDS, allow_inf_nan=False)]

_ResponderId = Annotated[
    str, StringConstraints(min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN)
]


class Responders(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[_ResponderId] = Field(default_factory=list, max_length=100)
    groups: list[_ResponderId] = Field(default_factory=list, max_length=100)


#: The kinds whose expiry can only expire them: on_expire reject/approve needs an action to judge.
_EXPIRE_ONLY_KINDS = [
    kind.value
    for kind in InterruptKind
    if kind not in (InterruptKind.CONFIRMATION, InterruptKind.AGENT_REVIEW)
]


class CreateInterrupt(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [{
                "if": {"properties": {"kind": {"enum": _EXPIRE_ONLY_KINDS}}, "required": ["kind"]},
                "then": {"properties": {"on_expire": {"enum": ["expire", None]}}},
            }]
        },
    )

    kind: InterruptKind
    request_id: str = Field(min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN)
    user_id: str = Field(min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN)
    session_id: str = Field(min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN)
    envelope_id: Optional[str] = _id("Groups interrupts of one agent step.")
    question: Optional[str] = _text(check.MAX_TEXT_LENGTH, "What the agent asks.")
    message: Optional[str] = _text(check.MAX_TEXT_LENGTH, "What the agent reports.")
    data: Data = _data("Anything the responder needs to see.")
    ttl_seconds: Optional[float] = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_TTL_SECONDS,
        allow_inf_nan=False,
        description="Seconds until it expires; omitted: the kind's default.",
    )
    idempotency_key: Optional[str] = _id("A retry with the same key and request returns the first interrupt.")
    on_expire: Optional[Literal["expire", "reject", "approve"]] = Field(
        default=None,
        description="What its expiry does: expire (the default), or for a confirmation or review reject "
        "or approve it (resolution auto_rejected / auto_approved). Omitted: the kind's config.",
    )
    forbid_self_approval: Optional[bool] = Field(
        default=None,
        strict=True,
        description="Refuse answers from the token's user that creates it. Omitted: the kind's config.",
    )
    response_schema: Data = _data(
        "A JSON Schema the answer's `data` must match (edit-and-approve: the edited action)."
    )
    responders: Optional[Responders] = Field(
        default=None,
        description="Who else may answer (and sees it): users, and the groups of their tokens.",
    )
    remind_after_seconds: Optional[Annotated[list[_Delay], Field(max_length=10)]] = Field(
        default=None,
        description="Seconds after creation at which a still-pending interrupt is announced again "
        "(interrupt.reminder), each once; at most 10. Omitted: the kind's config.",
    )


class RespondBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Optional[str] = _text(check.MAX_TEXT_LENGTH, "A free-text answer.")
    approved: Optional[bool] = Field(default=None, strict=True)
    decision: Optional[str] = _text(check.MAX_ID_LENGTH, "A review's decision.")
    data: Data = _data("A structured answer.")


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Optional[str] = _text(check.MAX_REASON_LENGTH, "Kept in the interrupt's data as cancel_reason.")


class ResponseOut(BaseModel):
    text: Optional[str] = None
    approved: Optional[bool] = None
    decision: Optional[str] = None
    data: dict[str, Any] = Field(default_factory=dict)
    received_at: Optional[str] = None
    responder_id: Optional[str] = None
    action_hash: Optional[str] = None
    token_id: Optional[str] = None
    via: Optional[str] = None


class InterruptOut(BaseModel):
    id: str
    kind: InterruptKind
    request_id: str
    user_id: str
    session_id: str
    envelope_id: Optional[str] = None
    question: Optional[str] = None
    message: Optional[str] = None
    data: dict[str, Any]
    status: InterruptStatus
    response: Optional[ResponseOut] = None
    created_at: str
    expires_at: Optional[str] = None
    resolved_at: Optional[str] = None
    trace_id: Optional[str] = None
    span_id: Optional[str] = None
    idempotency_key: Optional[str] = None
    created_by: Optional[str] = None
    policy: dict[str, Any] = Field(default_factory=dict)
    action_hash: Optional[str] = None
    resolution: Optional[Resolution] = None
    consumed_at: Optional[str] = None


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by_seconds: float = Field(
        strict=True,
        ge=0.000001,  # a microsecond: the finest a deadline can move
        le=MAX_TTL_SECONDS,
        allow_inf_nan=False,
        description="How many seconds later it expires than it does now.",
    )


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: ObjectData = Field(
        description=f"The action the agent is about to execute, as it will execute it. {_DATA_LIMITS}",
        json_schema_extra=_DATA_EXTENSIONS,
    )


class EventOut(BaseModel):
    seq: int
    type: str
    sequence: int
    created_at: str
    interrupt: InterruptOut


class History(BaseModel):
    items: list[EventOut]


class PendingSummaryOut(BaseModel):
    at: str
    total: int
    by_kind: dict[str, int]
    by_user: dict[str, int]
    by_age: dict[str, int]


class InterruptPage(BaseModel):
    items: list[InterruptOut]
    next_cursor: Optional[str] = None
    journal_position: int = Field(
        ge=0,
        description="The event journal's position just before this page was read: follow "
        "/v1/events from it (as Last-Event-ID) to see every change since, and none from before.",
    )


class Me(BaseModel):
    user_id: str
    role: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    field: Optional[str] = None
    current_status: Optional[str] = None
    interrupt_id: Optional[str] = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem documents a route may return."""
    # `model` registers the component; the problem+json entry is the media type actually sent.
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"model": Problem, "content": {"application/problem+json": {"schema": schema}}}
        for status in (400, 401, 413, 422, 429, 431, 503, *statuses)
    }
