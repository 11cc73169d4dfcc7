"""Request and response bodies of the HTTP API (they also make up /openapi.json)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from jeeves_protocols import InterruptKind, InterruptStatus

_ID = Field(min_length=1, max_length=255)
_TEXT = Field(default=None, max_length=100_000)
#: Ten years: longer TTLs are a mistake, and unbounded floats would overflow timedelta.
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600


class CreateInterrupt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: InterruptKind
    request_id: str = _ID
    user_id: str = _ID
    session_id: str = _ID
    envelope_id: Optional[str] = Field(default=None, min_length=1, max_length=255)
    question: Optional[str] = _TEXT
    message: Optional[str] = _TEXT
    data: Optional[dict[str, Any]] = None
    ttl_seconds: Optional[float] = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_TTL_SECONDS,
        allow_inf_nan=False,
        description="Seconds until it expires; omitted: the kind's default.",
    )
    idempotency_key: Optional[str] = Field(default=None, min_length=1, max_length=255)


class RespondBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Optional[str] = _TEXT
    approved: Optional[bool] = Field(default=None, strict=True)
    decision: Optional[str] = Field(default=None, max_length=255)
    data: Optional[dict[str, Any]] = None


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Optional[str] = Field(default=None, max_length=10_000)


class ResponseOut(BaseModel):
    text: Optional[str] = None
    approved: Optional[bool] = None
    decision: Optional[str] = None
    data: dict[str, Any] = Field(default_factory=dict)
    received_at: Optional[str] = None
    responder_id: Optional[str] = None


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


class InterruptPage(BaseModel):
    items: list[InterruptOut]
    next_cursor: Optional[str] = None


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
    return {
        status: {"model": Problem, "content": {"application/problem+json": {}}}
        for status in (400, 401, 422, 429, 503, *statuses)
    }
