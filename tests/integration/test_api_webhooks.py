"""/v1/webhooks over the real WebhookService on SQLite: subscriptions, deliveries, dead letters,
redelivery, and admin-only access. The receiving endpoint is an httpx transport standing in for
a third-party server (it is not ours); our database and service are real."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_control_tower.webhooks import RetryPolicy, WebhookService
from tests.support.api_server import Api, running_api


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.received: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.status, stream=httpx.ByteStream(b"ok"))


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def api(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Api]:
    db = SQLiteDatabase(tmp_path / "wh.db")
    webhooks = WebhookService(
        db,
        allow_networks=["127.0.0.0/8"],
        retry=RetryPolicy(schedule=()),
        transport=httpx.MockTransport(receiver),
    )
    async with running_api(db, webhooks=webhooks) as running:
        yield running


async def test_subscription_crud_and_secret_shown_once(api: Api) -> None:
    admin = api.client("admin")
    created = await admin.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["interrupt.*"]}
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["secret"].startswith("whsec_")
    listed = (await admin.get("/v1/webhooks")).json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    assert "secret" not in (await admin.get(f"/v1/webhooks/{sub['id']}")).json()
    updated = await admin.patch(f"/v1/webhooks/{sub['id']}", json={"enabled": False, "session_id": "s1"})
    assert updated.json()["enabled"] is False and updated.json()["session_id"] == "s1"
    rotated = (
        await admin.post(f"/v1/webhooks/{sub['id']}/rotate-secret", json={"overlap_seconds": 60})
    ).json()
    assert rotated["secret"] != sub["secret"]
    assert (await admin.delete(f"/v1/webhooks/{sub['id']}")).status_code == 204
    missing = await admin.get(f"/v1/webhooks/{sub['id']}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad = await admin.post("/v1/webhooks", json={"url": "http://169.254.169.254/latest"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert (await admin.get("/v1/webhooks")).json()["items"] == []


async def test_deliveries_dead_letters_and_redelivery(api: Api, receiver: Receiver) -> None:
    admin = api.client("admin")
    await admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    receiver.status = 500
    await api.service.create_clarification("r1", "alice", "s1", question="q")
    await api.app.state.webhooks.run_until_idle()
    dead = (await admin.get("/v1/webhooks/dead-letters")).json()["items"]
    assert len(dead) == 1 and dead[0]["event_type"] == "interrupt.clarification_needed"
    assert (await admin.get("/v1/webhooks/deliveries?status=dead")).json()["items"] == dead
    receiver.status = 200
    again = await admin.post(f"/v1/webhooks/deliveries/{dead[0]['id']}/redeliver")
    assert again.status_code == 200 and again.json()["status"] == "pending"
    await api.app.state.webhooks.run_until_idle()
    delivered = (await admin.get("/v1/webhooks/deliveries?status=delivered")).json()["items"]
    assert [d["id"] for d in delivered] == [dead[0]["id"]]
    assert len(receiver.received) == 2
    assert (await admin.post("/v1/webhooks/deliveries/nope/redeliver")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks/deliveries"),
        ("GET", "/v1/webhooks/dead-letters"),
        ("DELETE", "/v1/webhooks/x"),
        ("PATCH", "/v1/webhooks/x"),
        ("POST", "/v1/webhooks/x/rotate-secret"),
        ("POST", "/v1/webhooks/deliveries/x/redeliver"),
    ],
)
async def test_webhooks_are_admin_only(api: Api, method: str, path: str) -> None:
    body = (
        {"url": "http://127.0.0.1:9/hook"} if method in {"POST", "PATCH"} and path.count("/") == 2 else None
    )
    assert (await api.client().request(method, path, json=body)).status_code == 401
    for who in ("agent", "alice"):
        response = await api.client(who).request(method, path, json=body)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
