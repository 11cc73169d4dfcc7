"""Requests in the log: every refused one (4xx) at info with its problem code, every one with
the access log on; never a query string (the event stream's may carry a token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from jeeves_control_tower.api import Settings
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.api_server import running_api
from tests.support.serve_process import JEEVES, jeeves_serve
from tests.support.stores import Recorder, RecordingLogger


def requests_logged(recorder: Recorder) -> list[dict[str, Any]]:
    return [fields for level, event, fields in recorder.logs if event == "http_request" and level == "info"]


async def test_refused_requests_are_logged_with_their_code_and_nothing_else_by_default(tmp_path: Path) -> None:
    recorder = Recorder()
    async with running_api(SQLiteDatabase(tmp_path / "a.db")) as api:
        api.service.logger = RecordingLogger(recorder)
        admin = api.client("admin")
        assert (await admin.get("/v1/me")).status_code == 200
        assert (await admin.get("/v1/interrupts/nope")).status_code == 404
        assert (await api.client().get("/v1/me")).status_code == 401
        assert (await admin.post("/v1/interrupts", json={"kind": "bogus"})).status_code == 422
    logged = requests_logged(recorder)
    assert [(r["method"], r["path"], r["status"], r["code"]) for r in logged] == [
        ("GET", "/v1/interrupts/nope", 404, "not_found"),
        ("GET", "/v1/me", 401, "unauthorized"),
        ("POST", "/v1/interrupts", 422, "invalid_input"),
    ]
    assert all(r["duration_ms"] >= 0 for r in logged)


async def test_the_access_log_has_every_request_and_no_query_string(tmp_path: Path) -> None:
    recorder = Recorder()
    settings = Settings(manage_service=False, access_log=True)
    async with running_api(SQLiteDatabase(tmp_path / "a.db"), settings=settings) as api:
        api.service.logger = RecordingLogger(recorder)
        secret = api.secrets["admin"]
        assert (await api.client("admin").get("/v1/me")).status_code == 200
        assert (await api.client().get(f"/v1/interrupts?access_token={secret}&limit=1")).status_code == 401
        assert (await api.client().get("/healthz")).status_code == 200
    logged = requests_logged(recorder)
    assert [(r["path"], r["status"], r["code"]) for r in logged] == [
        ("/v1/me", 200, None), ("/v1/interrupts", 401, "unauthorized"), ("/healthz", 200, None)]
    assert secret not in repr(recorder.logs)


def test_serve_takes_a_log_level_and_an_access_log(tmp_path: Path) -> None:
    command = [str(JEEVES), "serve", "--port", "0", "--database-url", str(tmp_path / "s.db"),
               "--log-level", "warning", "--access-log"]
    with jeeves_serve(command) as served:
        headers = {"Authorization": f"Bearer {served.admin_token}"}
        with httpx.Client(base_url=served.url, headers=headers) as http:
            created = http.post("/v1/interrupts", json={
                "kind": "clarification", "request_id": "r", "user_id": "u", "session_id": "s", "question": "q?"})
            assert created.status_code == 201
        served.process.terminate()
        assert served.process.stdout is not None
        rest = served.process.stdout.read()
    lines = "".join(served.output) + rest
    # --log-level warning: the transition's info line is not written, nor the request's (info).
    assert "interrupt_created" not in lines and "http_request" not in lines

    command = [*command[:-3], "--access-log"]  # back to info
    with jeeves_serve(command) as served:
        with httpx.Client(base_url=served.url) as http:
            assert http.get("/v1/me").status_code == 401
        served.process.terminate()
        assert served.process.stdout is not None
        rest = served.process.stdout.read()
    lines = "".join(served.output) + rest
    assert '"event":"http_request"' in lines and '"code":"unauthorized"' in lines
