"""The seed's convenience constructors, written once for every service that has `create_interrupt`
(the in-process `InterruptService` and the HTTP `RemoteInterruptService`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, List, Optional

from typing_extensions import Unpack

from jeeves_protocols import FlowInterrupt, InterruptKind, InvalidInterruptError

from . import validation as check
from .approvals import ApprovalRules


class InterruptCreationHelpers:
    """create_clarification / create_confirmation / create_resource_exhausted over create_interrupt."""

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
        raise NotImplementedError

    async def create_clarification(
        self,
        request_id: str,
        user_id: str,
        session_id: str,
        question: str,
        envelope_id: Optional[str] = None,
        context: Optional[Dict[str, Any]] = None,
        *,
        idempotency_key: Optional[str] = None,
        **rules: Unpack[ApprovalRules],
    ) -> FlowInterrupt:
        """Ask the user a question; `context` (e.g. {"options": [...]}) becomes the interrupt's data."""
        return await self.create_interrupt(
            InterruptKind.CLARIFICATION,
            request_id,
            user_id,
            session_id,
            envelope_id=envelope_id,
            question=question,
            data=context,
            idempotency_key=idempotency_key,
            **rules,
        )

    async def create_confirmation(
        self,
        request_id: str,
        user_id: str,
        session_id: str,
        message: str,
        envelope_id: Optional[str] = None,
        action_data: Optional[Dict[str, Any]] = None,
        *,
        idempotency_key: Optional[str] = None,
        **rules: Unpack[ApprovalRules],
    ) -> FlowInterrupt:
        """Ask the user to approve an action described by `message` and `action_data`."""
        return await self.create_interrupt(
            InterruptKind.CONFIRMATION,
            request_id,
            user_id,
            session_id,
            envelope_id=envelope_id,
            message=message,
            data=action_data,
            idempotency_key=idempotency_key,
            **rules,
        )

    async def create_resource_exhausted(
        self,
        request_id: str,
        user_id: str,
        session_id: str,
        resource_type: str,
        retry_after_seconds: float,
        envelope_id: Optional[str] = None,
        *,
        idempotency_key: Optional[str] = None,
        **rules: Unpack[ApprovalRules],
    ) -> FlowInterrupt:
        """Report that a resource ran out; it expires after `retry_after_seconds`, when the run may retry."""
        check.require_id(resource_type, "resource_type")
        if isinstance(retry_after_seconds, bool) or not isinstance(retry_after_seconds, (int, float)):
            raise InvalidInterruptError("retry_after_seconds must be a number", field="retry_after_seconds")
        if not 0 <= retry_after_seconds < 10**9:
            raise InvalidInterruptError(
                "retry_after_seconds must be zero or more", field="retry_after_seconds"
            )
        return await self.create_interrupt(
            InterruptKind.RESOURCE_EXHAUSTED,
            request_id,
            user_id,
            session_id,
            envelope_id=envelope_id,
            message=f"Resource exhausted: {resource_type}",
            data={"resource_type": resource_type, "retry_after_seconds": retry_after_seconds},
            ttl=timedelta(seconds=retry_after_seconds),
            idempotency_key=idempotency_key,
            **rules,
        )
