from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

from jeeves_control_tower.services import InterruptService
from tests.support.stores import STORE_KINDS, FakeClock, Recorder, make_db, open_service


@dataclass
class Harness:
    service: InterruptService
    recorder: Recorder
    clock: FakeClock
    db: Any

    async def journal(self) -> list[Any]:
        return await self.service.store.events_after(0, 100_000)


@pytest.fixture(
    params=[
        pytest.param(kind, marks=[pytest.mark.postgres] if kind in {"postgres", "dbprotocol"} else [])
        for kind in STORE_KINDS
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_factory(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    dsn: Optional[str] = None
    if store_kind in {"postgres", "dbprotocol"}:
        dsn = request.getfixturevalue("pg_dsn")
    return lambda: make_db(store_kind, tmp_path, dsn)


@pytest.fixture
async def harness(db_factory: Any) -> AsyncIterator[Harness]:
    recorder, clock = Recorder(), FakeClock()
    db = db_factory()
    async with open_service(db, recorder, clock, sweep_interval=0) as service:
        yield Harness(service, recorder, clock, db)
