"""RemoteInterruptService: InterruptService's methods over the HTTP API, for agents in other processes.

Switching an agent from in-process to remote is one line:

    service = InterruptService(db)                                  # in process
    service = RemoteInterruptService("http://127.0.0.1:8080", token)  # over HTTP

Same methods, same return types (FlowInterrupt), same typed exceptions: each problem document's
`code` maps back to its class in `jeeves_protocols.errors`. Only errors that cannot happen in
process get their own classes here: the token was refused (401/403), the server asked us to
slow down (429) or could not be reached.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Dict, List, Optional
from urllib.parse import quote

import httpx

from jeeves_protocols import (
    ApprovalError,
    ApprovalMismatchError,
    ApprovalNotGrantedError,
    ApprovalUsedError,
    FlowInterrupt,
    IdempotencyConflictError,
    InterruptError,
    InterruptExpiredError,
    InterruptKind,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    InvalidResponseError,
    ResponderMismatchError,
    SelfApprovalError,
    StoreError,
    WaitTimeoutError,
)
from jeeves_protocols.interrupts import parse_time

from .services.helpers import InterruptCreationHelpers
from .store.base import InterruptEvent

__all__ = [
    "RemoteInterruptService",
    "RemoteAuthError",
    "RateLimitedError",
    "ServerUnavailableError",
    "error_from_problem",
]

#: The longest one long-poll request lasts (the server's cap); longer waits loop.
LONG_POLL_CHUNK = 300.0


class RemoteAuthError(InterruptError):
    """The server refused the token (missing, unknown, revoked, or the wrong role)."""

    code = "unauthorized"


class RateLimitedError(InterruptError):
    """The server is rate limiting this token; retry later."""

    code = "rate_limited"


class ServerUnavailableError(StoreError):
    """The jeeves server could not be reached or is not ready; nothing was changed."""

    code = "server_unavailable"


#: The approval errors by their problem code.
_APPROVAL_ERRORS: dict[str, type[ApprovalError]] = {
    error.code: error for error in (ApprovalNotGrantedError, ApprovalMismatchError, ApprovalUsedError)
}


def error_from_problem(status: int, problem: Dict[str, Any]) -> InterruptError:
    """The typed exception a problem document stands for."""
    code = problem.get("code")
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    interrupt_id = str(problem.get("interrupt_id") or "")
    field = problem.get("field")
    if code == "not_found":
        return InterruptNotFoundError(interrupt_id, detail)
    if code == "expired":
        return InterruptExpiredError(interrupt_id, detail)
    if code == "not_pending":
        return InterruptNotPendingError(
            interrupt_id, InterruptStatus(problem.get("current_status", "resolved")), detail
        )
    if code == "idempotency_conflict":
        return IdempotencyConflictError(detail, field=field)
    if code == "invalid_input":
        return InvalidInterruptError(detail, field=field)
    if code == "invalid_response":
        return InvalidResponseError(detail, field=field)
    if code == "responder_mismatch":
        return ResponderMismatchError(interrupt_id, "")
    if code == "self_approval_forbidden":
        return SelfApprovalError(interrupt_id, None, detail)
    approval_error = _APPROVAL_ERRORS.get(str(code))
    if approval_error is not None:
        return approval_error(interrupt_id, detail)
    if code == "wait_timeout":
        return WaitTimeoutError(interrupt_id, float(problem.get("timeout") or 0))
    if status in (401, 403):
        error: InterruptError = RemoteAuthError(detail)
        error.code = str(code or error.code)
        return error
    if status == 429:
        return RateLimitedError(detail)
    if status >= 500:
        return ServerUnavailableError(detail)
    return InterruptError(detail)


class RemoteInterruptService(InterruptCreationHelpers):
    """An InterruptService whose interrupts live in a jeeves server (`jeeves serve`)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        via: str = "api",
    ) -> None:
        """`via` is the route its answers are recorded as having taken ("api"; the CLI says "cli")."""
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "X-Jeeves-Via": via},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> RemoteInterruptService:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # InterruptService's lifecycle methods exist so code written for either runs unchanged.
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Optional[Dict[str, Any]] = None,
        params: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        extra: Dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        try:
            response = await self._http.request(method, path, json=json, params=params, **extra)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"cannot reach {self.base_url}: {exc!r}") from exc
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text}
            raise error_from_problem(response.status_code, problem if isinstance(problem, dict) else {})
        return response.json()

    # -- creating ---------------------------------------------------------------------------

    async def create_interrupt(
        self,
        kind: InterruptKind,
        request_id: str,
        user_id: str,
        session_id: str,
        envelope_id: Optional[str] = None,
        question: Optional[str] = None,
        message: Optional[str] = None,
        data: Optional[Dict[str, Any]] = None,
        ttl: Optional[timedelta] = None,
        *,
        idempotency_key: Optional[str] = None,
        created_by: Optional[str] = None,
        on_expire: Optional[str] = None,
        forbid_self_approval: Optional[bool] = None,
        response_schema: Optional[Dict[str, Any]] = None,
        remind_after: Optional[List[timedelta]] = None,
        responders: Optional[Dict[str, List[str]]] = None,
    ) -> FlowInterrupt:
        """As InterruptService's. The server records the token's user as `created_by` (the
        `created_by` given here is not sent: a client cannot claim to be someone else)."""
        del created_by
        body: Dict[str, Any] = {
            "kind": InterruptKind(kind).value,
            "request_id": request_id,
            "user_id": user_id,
            "session_id": session_id,
        }
        optional = {
            "envelope_id": envelope_id,
            "question": question,
            "message": message,
            "data": data,
            "ttl_seconds": ttl.total_seconds() if ttl is not None else None,
            "idempotency_key": idempotency_key,
            "on_expire": on_expire,
            "forbid_self_approval": forbid_self_approval,
            "response_schema": response_schema,
            "responders": responders,
            "remind_after_seconds": (
                [delay.total_seconds() for delay in remind_after] if remind_after is not None else None
            ),
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        return FlowInterrupt.from_db_row(await self._call("POST", "/v1/interrupts", json=body))

    # -- querying ---------------------------------------------------------------------------

    async def get_interrupt(self, interrupt_id: str) -> Optional[FlowInterrupt]:
        try:
            return FlowInterrupt.from_db_row(await self._call("GET", f"/v1/interrupts/{interrupt_id}"))
        except InterruptNotFoundError:
            return None

    async def list_interrupts(
        self, *, limit: int = 50, cursor: Optional[str] = None, **filters: Optional[str]
    ) -> tuple[List[FlowInterrupt], Optional[str]]:
        """One page, newest first, and the cursor of the next (filters: status, user_id,
        session_id, request_id, kind)."""
        params: Dict[str, Any] = {name: value for name, value in filters.items() if value is not None}
        params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        page = await self._call("GET", "/v1/interrupts", params=params)
        return [FlowInterrupt.from_db_row(item) for item in page["items"]], page["next_cursor"]

    async def get_pending_for_request(self, request_id: str) -> Optional[FlowInterrupt]:
        items, _ = await self.list_interrupts(status="pending", request_id=request_id, limit=1)
        return items[0] if items else None

    async def get_pending_for_session(
        self, session_id: str, kinds: Optional[List[InterruptKind]] = None
    ) -> List[FlowInterrupt]:
        wanted = None if kinds is None else {InterruptKind(kind) for kind in kinds}
        found: List[FlowInterrupt] = []
        cursor: Optional[str] = None
        while True:
            items, cursor = await self.list_interrupts(
                status="pending", session_id=session_id, limit=500, cursor=cursor
            )
            found.extend(item for item in items if wanted is None or item.kind in wanted)
            if cursor is None:
                return list(reversed(found))  # oldest first, as InterruptService returns them

    # -- responding and cancelling ------------------------------------------------------------

    async def respond(
        self, interrupt_id: str, response: InterruptResponse, user_id: Optional[str] = None
    ) -> Optional[FlowInterrupt]:
        try:
            return await self.respond_or_raise(interrupt_id, response, user_id)
        except InterruptError:
            return None

    async def respond_or_raise(
        self, interrupt_id: str, response: InterruptResponse, user_id: Optional[str] = None
    ) -> FlowInterrupt:
        """`user_id` is accepted for signature compatibility: the server answers as the token's user."""
        del user_id
        body: Dict[str, Any] = {
            "text": response.text,
            "approved": response.approved,
            "decision": response.decision,
            "data": response.data or None,
        }
        body = {name: value for name, value in body.items() if value is not None}
        result = await self._call("POST", f"/v1/interrupts/{interrupt_id}/respond", json=body)
        return FlowInterrupt.from_db_row(result)

    async def cancel(self, interrupt_id: str, reason: Optional[str] = None) -> Optional[FlowInterrupt]:
        try:
            return await self.cancel_or_raise(interrupt_id, reason)
        except InterruptError:
            return None

    async def cancel_or_raise(self, interrupt_id: str, reason: Optional[str] = None) -> FlowInterrupt:
        body = {"reason": reason} if reason is not None else {}
        result = await self._call("POST", f"/v1/interrupts/{interrupt_id}/cancel", json=body)
        return FlowInterrupt.from_db_row(result)

    # -- waiting ----------------------------------------------------------------------------

    async def wait_for_response(self, interrupt_id: str, timeout: Optional[float] = None) -> FlowInterrupt:
        """Long-poll until the interrupt leaves pending; WaitTimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            chunk = (
                LONG_POLL_CHUNK
                if deadline is None
                else max(0.0, min(LONG_POLL_CHUNK, deadline - time.monotonic()))
            )
            try:
                result = await self._call(
                    "GET",
                    f"/v1/interrupts/{interrupt_id}/wait",
                    params={"timeout": chunk},
                    timeout=chunk + 30,
                )
                return FlowInterrupt.from_db_row(result)
            except WaitTimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeoutError(interrupt_id, float(timeout or 0)) from None

    # -- approvals and history -------------------------------------------------------------

    async def extend(self, interrupt_id: str, by: timedelta) -> FlowInterrupt:
        """As InterruptService.extend: the interrupt with its expiry moved `by` later."""
        if not isinstance(by, timedelta):
            raise InvalidInterruptError("by must be a timedelta", field="by")
        path = f"/v1/interrupts/{quote(interrupt_id, safe='')}/extend"
        body = {"by_seconds": by.total_seconds()}
        return FlowInterrupt.from_db_row(await self._call("POST", path, json=body))

    async def verify_approval(self, interrupt_id: str, action: Dict[str, Any]) -> FlowInterrupt:
        """As InterruptService.verify_approval: the interrupt, or the typed ApprovalError."""
        path = f"/v1/interrupts/{interrupt_id}/verify"
        return FlowInterrupt.from_db_row(await self._call("POST", path, json={"action": action}))

    async def consume(self, interrupt_id: str, action: Dict[str, Any]) -> FlowInterrupt:
        """As InterruptService.consume: the approval is used once; a replay raises ApprovalUsedError."""
        path = f"/v1/interrupts/{interrupt_id}/consume"
        return FlowInterrupt.from_db_row(await self._call("POST", path, json={"action": action}))

    async def get_history(
        self,
        interrupt_id: Optional[str] = None,
        *,
        request_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> List[InterruptEvent]:
        """As InterruptService.get_history: the journal events, oldest first."""
        if sum(key is not None for key in (interrupt_id, request_id, session_id)) != 1:
            raise InvalidInterruptError(
                "get_history takes exactly one of interrupt_id, request_id and session_id",
                field="interrupt_id",
            )
        if interrupt_id is not None:
            page = await self._call("GET", f"/v1/interrupts/{quote(interrupt_id, safe='')}/history")
        elif session_id is not None:
            page = await self._call("GET", f"/v1/sessions/{quote(session_id, safe='')}/history")
        else:
            page = await self._call("GET", "/v1/history", params={"request_id": request_id})
        return [
            InterruptEvent(
                item["seq"], item["type"], item["sequence"],
                FlowInterrupt.from_db_row(item["interrupt"]), _time(item["created_at"]),
            )
            for item in page["items"]
        ]

    async def pending_summary(self) -> Dict[str, Any]:
        """Who waits on what (admin tokens): the counts as the API gives them."""
        summary: Dict[str, Any] = await self._call("GET", "/v1/pending/summary")
        return summary

    async def me(self) -> Dict[str, str]:
        identity: Dict[str, str] = await self._call("GET", "/v1/me")
        return identity


def _time(value: str) -> datetime:
    moment = parse_time(value)
    if moment is None:
        raise StoreError(f"the server sent no time where one belongs: {value!r}")
    return moment
