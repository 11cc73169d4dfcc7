"""/v1/webhooks: subscriptions (secret shown once), deliveries, dead letters, redelivery. Admins only.

A thin layer over `webhooks.WebhookService`; its errors (not found, invalid input) become the
same problem documents as everywhere else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .auth import allow, authenticated
from .errors import ApiError
from .models import problems

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[Depends(authenticated), allow()])

_EVENTS = Field(default=None, min_length=1, max_length=50)


class CreateSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    events: Optional[list[str]] = _EVENTS
    user_id: Optional[str] = Field(default=None, min_length=1, max_length=255)
    session_id: Optional[str] = Field(default=None, min_length=1, max_length=255)
    secret: Optional[str] = Field(default=None, min_length=1, max_length=255)
    enabled: bool = Field(default=True, strict=True)


class UpdateSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Optional[str] = Field(default=None, min_length=1, max_length=2048)
    events: Optional[list[str]] = _EVENTS
    user_id: Optional[str] = Field(default=None, min_length=1, max_length=255)
    session_id: Optional[str] = Field(default=None, min_length=1, max_length=255)
    enabled: Optional[bool] = Field(default=None, strict=True)


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: Optional[str] = Field(default=None, min_length=1, max_length=255)
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
