"""/v1/webhooks: subscriptions (secret shown once), deliveries, dead letters, redelivery. Admins only.

A thin layer over `webhooks.WebhookService`; its errors (not found, invalid input) become the
same problem documents as everywhere else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict, JsonValue

from .auth import allow, authenticated
from .errors import ApiError
from .models import id_field, problems

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[Depends(authenticated), allow()])

# What the service checks, stated in the document (webhooks/ssrf.py, policy.py, signing.py). A URL
# of the right form may still be refused for where it points (a private address, a host that does
# not resolve): that depends on DNS and the server's allow-list, which no schema can state.
#: http(s), a host (a name or a bracketed IPv6 literal), an optional port of 0-65535, no
#: credentials, no control character or space (spelled out: `\s` means other things in other
#: regex engines).
URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://(\[[0-9A-Fa-f:.]+\]|[^/?#@\u0000-\u0020:\[\]]+)"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    r"([/?#][^\u0000-\u0020]*)?$"
)
#: An event type, "prefix.*" or "*".
EVENT_PATTERN = r"^(\*|[^*\u0000]+|[^*\u0000]+\.\*)$"
#: whsec_ and the standard base64 (padded) of at least 16 bytes.
SECRET_PATTERN = r"^whsec_([A-Za-z0-9+/]{4}){5,}([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
_EVENT = Annotated[str, StringConstraints(pattern=EVENT_PATTERN)]
_SECRET = Field(default=None, min_length=1, max_length=255, pattern=SECRET_PATTERN)


def _never_null(schema: JsonDict) -> None:
    """Optional to send, but never `null`: the document leaves null out of the field's types."""
    given = schema.pop("anyOf", [])
    kinds: list[JsonValue] = [
        kind for kind in (given if isinstance(given, list) else [])
        if isinstance(kind, dict) and kind.get("type") != "null"
    ]
    if len(kinds) == 1 and isinstance(kinds[0], dict):
        schema.update(kinds[0])
    elif kinds:
        schema["anyOf"] = kinds


class CreateSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, pattern=URL_PATTERN)
    events: Optional[list[_EVENT]] = Field(default=None, min_length=1, max_length=50)
    user_id: Optional[str] = id_field("Deliver only this user's events.")
    session_id: Optional[str] = id_field("Deliver only this session's events.")
    secret: Optional[str] = _SECRET
    enabled: bool = Field(default=True, strict=True)


class UpdateSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Optional[str] = Field(
        default=None, min_length=1, max_length=2048, pattern=URL_PATTERN, json_schema_extra=_never_null
    )
    events: Optional[list[_EVENT]] = Field(
        default=None, min_length=1, max_length=50, json_schema_extra=_never_null
    )
    user_id: Optional[str] = id_field("Deliver only this user's events; null: anyone's.")
    session_id: Optional[str] = id_field("Deliver only this session's events; null: any session's.")
    enabled: Optional[bool] = Field(default=None, strict=True, json_schema_extra=_never_null)


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: Optional[str] = _SECRET
    overlap_seconds: float = Field(default=86_400, ge=0, le=30 * 86_400, strict=True, allow_inf_nan=False)


async def _webhooks(request: Request) -> Any:
    webhooks = request.app.state.webhooks
    if webhooks is None:
        raise ApiError(404, "not_found", "webhooks are not enabled on this server")
    return webhooks


@router.post("", status_code=201, responses=problems(403, 404))
async def create_subscription(body: CreateSubscription, request: Request) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    created = await webhooks.create_subscription(
        body.url,
        tuple(body.events or ("*",)),
        user_id=body.user_id,
        session_id=body.session_id,
        secret=body.secret,
        enabled=body.enabled,
    )
    result: dict[str, Any] = created.to_dict()
    return result


@router.get("", responses=problems(403, 404))
async def list_subscriptions(request: Request) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    return {"items": [subscription.to_dict() for subscription in await webhooks.list_subscriptions()]}


@router.get("/deliveries", responses=problems(403, 404))
async def list_deliveries(
    request: Request,
    subscription_id: Optional[str] = Query(default=None, min_length=1, max_length=255),
    status: Optional[Literal["pending", "delivered", "dead"]] = None,
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    found = await webhooks.list_deliveries(subscription_id, status, limit)
    return {"items": [delivery.to_dict() for delivery in found]}


@router.get("/dead-letters", responses=problems(403, 404))
async def list_dead_letters(
    request: Request,
    subscription_id: Optional[str] = Query(default=None, min_length=1, max_length=255),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    return {"items": [d.to_dict() for d in await webhooks.list_dead_letters(subscription_id, limit)]}


@router.post("/deliveries/{delivery_id}/redeliver", responses=problems(403, 404))
async def redeliver(delivery_id: str, request: Request) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    result: dict[str, Any] = (await webhooks.redeliver(delivery_id)).to_dict()
    return result


@router.get("/{subscription_id}", responses=problems(403, 404))
async def get_subscription(subscription_id: str, request: Request) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    result: dict[str, Any] = (await webhooks.get_subscription(subscription_id)).to_dict()
    return result


@router.patch("/{subscription_id}", responses=problems(403, 404))
async def update_subscription(
    subscription_id: str, body: UpdateSubscription, request: Request
) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    # Only the fields the caller sent change (an explicit null clears a user/session filter).
    changes = body.model_dump(exclude_unset=True)
    if "events" in changes and changes["events"] is not None:
        changes["events"] = tuple(changes["events"])
    for required in ("url", "events", "enabled"):
        if required in changes and changes[required] is None:
            raise ApiError(422, "invalid_input", f"{required} cannot be null")
    result: dict[str, Any] = (await webhooks.update_subscription(subscription_id, **changes)).to_dict()
    return result


@router.delete("/{subscription_id}", status_code=204, response_class=Response, responses=problems(403, 404))
async def delete_subscription(subscription_id: str, request: Request) -> Response:
    webhooks = await _webhooks(request)
    await webhooks.delete_subscription(subscription_id)
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", responses=problems(403, 404))
async def rotate_secret(
    subscription_id: str, request: Request, body: Optional[RotateSecret] = None
) -> dict[str, Any]:
    webhooks = await _webhooks(request)
    body = body or RotateSecret()
    rotated = await webhooks.rotate_secret(
        subscription_id, secret=body.secret, overlap=timedelta(seconds=body.overlap_seconds)
    )
    result: dict[str, Any] = rotated.to_dict()
    return result
