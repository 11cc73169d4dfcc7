"""Approvals: the rules an interrupt carries from creation (its `policy`), the action an answer is
bound to (`action_hash`), and the checks of an answer and of an agent's use of it.

Everything here is opt-in. An interrupt created with no rule has an empty policy, stored as
NULL, and the store's compare-and-set takes it in one statement as before; one with a policy is
checked here first (a policy never changes once created, so the check still holds in the
compare-and-set that follows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Optional, TypedDict

from jeeves_protocols import (
    ApprovalMismatchError,
    ApprovalNotGrantedError,
    ApprovalUsedError,
    FlowInterrupt,
    InterruptConfig,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    Resolution,
    ResponderMismatchError,
    SelfApprovalError,
)
from jeeves_protocols.interrupts import format_time

from ..store.listing import Visibility
from . import validation as check
from .schemas import canonical_json, schema_problem

__all__ = [
    "ApprovalRules",
    "APPROVAL_KINDS",
    "APPROVING_DECISIONS",
    "ON_EXPIRE_CHOICES",
    "action_hash",
    "answer_hash",
    "approves",
    "approves_an_action",
    "hash_action",
    "may_answer",
    "require_responders",
    "build_policy",
    "check_answer",
    "check_config",
    "check_use",
]

#: What `on_expire` may say; "reject" and "approve" only for the kinds that approve an action.
ON_EXPIRE_CHOICES = ("expire", "reject", "approve")
#: The kinds whose answer approves (or not) an action: an action hash binds their answers.
APPROVAL_KINDS = frozenset({InterruptKind.CONFIRMATION, InterruptKind.AGENT_REVIEW})
#: A review's decisions that approve its action: as proposed, or as edited in the answer's data.
APPROVING_DECISIONS = frozenset({"approve", "modify"})
#: Per approval kind: the answer an expiry gives for on_expire "reject" and "approve".
_EXPIRY_ANSWERS: dict[InterruptKind, dict[str, dict[str, Any]]] = {
    InterruptKind.CONFIRMATION: {"reject": {"approved": False}, "approve": {"approved": True}},
    InterruptKind.AGENT_REVIEW: {"reject": {"decision": "reject"}, "approve": {"decision": "approve"}},
}


class ApprovalRules(TypedDict, total=False):
    """The approval rules `create_interrupt` (and each `create_*` helper) takes per interrupt.
    Each one left out comes from the kind's InterruptConfig."""

    #: The principal raising the interrupt (an API token's user); needed by forbid_self_approval.
    created_by: Optional[str]
    #: "expire", or for confirmations and reviews "reject" or "approve" (see InterruptConfig).
    on_expire: Optional[str]
    #: Refuse answers from `created_by`.
    forbid_self_approval: Optional[bool]
    #: A JSON Schema the answer's `data` must match (edit-and-approve: the edited action).
    response_schema: Optional[dict[str, Any]]
    #: Times after creation to announce a still-pending interrupt again ("interrupt.reminder").
    remind_after: Optional[list[timedelta]]
    #: Who else may answer: {"users": [...], "groups": [...]} (token groups).
    responders: Optional[dict[str, list[str]]]


def approves_an_action(kind: InterruptKind) -> bool:
    """Whether `kind` is one of APPROVAL_KINDS, by identity: hashing an Enum member runs Python
    code, and this runs on every create."""
    return kind is InterruptKind.CONFIRMATION or kind is InterruptKind.AGENT_REVIEW


