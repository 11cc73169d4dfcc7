"""Approvals on every store (memory, SQLite, PostgreSQL, a user's DatabaseProtocol object):
expiry outcomes, self-approval, answers checked against a JSON Schema, answers bound to the
action they approve and used once, the history of an interrupt and of a run, who waits on what."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

from jeeves_control_tower.services import InterruptConfig, InterruptService
from jeeves_control_tower.services.approvals import action_hash
from jeeves_protocols import (
    ApprovalMismatchError,
    ApprovalNotGrantedError,
    ApprovalUsedError,
    InterruptExpiredError,
    InterruptKind,
    InterruptNotFoundError,
    InterruptNotPendingError,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    InvalidResponseError,
    Resolution,
    ResponderMismatchError,
    SelfApprovalError,
)
from tests.integration.conftest import Harness
from tests.support.stores import FakeClock, Recorder, open_service

ACTION = {"tool": "refund", "args": {"order": "A-17", "amount": 120}}


async def confirm(h: Harness, **rules: Any) -> Any:
    data = rules.pop("data", {"action": ACTION, "why": "customer asked"})
    return await h.service.create_confirmation(
        "req-1", "alice", "sess-1", "Refund order A-17?", action_data=data, **rules
    )


async def review(h: Harness, **rules: Any) -> Any:
    return await h.service.create_interrupt(
        InterruptKind.AGENT_REVIEW, "req-1", "alice", "sess-1", message="Ship it?",
        data={"action": ACTION}, **rules,
    )


# -- what an expiry does --------------------------------------------------------------------


async def test_an_expiry_can_reject_a_confirmation_and_says_it_was_no_human(harness: Harness) -> None:
    created = await confirm(harness, on_expire="reject")
    waiter = asyncio.create_task(harness.service.wait_for_response(created.id, timeout=30))
    await asyncio.sleep(0.05)
    harness.clock.advance(hours=2)
    assert await harness.service.expire_pending() == 1
    ended = await waiter
    assert ended.status is InterruptStatus.RESOLVED
    assert ended.resolution is Resolution.AUTO_REJECTED
    assert ended.response is not None and ended.response.approved is False
    assert ended.response.via == "expiry" and ended.response.responder_id is None
    assert ended.response.received_at == harness.clock.now
    journal = await harness.journal()
    assert [(e.type, e.sequence) for e in journal][-1] == ("interrupt.resolved", 2)
    assert journal[-1].interrupt.resolution is Resolution.AUTO_REJECTED
    with pytest.raises(ApprovalNotGrantedError, match="rejected by its expiry"):
        await harness.service.verify_approval(created.id, ACTION)


async def test_an_expiry_can_approve_a_review_where_configured(harness: Harness) -> None:
    created = await review(harness, on_expire="approve")
    harness.clock.advance(hours=1)
    ended = await harness.service.get_interrupt(created.id)  # lazy expiry takes the same outcome
    assert ended is not None and ended.status is InterruptStatus.RESOLVED
    assert ended.resolution is Resolution.AUTO_APPROVED
    assert ended.response is not None and ended.response.decision == "approve"
    assert (await harness.service.verify_approval(created.id, ACTION)).id == created.id


async def test_the_default_expiry_still_expires_and_every_ending_names_its_resolution(harness: Harness) -> None:
    plain = await confirm(harness)
    answered = await confirm(harness)
    cancelled = await confirm(harness)
    assert plain.resolution is None and plain.policy == {}
    await harness.service.respond_or_raise(answered.id, InterruptResponse(approved=True), "alice")
    await harness.service.cancel_or_raise(cancelled.id, "changed my mind")
    harness.clock.advance(hours=2)
    await harness.service.expire_pending()
    resolutions = {i: (await harness.service.get_interrupt(i)).resolution  # type: ignore[union-attr]
                   for i in (plain.id, answered.id, cancelled.id)}
    assert resolutions == {
        plain.id: Resolution.EXPIRED, answered.id: Resolution.ANSWERED, cancelled.id: Resolution.CANCELLED,
    }


async def test_an_answer_before_the_expiry_wins_over_its_outcome(harness: Harness) -> None:
    created = await confirm(harness, on_expire="approve")
    answered = await harness.service.respond_or_raise(created.id, InterruptResponse(approved=False), "alice")
    harness.clock.advance(hours=2)
    assert await harness.service.expire_pending() == 0
    assert answered.resolution is Resolution.ANSWERED and answered.response is not None
    assert answered.response.approved is False


async def test_a_kind_config_sets_the_outcome_and_an_interrupt_overrides_it(db_factory: Any) -> None:
    recorder, clock = Recorder(), FakeClock()
    configs = {InterruptKind.CONFIRMATION: InterruptConfig(on_expire="reject")}
    async with open_service(db_factory(), recorder, clock, sweep_interval=0, configs=configs) as service:
        by_config = await service.create_confirmation("r", "u", "s", "Go?")
        overridden = await service.create_confirmation("r", "u", "s", "Go?", on_expire="expire")
        clock.advance(hours=2)
        await service.expire_pending()
        assert (await service.get_interrupt(by_config.id)).resolution is Resolution.AUTO_REJECTED  # type: ignore[union-attr]
        assert (await service.get_interrupt(overridden.id)).resolution is Resolution.EXPIRED  # type: ignore[union-attr]


@pytest.mark.parametrize("outcome", ["reject", "approve"])
async def test_only_an_action_can_be_rejected_or_approved_by_an_expiry(harness: Harness, outcome: str) -> None:
    with pytest.raises(InvalidInterruptError, match="needs an interrupt that approves an action") as refused:
        await harness.service.create_clarification("r", "u", "s", "Which?", on_expire=outcome)
    assert refused.value.field == "on_expire"
    with pytest.raises(InvalidInterruptError, match="must be one of expire, reject, approve"):
        await confirm(harness, on_expire="escalate-to-mars")
    with pytest.raises(InvalidInterruptError, match=r"configs\[clarification\]\.on_expire"):
        InterruptService(configs={InterruptKind.CLARIFICATION: InterruptConfig(on_expire=outcome)})
    assert await harness.journal() == []


# -- who may answer ---------------------------------------------------------------------------


async def test_the_creator_cannot_answer_when_self_approval_is_forbidden(harness: Harness) -> None:
    # alice raised it (say, an admin asking for her own refund) and it is addressed to her.
    created = await confirm(harness, created_by="alice", forbid_self_approval=True)
    assert created.created_by == "alice" and created.policy == {"forbid_self_approval": True}
    with pytest.raises(SelfApprovalError, match="'alice' raised it"):
        await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "alice")
    with pytest.raises(SelfApprovalError, match="must name its responder"):
        await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True))
    assert (await harness.service.get_interrupt(created.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]
    assert [e.type for e in await harness.journal()] == ["interrupt.confirmation_needed"]
    # Someone else (here an operator answering on alice's behalf) may.
    approved = await harness.service.respond_or_raise(
        created.id, InterruptResponse(approved=True, responder_id="ops-lead")
    )
    assert approved.response is not None and approved.response.responder_id == "ops-lead"
    assert approved.response.via == "library" and approved.resolution is Resolution.ANSWERED


async def test_forbidding_self_approval_needs_to_know_the_creator(harness: Harness) -> None:
    with pytest.raises(InvalidInterruptError, match="needs created_by") as refused:
        await confirm(harness, forbid_self_approval=True)
    assert refused.value.field == "created_by"
    with pytest.raises(TypeError, match="unexpected keyword argument 'forbid_self_aproval'"):
        await confirm(harness, forbid_self_aproval=True)


async def test_the_policy_check_still_leaves_one_winner(harness: Harness) -> None:
    created = await confirm(harness, created_by="agent-7", forbid_self_approval=True)
    answers = [
        harness.service.respond(created.id, InterruptResponse(approved=n % 2 == 0), "alice")
        for n in range(10)
    ]
    answers.append(harness.service.respond(created.id, InterruptResponse(approved=True), "agent-7"))
    results = await asyncio.gather(*answers)
    assert sum(result is not None for result in results) == 1
    journal = await harness.journal()
    assert [e.type for e in journal if e.interrupt_id == created.id].count("interrupt.resolved") == 1


# -- edit-and-approve with a schema -----------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "action": {
            "type": "object",
            "properties": {
                "tool": {"const": "refund"},
                "args": {
                    "type": "object",
                    "properties": {"order": {"type": "string"}, "amount": {"type": "number", "maximum": 500}},
                    "required": ["order", "amount"],
                },
            },
        }
    },
}


async def test_an_answer_must_match_the_response_schema_and_names_the_failing_path(harness: Harness) -> None:
    created = await confirm(harness, response_schema=SCHEMA)
    too_much = {"action": {"tool": "refund", "args": {"order": "A-17", "amount": 9000}}}
    with pytest.raises(InvalidResponseError, match="9000 is greater than the maximum of 500") as refused:
        await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True, data=too_much), "alice")
    assert refused.value.field == "data.action.args.amount"
    assert (await harness.service.get_interrupt(created.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]

    edited = {"action": {"tool": "refund", "args": {"order": "A-17", "amount": 80}}}
    approved = await harness.service.respond_or_raise(
        created.id, InterruptResponse(approved=True, data=edited), "alice"
    )
    # Both stay: what the agent proposed, and what the human approved.
    assert approved.data["action"] == ACTION
    assert approved.response is not None and approved.response.data == edited
    assert approved.response.action_hash == action_hash(edited) != approved.action_hash


async def test_a_schema_that_is_no_json_schema_is_refused_at_creation(harness: Harness) -> None:
    with pytest.raises(InvalidInterruptError, match="not a valid JSON Schema at properties/amount") as refused:
        await confirm(harness, response_schema={"properties": {"amount": {"type": "money"}}})
    assert refused.value.field == "response_schema"
    with pytest.raises(InvalidInterruptError, match="response_schema must be a mapping"):
        await confirm(harness, response_schema=["not", "an", "object"])


# -- answers bound to the action, used once ---------------------------------------------------


async def test_the_action_hash_is_sha256_of_the_canonical_action(harness: Harness) -> None:
    created = await confirm(harness)
    canonical = json.dumps(ACTION, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert created.action_hash == hashlib.sha256(canonical.encode()).hexdigest()
    whole = await confirm(harness, data={"b": 1, "a": "é"})  # no "action": the whole data
    assert whole.action_hash == hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
    question = await harness.service.create_clarification("r", "u", "s", "Which?", context={"x": 1})
    assert question.action_hash is None  # only what approves an action is bound to one


async def test_an_approval_covers_exactly_its_action_and_is_used_once(harness: Harness) -> None:
    created = await confirm(harness)
    with pytest.raises(ApprovalNotGrantedError, match="it is pending"):
        await harness.service.verify_approval(created.id, ACTION)
    approved = await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "alice")
    assert approved.response is not None and approved.response.action_hash == created.action_hash

    assert (await harness.service.verify_approval(created.id, ACTION)).id == created.id
    tampered = {"tool": "refund", "args": {"order": "A-17", "amount": 12000}}
    with pytest.raises(ApprovalMismatchError, match="not the one"):
        await harness.service.verify_approval(created.id, tampered)
    with pytest.raises(ApprovalMismatchError):
        await harness.service.consume(created.id, tampered)

    used = await harness.service.consume(created.id, ACTION)
    assert used.consumed_at == harness.clock.now
    with pytest.raises(ApprovalUsedError):
        await harness.service.consume(created.id, ACTION)
    with pytest.raises(ApprovalUsedError):
        await harness.service.verify_approval(created.id, ACTION)
    journal = [(e.type, e.sequence) for e in await harness.journal() if e.interrupt_id == created.id]
    assert journal == [
        ("interrupt.confirmation_needed", 1), ("interrupt.resolved", 2), ("interrupt.approval_consumed", 3),
    ]


async def test_an_edited_approval_covers_the_edit_not_the_proposal(harness: Harness) -> None:
    created = await review(harness)
    edited = {"tool": "refund", "args": {"order": "A-17", "amount": 60}}
    await harness.service.respond_or_raise(
        created.id, InterruptResponse(decision="modify", data={"action": edited}), "alice"
    )
    with pytest.raises(ApprovalMismatchError):
        await harness.service.verify_approval(created.id, ACTION)
    assert (await harness.service.consume(created.id, edited)).consumed_at is not None


async def test_a_rejection_or_a_cancel_approves_nothing(harness: Harness) -> None:
    rejected = await confirm(harness)
    await harness.service.respond_or_raise(rejected.id, InterruptResponse(approved=False), "alice")
    with pytest.raises(ApprovalNotGrantedError, match="answered without an approval"):
        await harness.service.consume(rejected.id, ACTION)
    declined = await review(harness)
    await harness.service.respond_or_raise(declined.id, InterruptResponse(decision="reject"), "alice")
    with pytest.raises(ApprovalNotGrantedError):
        await harness.service.verify_approval(declined.id, ACTION)
    cancelled = await confirm(harness)
    await harness.service.cancel_or_raise(cancelled.id)
    with pytest.raises(ApprovalNotGrantedError, match="it is cancelled"):
        await harness.service.verify_approval(cancelled.id, ACTION)


async def test_racing_consumers_use_an_approval_exactly_once(harness: Harness) -> None:
    created = await confirm(harness)
    await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "alice")
    outcomes = await asyncio.gather(
        *(harness.service.consume(created.id, ACTION) for _ in range(12)), return_exceptions=True
    )
    assert sum(not isinstance(outcome, Exception) for outcome in outcomes) == 1
    assert all(isinstance(o, ApprovalUsedError) for o in outcomes if isinstance(o, Exception))


# -- history --------------------------------------------------------------------------------


async def test_the_history_of_an_interrupt_and_of_a_run(harness: Harness) -> None:
    first = await confirm(harness)
    harness.clock.advance(seconds=5)
    second = await harness.service.create_clarification("req-1", "alice", "sess-1", "Which card?")
    other_run = await harness.service.create_clarification("req-2", "alice", "sess-1", "Other?")
    await harness.service.respond_or_raise(first.id, InterruptResponse(approved=True), "alice")
    await harness.service.consume(first.id, ACTION)
    await harness.service.cancel_or_raise(second.id, "not needed")

    events = await harness.service.get_history(first.id)
    assert [(e.type, e.interrupt.status) for e in events] == [
        ("interrupt.confirmation_needed", InterruptStatus.PENDING),
        ("interrupt.resolved", InterruptStatus.RESOLVED),
        ("interrupt.approval_consumed", InterruptStatus.RESOLVED),
    ]
    resolved = events[1].interrupt
    assert resolved.response is not None and resolved.response.responder_id == "alice"
    assert resolved.consumed_at is None and events[2].interrupt.consumed_at is not None

    run = await harness.service.get_history(request_id="req-1")
    assert [(e.interrupt_id, e.type) for e in run] == [
        (first.id, "interrupt.confirmation_needed"),
        (second.id, "interrupt.clarification_needed"),
        (first.id, "interrupt.resolved"),
        (first.id, "interrupt.approval_consumed"),
        (second.id, "interrupt.cancelled"),
    ]
    assert run[-1].interrupt.data["cancel_reason"] == "not needed"
    session = await harness.service.get_history(session_id="sess-1")
    assert {e.interrupt_id for e in session} == {first.id, second.id, other_run.id}
    assert await harness.service.get_history(request_id="no-such-run") == []


async def test_history_takes_exactly_one_key(harness: Harness) -> None:
    for keys in ({}, {"request_id": "r", "session_id": "s"}):
        with pytest.raises(InvalidInterruptError, match="exactly one of"):
            await harness.service.get_history(**keys)
    with pytest.raises(InvalidInterruptError, match="limit must be"):
        await harness.service.get_history("x", limit=0)


# -- who waits on what ------------------------------------------------------------------------


async def test_the_pending_summary_counts_by_kind_user_and_age(harness: Harness) -> None:
    old = await harness.service.create_interrupt(InterruptKind.CHECKPOINT, "r", "carol", "s", message="done?")
    harness.clock.advance(days=2)
    await confirm(harness)
    await confirm(harness)
    answered = await harness.service.create_clarification("r", "bob", "s", "Which?")  # not waiting
    await harness.service.respond_or_raise(answered.id, InterruptResponse(text="this"), "bob")
    summary = await harness.service.pending_summary()
    assert summary.total == 3
    assert summary.by_kind == {"checkpoint": 1, "confirmation": 2}
    assert summary.by_user == {"alice": 2, "carol": 1}
    assert summary.by_age == {"under_1h": 2, "1h_to_1d": 0, "1d_to_7d": 1, "over_7d": 0}
    harness.clock.advance(hours=2)  # the confirmations are due now: waiting on nobody
    assert (await harness.service.pending_summary()).to_dict()["by_kind"] == {"checkpoint": 1}
    assert old.expires_at is None


async def test_a_plain_interrupt_carries_no_policy_and_answers_in_one_step(harness: Harness) -> None:
    created = await confirm(harness)
    assert created.policy == {} and created.created_by is None
    answered = await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "alice")
    assert answered.policy == {}
    with pytest.raises(InterruptNotPendingError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "alice")


async def test_a_rule_for_one_interrupt_leaves_the_next_untouched(harness: Harness) -> None:
    strict = await confirm(harness, created_by="agent", forbid_self_approval=True, on_expire="reject",
                           response_schema={"type": "object"})
    plain = await confirm(harness)
    assert strict.policy["on_expire"] == "reject" and plain.policy == {}
    assert (await harness.service.get_interrupt(strict.id)).policy == strict.policy  # type: ignore[union-attr]
    assert (await harness.service.get_interrupt(plain.id)).policy == {}  # type: ignore[union-attr]


# -- extending the deadline -------------------------------------------------------------------


async def test_extend_moves_the_expiry_and_is_journalled_in_order(harness: Harness) -> None:
    created = await confirm(harness)  # one hour
    assert created.expires_at is not None
    waiter = asyncio.create_task(harness.service.wait_for_response(created.id, timeout=30))
    extended = await harness.service.extend(created.id, timedelta(hours=2))
    assert extended.expires_at == created.expires_at + timedelta(hours=2)
    assert extended.status is InterruptStatus.PENDING
    harness.clock.advance(hours=2)  # past the old expiry, not the new one
    assert await harness.service.expire_pending() == 0
    assert (await harness.service.get_interrupt(created.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]
    await asyncio.sleep(0.05)
    assert not waiter.done()  # the waiter keeps waiting past the old deadline
    again = await harness.service.extend(created.id, timedelta(minutes=30))
    assert again.expires_at == created.expires_at + timedelta(hours=2, minutes=30)
    await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "alice")
    assert (await waiter).status is InterruptStatus.RESOLVED
    await harness.service.consume(created.id, ACTION)
    history = await harness.service.get_history(created.id)
    assert [(e.type, e.sequence) for e in history] == [
        ("interrupt.confirmation_needed", 1), ("interrupt.extended", 2), ("interrupt.extended", 3),
        ("interrupt.resolved", 4), ("interrupt.approval_consumed", 5),
    ]
    # Each event shows the interrupt as it stood then: the creation its first deadline.
    assert [e.interrupt.expires_at for e in history[:3]] == [
        created.expires_at, extended.expires_at, again.expires_at,
    ]
    assert [e.interrupt.status for e in history] == [InterruptStatus.PENDING] * 3 + [InterruptStatus.RESOLVED] * 2


async def test_an_extended_interrupt_expires_at_its_new_deadline(harness: Harness) -> None:
    created = await confirm(harness, on_expire="reject")
    await harness.service.extend(created.id, timedelta(minutes=10))
    harness.clock.advance(minutes=71)
    assert await harness.service.expire_pending() == 1
    ended = await harness.service.get_interrupt(created.id)
    assert ended is not None and ended.resolution is Resolution.AUTO_REJECTED
    assert [(e.type, e.sequence) for e in await harness.service.get_history(created.id)][-1] == ("interrupt.resolved", 3)


async def test_extend_refuses_what_it_cannot_extend(harness: Harness) -> None:
    created = await confirm(harness)
    for bad in (timedelta(0), timedelta(seconds=-5), 30, None, timedelta(days=40_000)):
        with pytest.raises(InvalidInterruptError, match="by must be"):
            await harness.service.extend(created.id, bad)  # type: ignore[arg-type]
    forever = await harness.service.create_interrupt(InterruptKind.CHECKPOINT, "r", "u", "s", message="m")
    with pytest.raises(InvalidInterruptError, match="never expires"):
        await harness.service.extend(forever.id, timedelta(hours=1))
    with pytest.raises(InterruptNotFoundError):
        await harness.service.extend("no-such-interrupt", timedelta(hours=1))
    await harness.service.cancel_or_raise(created.id)
    with pytest.raises(InterruptNotPendingError):
        await harness.service.extend(created.id, timedelta(hours=1))
    late = await confirm(harness)
    harness.clock.advance(hours=2)
    with pytest.raises(InterruptExpiredError):
        await harness.service.extend(late.id, timedelta(hours=1))
    extended = [e for e in await harness.journal() if e.type == "interrupt.extended"]
    assert extended == []


async def test_racing_extensions_each_apply_once(harness: Harness) -> None:
    created = await confirm(harness)
    assert created.expires_at is not None
    await asyncio.gather(*(harness.service.extend(created.id, timedelta(minutes=1)) for _ in range(4)))
    final = await harness.service.get_interrupt(created.id)
    assert final is not None and final.expires_at == created.expires_at + timedelta(minutes=4)
    sequences = [e.sequence for e in await harness.service.get_history(created.id)]
    assert sequences == [1, 2, 3, 4, 5]


# -- reminders --------------------------------------------------------------------------------------


async def test_reminders_go_out_once_each_while_it_waits(harness: Harness) -> None:
    created = await harness.service.create_clarification(
        "r", "alice", "s", "Which region?", remind_after=[timedelta(minutes=30), timedelta(minutes=10)]
    )
    assert created.policy["remind_after"] == [600.0, 1800.0]
    assert await harness.service.remind_pending() == 0
    harness.clock.advance(minutes=11)
    assert await harness.service.remind_pending() == 1
    assert await harness.service.remind_pending() == 0  # each reminder once
    harness.clock.advance(minutes=20)
    assert await harness.service.remind_pending() == 1
    harness.clock.advance(hours=5)
    assert await harness.service.remind_pending() == 0  # none left
    await harness.service.respond_or_raise(created.id, InterruptResponse(text="eu"), "alice")
    history = await harness.service.get_history(created.id)
    assert [(e.type, e.sequence, e.interrupt.status) for e in history] == [
        ("interrupt.clarification_needed", 1, InterruptStatus.PENDING),
        ("interrupt.reminder", 2, InterruptStatus.PENDING),
        ("interrupt.reminder", 3, InterruptStatus.PENDING),
        ("interrupt.resolved", 4, InterruptStatus.RESOLVED),
    ]
    assert [event for _, event, _ in harness.recorder.logs].count("interrupt_reminder") == 2
    assert harness.recorder.webhook_types().count("interrupt.reminder") == 2


async def test_no_reminder_for_what_ended_or_is_due(harness: Harness) -> None:
    answered = await harness.service.create_clarification("r", "alice", "s", "q?", remind_after=[timedelta(minutes=5)])
    await harness.service.respond_or_raise(answered.id, InterruptResponse(text="a"), "alice")
    late = await confirm(harness, remind_after=[timedelta(hours=2)])  # its hour runs out first
    harness.clock.advance(hours=3)
    assert await harness.service.remind_pending() == 0
    assert await harness.service.expire_pending() == 1
    reminders = [e for e in await harness.journal() if e.type == "interrupt.reminder"]
    assert reminders == [] and late.expires_at is not None


async def test_a_kind_can_remind_by_default_and_bad_reminders_are_refused(db_factory: Any) -> None:
    recorder, clock = Recorder(), FakeClock()
    configs = {InterruptKind.CONFIRMATION: InterruptConfig(remind_after=[timedelta(minutes=15)])}
    async with open_service(db_factory(), recorder, clock, sweep_interval=0, configs=configs) as service:
        asked = await service.create_confirmation("r", "alice", "s", "Go?")
        assert asked.policy["remind_after"] == [900.0]
        clock.advance(minutes=16)
        assert await service.remind_pending() == 1
        for bad in ([timedelta(0)], [timedelta(seconds=-1)], [timedelta(minutes=1)] * 11, [60], "PT5M"):
            with pytest.raises(InvalidInterruptError, match="remind_after"):
                await service.create_clarification("r", "alice", "s", "q?", remind_after=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInterruptError, match=r"configs\[timeout\]\.remind_after"):
        InterruptService(configs={InterruptKind.TIMEOUT: InterruptConfig(remind_after=[timedelta(0)])})


# -- who may answer -----------------------------------------------------------------------------


async def test_responders_beyond_its_user_may_answer_and_nobody_else(harness: Harness) -> None:
    created = await confirm(harness, responders={"users": ["carol"], "groups": ["ops"]})
    assert created.policy["responders"] == {"users": ["carol"], "groups": ["ops"]}
    with pytest.raises(ResponderMismatchError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "mallory")
    with pytest.raises(ResponderMismatchError):  # a group that is not named
        await harness.service.respond_or_raise(
            created.id, InterruptResponse(approved=True), "mallory", groups=["finance"]
        )
    assert (await harness.service.get_interrupt(created.id)).status is InterruptStatus.PENDING  # type: ignore[union-attr]
    by_group = await harness.service.respond_or_raise(
        created.id, InterruptResponse(approved=True), "dave", groups=["ops", "sre"]
    )
    assert by_group.response is not None and by_group.response.responder_id == "dave"
    named = await confirm(harness, responders={"users": ["carol"]})
    assert (await harness.service.respond_or_raise(named.id, InterruptResponse(approved=False), "carol")).status \
        is InterruptStatus.RESOLVED
    own = await confirm(harness, responders={"users": ["carol"]})
    assert (await harness.service.respond_or_raise(own.id, InterruptResponse(approved=True), "alice")).status \
        is InterruptStatus.RESOLVED  # its user still may


async def test_responders_are_checked_with_self_approval_and_races(harness: Harness) -> None:
    created = await confirm(harness, created_by="carol", forbid_self_approval=True, responders={"users": ["carol", "dave"]})
    with pytest.raises(SelfApprovalError):
        await harness.service.respond_or_raise(created.id, InterruptResponse(approved=True), "carol")
    racers = [harness.service.respond(created.id, InterruptResponse(approved=True), who) for who in ["dave", "alice"] * 5]
    assert sum(result is not None for result in await asyncio.gather(*racers)) == 1
    for bad in ({"users": "carol"}, {"people": ["x"]}, {"users": [""]}, {"groups": ["a\x00"]}, ["carol"]):
        with pytest.raises(InvalidInterruptError, match="responders"):
            await confirm(harness, responders=bad)


async def test_a_responder_lists_and_streams_what_they_may_answer(harness: Harness) -> None:
    from jeeves_control_tower.services import EventQuery, InterruptQuery, Visibility

    mine = await confirm(harness)  # alice's
    for_ops = await harness.service.create_confirmation("r", "bob", "s", "Ops?", responders={"groups": ["ops"]})
    for_carol = await harness.service.create_confirmation("r", "bob", "s", "Carol?", responders={"users": ["carol"]})
    hidden = await harness.service.create_confirmation("r", "bob", "s", "Bob only")
    carol_in_ops = Visibility("carol", ("ops",))
    listed = await harness.service.list_interrupts(InterruptQuery(visible_to=carol_in_ops))
    assert {i.id for i in listed} == {for_ops.id, for_carol.id}
    assert {i.id for i in await harness.service.list_interrupts(InterruptQuery(visible_to=Visibility("alice")))} == {
        mine.id
    }
    events = await harness.service.events(EventQuery(visible_to=carol_in_ops))
    assert {e.interrupt_id for e in events} == {for_ops.id, for_carol.id}
    assert hidden.id not in {i.id for i in await harness.service.list_interrupts(InterruptQuery(visible_to=Visibility("dave", ("sre",))))}


async def test_reminders_due_together_make_one(harness: Harness) -> None:
    """After a sweep was late (an outage), what fell due meanwhile goes out once, not as a
    backlog; the next still ahead keeps its time."""
    created = await harness.service.create_clarification(
        "r", "alice", "s", "q?", remind_after=[timedelta(minutes=m) for m in (5, 6, 7, 30)]
    )
    harness.clock.advance(minutes=8)
    assert await harness.service.remind_pending() == 1
    assert await harness.service.remind_pending() == 0
    harness.clock.advance(minutes=23)
    assert await harness.service.remind_pending() == 1
    types = [e.type for e in await harness.service.get_history(created.id)]
    assert types.count("interrupt.reminder") == 2
