"""A race has exactly one winner: in one process, across processes, and against the expiry sweep."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import InterruptKind, InterruptNotPendingError, InterruptResponse, InterruptStatus
from tests.integration.conftest import Harness
from tests.support.race_worker import RACE_ACTION

TERMINAL = {"interrupt.resolved", "interrupt.cancelled", "interrupt.expired"}
ROOT = Path(__file__).resolve().parents[2]


async def test_fifty_concurrent_responders_one_winner(harness: Harness) -> None:
    created = await harness.service.create_clarification("r", "u", "s", "q?")

    async def attempt(n: int) -> Any:
        try:
            return await harness.service.respond_or_raise(created.id, InterruptResponse(text=f"answer {n}"))
        except InterruptNotPendingError as exc:
            return exc

    outcomes = await asyncio.gather(*(attempt(n) for n in range(50)))
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, InterruptNotPendingError)]
    assert len(winners) == 1 and len(losers) == 49
    assert all(loser.status is InterruptStatus.RESOLVED for loser in losers)
    stored = await harness.service.get_interrupt(created.id)
    assert stored is not None and stored.response is not None
    assert stored.response.text == winners[0].response.text
    terminal = [e for e in await harness.journal() if e.type in TERMINAL]
    assert len(terminal) == 1


async def test_responders_racing_cancellers_one_winner(harness: Harness) -> None:
    created = await harness.service.create_confirmation("r", "u", "s", "ok?")
    attempts = [
        harness.service.respond(created.id, InterruptResponse(approved=True)) if n % 2 else
        harness.service.cancel(created.id, reason=f"cancel {n}")
        for n in range(40)
    ]
    winners = [outcome for outcome in await asyncio.gather(*attempts) if outcome is not None]
    assert len(winners) == 1
    stored = await harness.service.get_interrupt(created.id)
    assert stored == winners[0]
    (event,) = [e for e in await harness.journal() if e.type in TERMINAL]
    assert event.type == f"interrupt.{stored.status.value}" and event.interrupt == stored


async def test_respond_racing_the_sweep_over_500(harness: Harness) -> None:
    """Each of 500 interrupts at its expiry ends in exactly one terminal state with one event."""
    service = harness.service
    created = [
        await service.create_interrupt(InterruptKind.CLARIFICATION, f"r{i}", "u", "s", question="q")
        for i in range(500)
    ]
    # Move the clock to the exact expiry moment while responders and the sweep run together.
    harness.clock.advance(hours=24)
    harness.clock.advance(microseconds=-1)

    async def respond_all() -> list[Any]:
        return await asyncio.gather(
            *(service.respond(i.id, InterruptResponse(text="yes")) for i in created)
        )

    async def sweep() -> int:
        await asyncio.sleep(0)
        harness.clock.advance(microseconds=1)  # now every interrupt is due
        return await service.expire_pending()

    responses, _ = await asyncio.gather(respond_all(), sweep())
    resolved = [r for r in responses if r is not None]
    journal = await harness.journal()
    per_interrupt = Counter(e.interrupt_id for e in journal if e.type in TERMINAL)
    assert set(per_interrupt) == {i.id for i in created}
    assert set(per_interrupt.values()) == {1}
    stored = await asyncio.gather(*(service.store.get(i.id) for i in created))
    finals = Counter(i.status for i in stored if i is not None)
    assert finals[InterruptStatus.RESOLVED] + finals[InterruptStatus.EXPIRED] == 500
    assert finals[InterruptStatus.RESOLVED] == len(resolved)


def _run_two_processes(target: str, ids: list[str], *flags: str) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "tests.support.race_worker", *flags, target, *ids]
    children = [
        subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    # Both children open their database first (each says "ready"); then both are told to fire.
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready", child.stderr
    reports = []
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _check_one_winner_each(reports: list[dict[str, Any]], ids: list[str]) -> None:
    wins = Counter(w for report in reports for w in report["wins"])
    assert wins == Counter({i: 1 for i in ids})
    assert sum(report["lost"] for report in reports) == len(ids) * 6 - len(ids)


async def test_two_processes_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        ids = [(await service.create_clarification(f"r{i}", "u", "s", "q")).id for i in range(30)]
    reports = await asyncio.to_thread(_run_two_processes, str(path), ids)
    _check_one_winner_each(reports, ids)
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        journal = await service.store.events_after(0, 10_000)
    assert Counter(e.interrupt_id for e in journal if e.type in TERMINAL) == Counter({i: 1 for i in ids})


@pytest.mark.postgres
async def test_two_processes_one_postgres(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0) as service:
        ids = [(await service.create_clarification(f"r{i}", "u", "s", "q")).id for i in range(30)]
    reports = await asyncio.to_thread(_run_two_processes, pg_dsn, ids)
    _check_one_winner_each(reports, ids)
    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0) as service:
        journal = await service.store.events_after(0, 10_000)
    assert Counter(e.interrupt_id for e in journal if e.type in TERMINAL) == Counter({i: 1 for i in ids})


async def _approved_confirmations(service: InterruptService) -> list[str]:
    ids = []
    for i in range(30):
        asked = await service.create_confirmation(f"r{i}", "u", "s", "Transfer?", action_data={"action": RACE_ACTION})
        await service.respond_or_raise(asked.id, InterruptResponse(approved=True), "u")
        ids.append(asked.id)
    return ids


async def _check_used_once(service: InterruptService, ids: list[str]) -> None:
    journal = await service.store.events_after(0, 10_000)
    used = Counter(e.interrupt_id for e in journal if e.type == "interrupt.approval_consumed")
    assert used == Counter({i: 1 for i in ids})


async def test_two_processes_consume_each_approval_once_on_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "consume.db"
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        ids = await _approved_confirmations(service)
    reports = await asyncio.to_thread(_run_two_processes, str(path), ids, "--consume")
    _check_one_winner_each(reports, ids)
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        await _check_used_once(service, ids)


@pytest.mark.postgres
async def test_two_processes_consume_each_approval_once_on_one_postgres(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0) as service:
        ids = await _approved_confirmations(service)
    reports = await asyncio.to_thread(_run_two_processes, pg_dsn, ids, "--consume")
    _check_one_winner_each(reports, ids)
    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0) as service:
        await _check_used_once(service, ids)


async def _reminders_from_two_instances(make_db: Any) -> None:
    """Two services on one database sweep reminders at once: each reminder goes out once."""
    from datetime import timedelta

    first, second = InterruptService(db=make_db(), sweep_interval=0), InterruptService(db=make_db(), sweep_interval=0)
    async with first, second:
        ids = [
            (await first.create_clarification(f"r{i}", "u", "s", "q?", remind_after=[timedelta(seconds=0.05)])).id
            for i in range(40)
        ]
        await asyncio.sleep(0.1)
        sent = await asyncio.gather(*(service.remind_pending() for service in (first, second, first, second)))
        assert sum(sent) == 40
        journal = await first.store.events_after(0, 10_000)
    assert Counter(e.interrupt_id for e in journal if e.type == "interrupt.reminder") == Counter({i: 1 for i in ids})


async def test_two_instances_on_one_sqlite_file_send_each_reminder_once(tmp_path: Path) -> None:
    await _reminders_from_two_instances(lambda: SQLiteDatabase(tmp_path / "remind.db"))


@pytest.mark.postgres
async def test_two_instances_on_one_postgres_send_each_reminder_once(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    await _reminders_from_two_instances(lambda: PostgresDatabase(pg_dsn))