def action_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of `data["action"]`, or of `data` with no "action".

    See `hash_action` for the canonical form.
    """
    return hash_action(data.get("action", data))


def hash_action(action: Any) -> str:
    """SHA-256 (hex) of an action itself, as `verify_approval` and `consume` are given it.

    Canonical: keys sorted, no insignificant whitespace, text as UTF-8 (not \\u escapes), every
    integral number as an integer (900, 900.0 and 9e2 are one number, as JSON Schema and
    JavaScript read them), so the same action hashes the same in every process and language.
    """
    return hashlib.sha256(canonical_json(action).encode("utf-8")).hexdigest()


def approves(response: InterruptResponse) -> bool:
    """Whether an answer approves: `approved=True`, or a review decision of approve or modify."""
    return response.approved is True or (response.decision or "").strip() in APPROVING_DECISIONS


def answer_hash(response: InterruptResponse) -> Optional[str]:
    """The hash an answer binds itself to, when it can tell without the interrupt: an approval
    whose `data["action"]` holds the edited action. Otherwise None (other data is a note, not an
    edit), and the store records the hash of the proposed action with the answer."""
    if "action" in response.data and approves(response):
        return hash_action(response.data["action"])
    return None


def check_config(kind: InterruptKind, config: InterruptConfig, name: str) -> None:
    """Refuse a per-kind config whose approval rules cannot apply to the kind."""
    _require_on_expire(kind, config.on_expire, f"{name}.on_expire")
    require_reminders(config.remind_after, f"{name}.remind_after")
    if not isinstance(config.forbid_self_approval, bool):
        raise InvalidInterruptError(
            f"{name}.forbid_self_approval must be true or false", field=f"{name}.forbid_self_approval"
        )


def build_policy(
    kind: InterruptKind,
    config: InterruptConfig,
    *,
    created_by: Optional[str] = None,
    on_expire: Optional[str] = None,
    forbid_self_approval: Optional[bool] = None,
    response_schema: Optional[Mapping[str, Any]] = None,
    remind_after: Optional[Sequence[timedelta]] = None,
    created_at: Optional[datetime] = None,
    responders: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
    """The policy an interrupt is created with: the kind's config, overridden per interrupt.
    Only rules that differ from the seed's behaviour are kept (none: an empty policy)."""
    policy: dict[str, Any] = {}
    outcome = config.on_expire if on_expire is None else _require_on_expire(kind, on_expire, "on_expire")
    if outcome != "expire":
        policy["on_expire"] = outcome
        # Worked out now, so the stores' expiry sweep only copies it (see `expiry_outcome` in
        # store/queries/*/interrupts.sql): the route is recorded like any other answer's.
        policy["expiry_response"] = {**_EXPIRY_ANSWERS[kind][outcome], "via": "expiry"}
    forbid = config.forbid_self_approval if forbid_self_approval is None else forbid_self_approval
    if not isinstance(forbid, bool):
        raise InvalidInterruptError(
            "forbid_self_approval must be true or false", field="forbid_self_approval"
        )
    if forbid:
        if created_by is None:
            raise InvalidInterruptError(
                "forbid_self_approval needs created_by: the principal whose answers it refuses",
                field="created_by",
            )
        policy["forbid_self_approval"] = True
    if response_schema is not None:  # checked by the caller (schemas.require_schema: it may be slow)
        policy["response_schema"] = dict(response_schema)
    chosen = require_responders(responders) if responders is not None else None
    if chosen is not None and (chosen["users"] or chosen["groups"]):  # naming nobody changes nothing
        policy["responders"] = chosen
    reminders = (
        config.remind_after if remind_after is None else require_reminders(remind_after, "remind_after")
    )
    if reminders and created_at is not None:
        policy["remind_after"] = [delay.total_seconds() for delay in reminders]
        # As times, so the stores' reminder sweep only reads them (store/queries/*: remind_due).
        policy["reminders_at"] = [format_time(created_at + delay) for delay in reminders]
    return policy


#: The most reminders one interrupt may have.
MAX_REMINDERS = 10
#: The most users, and the most groups, an interrupt may name as responders.
MAX_RESPONDERS = 100


def require_responders(value: Any) -> dict[str, list[str]]:
    """`responders` as {"users": [...], "groups": [...]}: ids, distinct and sorted."""
    if not isinstance(value, Mapping) or not set(value) <= {"users", "groups"}:
        raise InvalidInterruptError(
            'responders must be {"users": [...], "groups": [...]}', field="responders"
        )
    chosen: dict[str, list[str]] = {}
    for key in ("users", "groups"):
        names = value.get(key) or []
        listed = isinstance(names, Sequence) and not isinstance(names, (str, bytes))
        if not listed or len(names) > MAX_RESPONDERS:
            raise InvalidInterruptError(
                f"responders.{key} must be a list of at most {MAX_RESPONDERS} ids", field=f"responders.{key}"
            )
        chosen[key] = sorted({check.require_id(name, f"responders.{key}") for name in names})
    return chosen


