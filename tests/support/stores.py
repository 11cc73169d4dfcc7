"""Service factories for the four stores the behavioural suite runs against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional

import asyncpg

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase

STORE_KINDS = ["memory", "sqlite", "postgres", "dbprotocol"]


class FakeClock:
    """An injectable clock that only moves when a test says so."""

    def __init__(self, start: Optional[datetime] = None) -> None:
        self.now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class UserDatabase:
    """A user's own DatabaseProtocol object: only insert/update/fetch_one/fetch_all over asyncpg.

    It is what a team with an existing PostgreSQL helper would pass as `db=`; the service must
    stay atomic through nothing more than these four methods.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: Optional[asyncpg.Pool] = None

    async def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=8)
        return self.pool

    async def insert(self, table: str, data: Dict[str, Any]) -> str:
        columns = ", ".join(data)
        values = ", ".join(f"${i}" for i in range(1, len(data) + 1))
        await (await self._pool()).execute(
            f"INSERT INTO {table} ({columns}) VALUES ({values})", *data.values()
        )
        return str(data.get("id", ""))

    async def update(self, table: str, data: Dict[str, Any], where: Dict[str, Any]) -> int:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(data, 1))
        conditions = " AND ".join(f"{name} = ${i}" for i, name in enumerate(where, len(data) + 1))
        status = await (await self._pool()).execute(
            f"UPDATE {table} SET {sets} WHERE {conditions}", *data.values(), *where.values()
        )
        return int(status.split()[-1])

    async def fetch_one(self, query: str, params: tuple = ()) -> Optional[Dict[str, Any]]:  # type: ignore[type-arg]
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def fetch_all(self, query: str, params: tuple = ()) -> List[Dict[str, Any]]:  # type: ignore[type-arg]
        return [dict(row) for row in await (await self._pool()).fetch(query, *params)]

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None  # reopened on next use, like the shipped databases
            await pool.close()


def make_db(kind: str, tmp_path: Path, pg_dsn: Optional[str]) -> Any:
    if kind == "memory":
        return None
    if kind == "sqlite":
        return SQLiteDatabase(tmp_path / "jeeves.db")
    assert pg_dsn is not None
    if kind == "postgres":
        from jeeves_control_tower.store.postgres import PostgresDatabase

        return PostgresDatabase(pg_dsn, max_size=8)
    if kind == "dbprotocol":
        return UserDatabase(pg_dsn)
    raise ValueError(kind)


@dataclass
class Recorder:
    """Records what the service announces through the seed's pluggable parts."""

    webhooks: list[tuple[str, dict[str, Any], Optional[str]]] = field(default_factory=list)
    otel_events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    logs: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def webhook_types(self) -> list[str]:
        return [event for event, _, _ in self.webhooks]


class RecordingWebhooks:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def emit_event(
        self, event_type: str, data: Dict[str, Any], request_id: Optional[str] = None
    ) -> int:
        self.recorder.webhooks.append((event_type, data, request_id))
        return 1


class RecordingOTel:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def record_event(
        self, name: str, request_id: str, attributes: Optional[Dict[str, Any]] = None
    ) -> None:
        self.recorder.otel_events.append((name, request_id, dict(attributes or {})))

    def get_trace_context(self, request_id: str) -> Optional[Any]:
        return {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}


class RecordingLogger:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def _log(self, level: str, event: str, **kwargs: Any) -> None:
        self.recorder.logs.append((level, event, kwargs))

    def debug(self, event: str, **kwargs: Any) -> None:
        self._log("debug", event, **kwargs)

    def info(self, event: str, **kwargs: Any) -> None:
        self._log("info", event, **kwargs)

    def warning(self, event: str, **kwargs: Any) -> None:
        self._log("warning", event, **kwargs)

    def error(self, event: str, **kwargs: Any) -> None:
        self._log("error", event, **kwargs)


ServiceFactory = Callable[..., Any]


@asynccontextmanager
async def open_service(db: Any, recorder: Recorder, clock: FakeClock, **kwargs: Any) -> AsyncIterator[InterruptService]:
    service = InterruptService(
        db=db,
        logger=RecordingLogger(recorder),
        webhook_service=RecordingWebhooks(recorder),
        otel_adapter=RecordingOTel(recorder),
        clock=clock,
        **kwargs,
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
