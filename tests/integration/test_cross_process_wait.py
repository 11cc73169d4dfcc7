"""wait_for_response in one process wakes when another process answers."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import InterruptStatus

ROOT = Path(__file__).resolve().parents[2]


async def _answer_from_another_process(target: str, interrupt_id: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.respond_later", target, interrupt_id, "from the other process",
        cwd=ROOT, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate()
    assert child.returncode == 0, err.decode()


async def _wait_while_other_process_answers(service: InterruptService, target: str) -> None:
    created = await service.create_clarification("r", "u", "s", "q?")
    waiter = asyncio.create_task(service.wait_for_response(created.id, timeout=60))
    await _answer_from_another_process(target, created.id)
    answered = await waiter
    assert answered.status is InterruptStatus.RESOLVED
    assert answered.response is not None and answered.response.text == "from the other process"


@pytest.mark.postgres
async def test_postgres_wait_is_woken_by_another_process(pg_dsn: str) -> None:
    from jeeves_control_tower.store.postgres import PostgresDatabase

    async with InterruptService(db=PostgresDatabase(pg_dsn), sweep_interval=0) as service:
        assert service.store.wake_poll_interval is None  # woken by LISTEN/NOTIFY, not by polling
        await _wait_while_other_process_answers(service, pg_dsn)


async def test_sqlite_wait_sees_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    async with InterruptService(db=SQLiteDatabase(path), sweep_interval=0) as service:
        await _wait_while_other_process_answers(service, path)


@pytest.mark.postgres
async def test_postgres_sweep_in_another_instance_wakes_waiters_with_one_notify(pg_dsn: str) -> None:
    """A sweep announces its whole batch with one NOTIFY; every waiter elsewhere still wakes."""
    import asyncpg

    from jeeves_control_tower.store.postgres import PostgresDatabase
    from tests.support.stores import FakeClock

    # The waiter's clock never moves, so only the other instance's NOTIFY can tell it.
    waiter_clock, sweeper_clock = FakeClock(), FakeClock()
    heard: list[str] = []
    listener = await asyncpg.connect(pg_dsn)
    await listener.add_listener("jeeves_interrupts", lambda *args: heard.append(args[3]))
    waiting = InterruptService(db=PostgresDatabase(pg_dsn), clock=waiter_clock, sweep_interval=0)
    sweeping = InterruptService(db=PostgresDatabase(pg_dsn), clock=sweeper_clock, sweep_interval=0)
    try:
        async with waiting, sweeping:
            created = [await waiting.create_clarification("r", "u", f"s{n}", "ok?") for n in range(3)]
            waiters = [asyncio.create_task(waiting.wait_for_response(c.id, timeout=30)) for c in created]
            await asyncio.sleep(0.2)
            heard.clear()
            sweeper_clock.advance(days=30)
            assert await sweeping.expire_pending() == 3
            finished = await asyncio.wait_for(asyncio.gather(*waiters), timeout=10)
            assert {f.status for f in finished} == {InterruptStatus.EXPIRED}
            await asyncio.sleep(0.1)
            assert heard == ["*"]
    finally:
        await listener.close()
