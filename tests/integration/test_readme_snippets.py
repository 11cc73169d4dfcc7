"""Every Python snippet in the README runs as pasted: extracted from README.md and executed, each
in a fresh namespace and an empty folder, against what it needs (a live server, a signed webhook).
A snippet the README gains must be given its check here, or this fails."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from jeeves_control_tower import InterruptKind, InterruptService
from jeeves_control_tower.webhooks import ssrf
from tests.support.serve_process import JEEVES, REPO, jeeves_serve

SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text("utf-8"), re.S)


def run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(snippet, "<a README snippet>", "exec"), namespace)
    return namespace


def first_example(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(snippet)
    assert capsys.readouterr().out.splitlines()[-1] == "resolved auth"
    assert (tmp_path / "jeeves.db").is_file()  # the SQLite file it names, where it ran


def configs(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = run(snippet)["service"]
    assert service.configs[InterruptKind.CLARIFICATION].default_ttl == timedelta(hours=48)


def webhook_subscription(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(snippet)
    assert capsys.readouterr().out.strip().startswith("whsec_")


def webhook_receiver(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    os.environ["JEEVES_WEBHOOK_SECRET"] = secret
    try:
        app = run(snippet)["app"]
    finally:
        del os.environ["JEEVES_WEBHOOK_SECRET"]
    # The payload's shape, as the dispatcher sends it (webhooks/policy.py).
    body = json.dumps({"type": "interrupt.resolved", "id": "evt_1", "timestamp": "2026-12-05T10:00:00+00:00",
                       "data": {"id": "i1", "status": "resolved"}, "request_id": "r1", "sequence": 2})
    now = datetime.fromtimestamp(int(time.time()), UTC)
    timestamp, signature = str(int(now.timestamp())), Webhook(secret).sign("msg_1", now, body)
    sent = {"webhook-id": "msg_1", "webhook-timestamp": timestamp, "webhook-signature": signature,
            "content-type": "application/json"}
    async def deliver() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            forged = {**sent, "webhook-signature": "v1,AAAA"}
            return [(await client.post("/hooks", content=body, headers=headers)).status_code
                    for headers in (sent, sent, forged)]  # the second: a redelivery

    assert asyncio.run(deliver()) == [200, 200, 400]
    assert capsys.readouterr().out.splitlines() == ["interrupt.resolved i1 resolved"]  # once


def observability(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(run(snippet)["service"], InterruptService)


def remote_client(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = [str(JEEVES), "serve", "--port", "0", "--database-url", str(tmp_path / "served.db")]
    with jeeves_serve(command) as served:
        assert served.admin_token is not None
        headers = {"Authorization": f"Bearer {served.admin_token}"}

        def approve_when_asked() -> None:  # the human, in the inbox's place
            with httpx.Client(base_url=served.url, headers=headers) as http:
                for _ in range(600):
                    pending = http.get("/v1/interrupts", params={"session_id": "sess-3"}).json()["items"]
                    if pending:
                        http.post(f"/v1/interrupts/{pending[0]['id']}/respond", json={"approved": True})
                        return
                    time.sleep(0.05)

        human = threading.Thread(target=approve_when_asked)
        human.start()
        os.environ["JEEVES_URL"], os.environ["JEEVES_TOKEN"] = served.url, served.admin_token
        try:
            run(snippet)
        finally:
            del os.environ["JEEVES_URL"], os.environ["JEEVES_TOKEN"]
            human.join(timeout=30)
    assert capsys.readouterr().out.splitlines()[-1] == "resolved True"


def expiry_outcome(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(snippet)
    assert capsys.readouterr().out.splitlines()[-1] == "resolved auto_rejected False"


def edit_and_approve(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(snippet)
    assert capsys.readouterr().out.splitlines()[-1] == "refund 400"


def history(snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(snippet)
    assert capsys.readouterr().out.splitlines() == [
        "interrupt.clarification_needed -",
        "interrupt.resolved alice",
        "0",
    ]


#: How each snippet is checked, told apart by a line only it has.
CHECKS: dict[str, Callable[[str, Path, pytest.CaptureFixture[str]], None]] = {
    'service.respond(ask.id, InterruptResponse(text="auth")': first_example,
    "InterruptConfig(default_ttl=timedelta(hours=48))": configs,
    "webhooks.create_subscription(": webhook_subscription,
    "verifier.verify(body": webhook_receiver,
    "otel_adapter=OTelAdapter()": observability,
    "RemoteInterruptService(url, token)": remote_client,
    'on_expire="reject")': expiry_outcome,
    "response_schema=SCHEMA)": edit_and_approve,
    'get_history(request_id="run-7")': history,
}


def check_for(snippet: str) -> Callable[[str, Path, pytest.CaptureFixture[str]], None]:
    found = [check for marker, check in CHECKS.items() if marker in snippet]
    assert len(found) == 1, f"give this README snippet a check in {__name__}:\n{snippet}"
    return found[0]


def test_every_snippet_has_a_check() -> None:
    assert len(SNIPPETS) == len(CHECKS) == len({check_for(snippet) for snippet in SNIPPETS})


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[check_for(s).__name__ for s in SNIPPETS])
def test_the_readme_snippet_runs_as_pasted(
    snippet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a snippet's "jeeves.db" lands here
    # No DNS here: example.com (the webhook snippet's endpoint) resolves to its public address.
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [ipaddress.ip_address("93.184.216.34")])
    assert "await " not in re.sub(r"async def .*?(?=\n\S|\Z)", "", snippet, flags=re.S), (
        "a top-level await outside asyncio.run")
    check_for(snippet)(snippet, tmp_path, capsys)
