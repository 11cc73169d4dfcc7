"""Who is calling, and what they may do: bearer tokens, roles, visibility and a rate limit."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi

from jeeves_protocols import FlowInterrupt, InterruptNotFoundError

from ..services import Visibility
from ..services.approvals import may_answer
from ..tokens import Role, TokenRegistry
from .errors import ApiError

__all__ = [
    "Principal",
    "declare_bearer_auth",
    "authenticate",
    "authenticated",
    "authenticated_stream",
    "still_valid",
    "require",
    "ensure_visible",
    "visibility",
    "RateLimiter",
]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    #: The token the caller presented (None: made in process, not from a token).
    token_id: Optional[str] = None
    #: The groups the token's user answers for.
    groups: frozenset[str] = frozenset()

    def sees(self, interrupt: FlowInterrupt) -> bool:
        """A responder sees the interrupts they may answer: theirs, and those naming them or one
        of their groups as responders; agents and admins see all."""
        return self.role is not Role.RESPONDER or may_answer(interrupt, self.user_id, self.groups)


class RateLimiter:
    """A token bucket per bearer token: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True


def _bearer(request: Request, allow_query: bool) -> Optional[str]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    if allow_query:
        # EventSource cannot send headers, so the event stream also takes ?access_token=.
        return request.query_params.get("access_token") or None
    return None


async def authenticate(request: Request, *, allow_query: bool = False) -> Principal:
    """The caller, from the bearer token; cached on the request by the routers' dependency."""
    cached: Optional[Principal] = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    tokens: TokenRegistry = request.app.state.tokens
    secret = _bearer(request, allow_query)
    if secret is None:
        raise ApiError(401, "unauthorized", "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    record = await tokens.authenticate(secret)
    if record is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked", {"WWW-Authenticate": "Bearer"})
    limiter: Optional[RateLimiter] = request.app.state.rate_limiter
    if limiter is not None and not limiter.allow(record.id):
        raise ApiError(429, "rate_limited", "too many requests; slow down", {"Retry-After": "1"})
    principal = Principal(record.user_id, record.role, record.id, frozenset(record.groups))
    request.state.principal = principal
    return principal


async def authenticated(request: Request) -> None:
    """A router dependency: it runs before body and query validation, so a request without a
    valid token is always 401, never a 422 that would reveal what the endpoint expects."""
    await authenticate(request)


async def authenticated_stream(request: Request) -> None:
    """The same for the event stream, which also takes `?access_token=`."""
    await authenticate(request, allow_query=True)


async def still_valid(request: Request, principal: Principal) -> Optional[str]:
    """Why the request's token no longer stands for `principal`, or None while it does.

    A long-lived request (the event stream) calls this again and again: it reads the token store
    each time (fresh, past the registry's cache; no rate limit), so a revocation made through any
    instance counts."""
    secret = _bearer(request, allow_query=True)
    if secret is None:
        return "the token is gone"
    tokens: TokenRegistry = request.app.state.tokens
    try:
        record = await tokens.authenticate(secret, fresh=True)
    except Exception:  # any failure: the token cannot be confirmed, so it no longer passes
        return "the token could not be re-checked"
    if record is None:
        return "the token was revoked"
    if record.user_id != principal.user_id or record.role is not principal.role:
        # What the stream filters by was decided from the old user and role.
        return "the token's user or role changed"
    return None


def require(principal: Principal, *roles: Role) -> None:
    if principal.role is not Role.ADMIN and principal.role not in roles:
        raise ApiError(403, "forbidden", f"the {principal.role.value} role may not do this")


def allow(*roles: Role) -> Any:
    """A route dependency: only these roles (and admins) get past it, before any body validation."""

    async def check(request: Request) -> None:
        require(await authenticate(request), *roles)

    return Depends(check)


def visibility(principal: Principal) -> Optional[Visibility]:
    """What a listing or an event stream shows `principal`: a responder, what they may answer;
    others (None), everything."""
    if principal.role is not Role.RESPONDER:
        return None
    return Visibility(principal.user_id, tuple(sorted(principal.groups)))


def ensure_visible(
    principal: Principal, interrupt: Optional[FlowInterrupt], interrupt_id: str
) -> FlowInterrupt:
    """The interrupt if the caller may see it; otherwise the same 404 as for an unknown id."""
    if interrupt is None or not principal.sees(interrupt):
        raise InterruptNotFoundError(interrupt_id)
    return interrupt


def declare_bearer_auth(app: FastAPI) -> None:
    """State in the OpenAPI document how a caller authenticates, so /docs offers an Authorize
    button: a bearer token on every /v1 route, or `?access_token=` on the event stream (for
    EventSource, which cannot send headers). The operational routes and pages need none."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `jeeves tokens create` (jct_...).",
                },
                "accessToken": {"type": "apiKey", "in": "query", "name": "access_token"},
            }
            for path, operations in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearerAuth": []}] + (
                            [{"accessToken": []}] if path == "/v1/events" else []
                        )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
