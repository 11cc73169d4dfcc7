"""/v1/tokens: create (the secret shown once), list and revoke API tokens. Admins only.

What `jeeves tokens ... --server URL` uses, so an admin manages tokens without a shell on the
database's host. A revocation made here counts on this instance at once and on every other
within the token cache's bound (tokens.CACHE_SECONDS).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jeeves_protocols import InterruptNotFoundError

from ..services import validation as check
from ..tokens import MAX_GROUPS, Role, TokenRegistry
from .auth import allow, authenticated
from .models import ID_PATTERN, problems

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], dependencies=[Depends(authenticated), allow()])


_GroupName = Annotated[
    str, StringConstraints(min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN)
]


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(
        min_length=1, max_length=check.MAX_ID_LENGTH, pattern=ID_PATTERN,
        description="The user the token acts as (a responder sees and answers only this user's interrupts).",
    )
    role: Role
    groups: list[_GroupName] = Field(
        default_factory=list, max_length=MAX_GROUPS,
        description="Groups the user answers for (an interrupt's responders.groups).",
    )


class TokenOut(BaseModel):
    id: str
    user_id: str
    role: Role
    created_at: str
    revoked_at: Optional[str] = None
    groups: list[str] = Field(default_factory=list)


class CreatedToken(TokenOut):
    token: str = Field(description="The secret: shown this once, stored only as its SHA-256.")


def _registry(request: Request) -> TokenRegistry:
    registry: TokenRegistry = request.app.state.tokens
    return registry


@router.post("", status_code=201, response_model=CreatedToken, operation_id="create_token",
             responses=problems(403))
async def create_token(body: CreateToken, request: Request) -> dict[str, Any]:
    secret, record = await _registry(request).create(body.user_id, body.role, body.groups)
    return {"token": secret, **record.to_dict()}


@router.get("", response_model=list[TokenOut], operation_id="list_tokens", responses=problems(403))
async def list_tokens(request: Request) -> list[dict[str, Any]]:
    return [record.to_dict() for record in await _registry(request).list()]


@router.post("/{token_id}/revoke", response_model=TokenOut, operation_id="revoke_token",
             responses=problems(403, 404))
async def revoke_token(token_id: str, request: Request) -> dict[str, Any]:
    revoked = await _registry(request).revoke(token_id)
    if revoked is None:
        raise InterruptNotFoundError(token_id, f"no live token with id {token_id!r}")
    return revoked.to_dict()
