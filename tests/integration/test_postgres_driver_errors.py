"""Driver failures are translated once: every PostgreSQL entry point raises StoreError (with the
driver's exception as its cause), and the API answers it 503 problem + Retry-After; an exception
outside the tree is a 500 problem, logged once. Fast companions of test_postgres_outage.py, on a
port where nothing listens and on the shared server (for server errors and timeouts)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from jeeves_control_tower.api import Settings, create_app
from jeeves_control_tower.backend import open_backend
from jeeves_control_tower.observability.outages import OutageLog
from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store._driver_errors import DRIVER_ERRORS
from jeeves_control_tower.store.connector import ProtocolConnector
from jeeves_control_tower.store.postgres import PostgresDatabase, PostgresStore
from jeeves_control_tower.tokens import SQLTokens
from jeeves_control_tower.webhooks.service import WebhookService
from jeeves_protocols import FlowInterrupt, InterruptKind, StoreError

PROBLEM = "application/problem+json"


def dead_dsn() -> str:
    """A loopback port nothing listens on: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/none"


class ListLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def debug(self, event: str, **kwargs: Any) -> None:
        self.lines.append(("debug", event, kwargs))

    def info(self, event: str, **kwargs: Any) -> None:
        self.lines.append(("info", event, kwargs))

    def warning(self, event: str, **kwargs: Any) -> None:
        self.lines.append(("warning", event, kwargs))

    def error(self, event: str, **kwargs: Any) -> None:
        self.lines.append(("error", event, kwargs))


async def assert_store_error(call: Callable[[], Awaitable[Any]]) -> StoreError:
    with pytest.raises(StoreError) as raised:
        await call()
    assert isinstance(raised.value.__cause__, DRIVER_ERRORS), repr(raised.value.__cause__)
    assert raised.value.message.startswith("PostgreSQL unavailable: ")
    return raised.value


def an_interrupt() -> FlowInterrupt:
    return FlowInterrupt(id="i-1", kind=InterruptKind.CLARIFICATION, request_id="r", user_id="u",
                         session_id="s", question="q?", created_at=datetime.now(UTC))


async def test_every_postgres_entry_point_turns_a_refused_connection_into_store_error() -> None:
    db = PostgresDatabase(dead_dsn(), connect_timeout=2)
    store = PostgresStore(db)
    backend = open_backend(db)
    webhooks, tokens = backend.webhooks, backend.tokens
    assert isinstance(tokens, SQLTokens)
    now = datetime.now(UTC)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: db.pool(),
        lambda: db.fetch_all("SELECT 1"),
        lambda: db.fetch_one("SELECT 1"),
        lambda: db.insert("t", {"id": "x"}),
        lambda: db.update("t", {"a": 1}, {"id": "x"}),
        lambda: store.migrate(),
        lambda: db.listen("channel", lambda _payload: None),
        lambda: db.group_commit.run(store_create_op(), {"id": "x"}),
        lambda: store.get("i-1"),
        lambda: store.create(an_interrupt(), "interrupt.clarification_needed"),
        lambda: webhooks.list_subscriptions(),
        lambda: webhooks.fan_out(now, 10),
        lambda: webhooks.claim(now, now, 10),
        lambda: tokens.authenticate("jct_anything"),
        lambda: tokens.list(),
        lambda: tokens.create("alice", "responder"),
    ]
    for call in calls:
        error = await assert_store_error(call)
        assert isinstance(error.__cause__, OSError)  # refused: the cause is kept
    await db.close()


def store_create_op() -> Any:
    from jeeves_control_tower.store.postgres import _CREATE

    return _CREATE


async def test_server_errors_timeouts_and_a_full_pool_are_store_errors(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn, max_size=1, command_timeout=0.2, acquire_timeout=0.2)
    try:
        refused = await assert_store_error(lambda: db.fetch_all("SELECT 1/0"))
        assert isinstance(refused.__cause__, asyncpg.DivisionByZeroError)
        slow = await assert_store_error(lambda: db.fetch_all("SELECT pg_sleep(2)"))
        assert isinstance(slow.__cause__, TimeoutError)
        async with db.connection():  # the pool's only connection, held
            busy = await assert_store_error(lambda: db.fetch_all("SELECT 1"))
            assert isinstance(busy.__cause__, TimeoutError)
        assert await db.fetch_all("SELECT 1 AS one") == [{"one": 1}]  # and then it serves again
    finally:
        await db.close()


async def test_an_unreachable_database_is_a_503_problem_with_retry_after_everywhere() -> None:
    db = PostgresDatabase(dead_dsn(), connect_timeout=2)
    service = InterruptService(db)
    app = create_app(service, Settings(manage_service=False), webhooks=WebhookService(db))
    headers = {"Authorization": "Bearer jct_whatever"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for method, path in [("GET", "/readyz"), ("GET", "/v1/me"), ("GET", "/v1/interrupts"),
                             ("POST", "/v1/interrupts"), ("GET", "/v1/webhooks")]:
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            assert int(response.headers["retry-after"]) >= 1
            code = response.json()["code"]
            assert code == ("not_ready" if path == "/readyz" else "store_error"), (path, code)
    await db.close()


async def test_an_unexpected_exception_is_a_500_problem_logged_once_with_its_traceback() -> None:
    logger = ListLogger()
    service = InterruptService(logger=logger)
    app = create_app(service, Settings(manage_service=False))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == "internal_error" and "a bug" not in response.text
    logged = [line for line in logger.lines if line[1] == "unhandled_error"]
    assert len(logged) == 1
    level, _, fields = logged[0]
    assert level == "error" and fields["path"] == "/boom" and "RuntimeError: a bug" in fields["traceback"]


def test_a_background_loop_logs_one_line_when_the_store_goes_and_one_when_it_is_back() -> None:
    logger = ListLogger()
    outage = OutageLog(logger, "expiry_sweeper")
    outage.succeeded()
    for _ in range(5):
        outage.failed(StoreError("PostgreSQL unavailable: refused"))
    outage.succeeded()
    outage.succeeded()
    outage.failed(StoreError("again"))
    events = [(event, fields["component"]) for _, event, fields in logger.lines]
    assert events == [("store_unavailable", "expiry_sweeper"), ("store_recovered", "expiry_sweeper"),
                      ("store_unavailable", "expiry_sweeper")]
    assert logger.lines[1][2]["failed_attempts"] == 5


def test_the_token_store_translates_through_either_dialect_of_database_object() -> None:
    # Anything a foreign DatabaseProtocol object raises is a StoreError too (not only asyncpg's).
    class Broken:
        async def fetch_all(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
            raise ValueError("the driver of someone else")

    import asyncio

    tokens = SQLTokens(ProtocolConnector(Broken()))
    with pytest.raises(StoreError) as raised:
        asyncio.run(tokens.list())
    assert isinstance(raised.value.__cause__, ValueError)