def may_answer(interrupt: FlowInterrupt, user_id: str, groups: frozenset[str] = frozenset()) -> bool:
    """Whether `user_id` (in `groups`) may answer: it is their interrupt, or its responders name
    them or one of their groups (the rule the listings and the event stream apply too)."""
    return Visibility(user_id, tuple(groups)).admits(interrupt)


def require_reminders(value: Any, name: str) -> list[timedelta]:
    """`remind_after` as sorted, distinct, positive timedeltas within the ttl bound, at most
    MAX_REMINDERS of them."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidInterruptError(f"{name} must be a list of timedeltas", field=name)
    if len(value) > MAX_REMINDERS:
        raise InvalidInterruptError(f"{name} holds more than {MAX_REMINDERS} reminders", field=name)
    for delay in value:
        if not isinstance(delay, timedelta) or not timedelta(0) < delay <= check.MAX_TTL:
            raise InvalidInterruptError(
                f"{name} must hold timedeltas of more than zero and at most {check.MAX_TTL.days:,} days",
                field=name,
            )
    return sorted(set(value))


def check_answer(
    interrupt: FlowInterrupt,
    response: InterruptResponse,
    responder: Optional[str] = None,
    groups: frozenset[str] = frozenset(),
) -> None:
    """Raise why `interrupt`'s policy refuses `response` from `responder` (None: not restricted)
    in `groups` (ResponderMismatchError, SelfApprovalError, or InvalidResponseError naming the
    failing path); return if it admits it."""
    policy = interrupt.policy
    if responder is not None and "responders" in policy and not may_answer(interrupt, responder, groups):
        raise ResponderMismatchError(interrupt.id, responder)
    if policy.get("forbid_self_approval") and (
        response.responder_id is None or response.responder_id == interrupt.created_by
    ):
        raise SelfApprovalError(interrupt.id, response.responder_id)
    schema = policy.get("response_schema")
    if schema is not None:
        problem = schema_problem(interrupt.id, schema, response.data)
        if problem is not None:
            raise problem


def check_use(interrupt: FlowInterrupt, action: Mapping[str, Any]) -> str:
    """The hash of `action` if `interrupt` holds an unused approval of exactly it; else raise
    ApprovalNotGrantedError, ApprovalMismatchError or ApprovalUsedError."""
    if not isinstance(action, Mapping):  # bad input is refused before anything is judged
        raise InvalidInterruptError("action must be a JSON object", field="action")
    given = hash_action(check.json_data(action, "action"))  # the action as it is: never unwrapped
    if not approves_an_action(interrupt.kind):
        raise ApprovalNotGrantedError(
            interrupt.id, f"interrupt {interrupt.id!r} is a {interrupt.kind.value}: it approves no action"
        )
    response = interrupt.response
    if interrupt.status is not InterruptStatus.RESOLVED or response is None or not approves(response):
        if interrupt.status is not InterruptStatus.RESOLVED:
            state = interrupt.status.value
        elif interrupt.resolution is Resolution.AUTO_REJECTED:
            state = "rejected by its expiry"
        else:
            state = "answered without an approval"
        raise ApprovalNotGrantedError(
            interrupt.id, f"interrupt {interrupt.id!r} holds no approval (it is {state})"
        )
    approved = response.action_hash or interrupt.action_hash
    if approved is None or given != approved:
        raise ApprovalMismatchError(
            interrupt.id,
            f"the action is not the one interrupt {interrupt.id!r} approved "
            f"(sha256 {given[:12]}..., approved {approved[:12] + '...' if approved else 'none'})",
        )
    if interrupt.consumed_at is not None:
        raise ApprovalUsedError(
            interrupt.id, f"the approval of interrupt {interrupt.id!r} was already used"
        )
    return given


def _require_on_expire(kind: InterruptKind, value: Any, name: str) -> str:
    if value not in ON_EXPIRE_CHOICES:
        raise InvalidInterruptError(
            f"{name} must be one of {', '.join(ON_EXPIRE_CHOICES)}, not {value!r}", field=name
        )
    if value != "expire" and kind not in APPROVAL_KINDS:
        raise InvalidInterruptError(
            f"{name}={value!r} needs an interrupt that approves an action (confirmation or "
            f"agent_review), not a {kind.value}",
            field=name,
        )
    return str(value)
