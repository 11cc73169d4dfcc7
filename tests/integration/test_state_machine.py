"""Random create / respond / cancel / extend / consume / expire / advance-clock sequences against
each store, checked against a model: terminal states never change; one creation event and at
most one terminal event per interrupt, each interrupt's events numbered 1, 2, 3... in journal
order (extensions before the end, a consumed approval after it); an expiry that rejects resolves;
an approval is used once; pending listings agree with the model."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from jeeves_control_tower.services import InterruptService
from jeeves_protocols import InterruptError, InterruptKind, InterruptResponse, InterruptStatus, Resolution
from tests.support.stores import FakeClock, make_db

TERMINAL = {"interrupt.resolved", "interrupt.cancelled", "interrupt.expired"}
KINDS = [InterruptKind.CLARIFICATION, InterruptKind.CONFIRMATION, InterruptKind.TIMEOUT, InterruptKind.CHECKPOINT]
ANSWERS = {
    InterruptKind.CLARIFICATION: InterruptResponse(text="yes"),
    InterruptKind.CONFIRMATION: InterruptResponse(approved=True),
    InterruptKind.TIMEOUT: InterruptResponse(),
    InterruptKind.CHECKPOINT: InterruptResponse(),
}


def machine_for(store_kind: str, tmp_path: Path, pg_dsn: Optional[str]) -> type[RuleBasedStateMachine]:
    counter = iter(range(10**9))

    class InterruptMachine(RuleBasedStateMachine):
        interrupts = Bundle("interrupts")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.clock = FakeClock()
            n = next(counter)
            directory = tmp_path / f"run{n}"
            directory.mkdir()
            db = make_db(store_kind, directory, pg_dsn)
            self.service = InterruptService(db=db, clock=self.clock, sweep_interval=0)
            self.run(self.service.start())
            if store_kind in {"postgres", "dbprotocol"}:
                # One schema is shared by the runs of this test: start each run from empty tables.
                self.run(self.service.store.db.fetch_all(  # type: ignore[attr-defined]
                    "TRUNCATE jeeves_interrupts, jeeves_interrupt_events", ()
                ))
            self.model: dict[str, dict[str, Any]] = {}

        def run(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        def teardown(self) -> None:
            self.run(self.service.stop())
            self.loop.close()

        @rule(
            target=interrupts,
            kind=st.sampled_from(KINDS),
            ttl_minutes=st.sampled_from([None, 0, 1, 30]),
            rejects_on_expiry=st.booleans(),
        )
        def create(self, kind: InterruptKind, ttl_minutes: Optional[int], rejects_on_expiry: bool) -> str:
            ttl = None if ttl_minutes is None else timedelta(minutes=ttl_minutes)
            rejects = rejects_on_expiry and kind is InterruptKind.CONFIRMATION
            created = self.run(self.service.create_interrupt(
                kind, "req", "user", "sess", message="m", ttl=ttl, on_expire="reject" if rejects else None
            ))
            self.model[created.id] = {
                "kind": kind, "expires_at": created.expires_at, "status": InterruptStatus.PENDING,
                "rejects": rejects, "answered": False, "consumed": False, "extended": 0,
            }
            return str(created.id)

        def _when_due(self, interrupt_id: str) -> InterruptStatus:
            """The status an expiry gives it: expired, or resolved by its on_expire="reject"."""
            return InterruptStatus.RESOLVED if self.model[interrupt_id]["rejects"] else InterruptStatus.EXPIRED

        def _pending_in_model(self, interrupt_id: str) -> bool:
            entry = self.model[interrupt_id]
            expires_at = entry["expires_at"]
            return entry["status"] is InterruptStatus.PENDING and (expires_at is None or expires_at > self.clock.now)

        @rule(interrupt_id=interrupts)
        def respond(self, interrupt_id: str) -> None:
            was_pending = self._pending_in_model(interrupt_id)
            kind = self.model[interrupt_id]["kind"]
            result = self.run(self.service.respond(interrupt_id, ANSWERS[kind]))
            assert (result is not None) == was_pending
            if result is not None:
                assert result.resolution is Resolution.ANSWERED
                self.model[interrupt_id]["answered"] = True
            self._observe(interrupt_id)

        @rule(interrupt_id=interrupts, minutes=st.sampled_from([1, 10, 60]))
        def extend(self, interrupt_id: str, minutes: int) -> None:
            entry = self.model[interrupt_id]
            can = self._pending_in_model(interrupt_id) and entry["expires_at"] is not None
            try:
                extended = self.run(self.service.extend(interrupt_id, timedelta(minutes=minutes)))
            except InterruptError:
                assert not can
            else:
                assert can
                assert extended.expires_at == entry["expires_at"] + timedelta(minutes=minutes)
                entry["expires_at"] = extended.expires_at
                entry["extended"] += 1
            self._observe(interrupt_id)

        @rule(interrupt_id=interrupts)
        def consume(self, interrupt_id: str) -> None:
            entry = self.model[interrupt_id]
            usable = entry["kind"] is InterruptKind.CONFIRMATION and entry["answered"] and not entry["consumed"]
            try:
                used = self.run(self.service.consume(interrupt_id, {}))  # the action: its whole (empty) data
            except InterruptError:
                assert not usable
            else:
                assert usable and used.consumed_at is not None
                entry["consumed"] = True
            self._observe(interrupt_id)  # a look at a due interrupt ends it

        @rule(interrupt_id=interrupts)
        def cancel(self, interrupt_id: str) -> None:
            was_pending = self._pending_in_model(interrupt_id)
            result = self.run(self.service.cancel(interrupt_id, "stop"))
            assert (result is not None) == was_pending
            self._observe(interrupt_id)

        @rule(interrupt_id=interrupts)
        def respond_as_someone_else(self, interrupt_id: str) -> None:
            kind = self.model[interrupt_id]["kind"]
            assert self.run(self.service.respond(interrupt_id, ANSWERS[kind], user_id="intruder")) is None
            self._observe(interrupt_id)
            if self._pending_in_model(interrupt_id):
                assert self.model[interrupt_id]["status"] is InterruptStatus.PENDING

        @rule(interrupt_id=interrupts)
        def get(self, interrupt_id: str) -> None:
            entry = self.model[interrupt_id]
            if entry["status"] is not InterruptStatus.PENDING:
                expected = entry["status"]
            elif self._pending_in_model(interrupt_id):
                expected = InterruptStatus.PENDING
            else:
                expected = self._when_due(interrupt_id)  # due: ended on read, never shown pending
            assert self.run(self.service.get_interrupt(interrupt_id)).status is expected
            entry["status"] = expected

        @rule()
        def expire(self) -> None:
            due = [i for i, e in self.model.items() if e["status"] is InterruptStatus.PENDING and not self._pending_in_model(i)]
            assert self.run(self.service.expire_pending()) == len(due)
            for interrupt_id in due:
                self.model[interrupt_id]["status"] = self._when_due(interrupt_id)

        @rule(minutes=st.integers(min_value=0, max_value=40))
        def advance(self, minutes: int) -> None:
            self.clock.advance(minutes=minutes)

        def _observe(self, interrupt_id: str) -> None:
            stored = self.run(self.service.store.get(interrupt_id))
            before = self.model[interrupt_id]["status"]
            if before is not InterruptStatus.PENDING:
                assert stored.status is before, "a terminal state changed"
            self.model[interrupt_id]["status"] = stored.status

        @invariant()
        def journal_is_consistent(self) -> None:
            journal = self.run(self.service.store.events_after(0, 100_000))
            created = [e.interrupt_id for e in journal if e.sequence == 1]
            terminal = [e.interrupt_id for e in journal if e.type in TERMINAL]
            assert sorted(created) == sorted(self.model)
            assert len(terminal) == len(set(terminal))
            for interrupt_id, entry in self.model.items():
                assert (interrupt_id in terminal) == (entry["status"] is not InterruptStatus.PENDING)
                own = [e for e in journal if e.interrupt_id == interrupt_id]
                assert [e.sequence for e in own] == list(range(1, len(own) + 1)), "events out of order"
                kinds = [e.type for e in own]
                assert kinds.count("interrupt.extended") == entry["extended"]
                assert kinds.count("interrupt.approval_consumed") == int(entry["consumed"])
                if entry["consumed"]:
                    assert kinds[-1] == "interrupt.approval_consumed" and kinds[-2] in TERMINAL

        @invariant()
        def pending_listing_matches(self) -> None:
            listed = {p.id for p in self.run(self.service.get_pending_for_session("sess"))}
            assert listed == {i for i in self.model if self._pending_in_model(i)}

    return InterruptMachine


@pytest.mark.parametrize(
    ("store_kind", "examples"),
    [
        ("memory", 60),
        ("sqlite", 25),
        pytest.param("postgres", 12, marks=pytest.mark.postgres),
        pytest.param("dbprotocol", 8, marks=pytest.mark.postgres),
    ],
)
def test_state_machine(store_kind: str, examples: int, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    dsn = request.getfixturevalue("pg_dsn") if store_kind in {"postgres", "dbprotocol"} else None
    machine = machine_for(store_kind, tmp_path, dsn)
    machine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    machine.TestCase().runTest()
