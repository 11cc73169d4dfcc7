"""The README's first command (`./scripts/serve`) starts a working server with the inbox page."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import httpx

from tests.support.serve_process import REPO, jeeves_serve


def test_scripts_serve_starts_a_working_server(tmp_path: Path) -> None:
    database = tmp_path / "jeeves.db"
    command = [str(REPO / "scripts" / "serve"), "--port", "0", "--database-url", str(database)]
    with jeeves_serve(command) as served:
        assert served.admin_token is not None, "a first run must print an admin token"
        with httpx.Client(base_url=served.url, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/readyz").json() == {"status": "ready"}
            page = client.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {served.admin_token}"})
            assert me.json() == {"user_id": "admin", "role": "admin"}
    assert database.exists()
    # A second start on the same database finds the token and does not print another.
    with jeeves_serve(command) as again:
        assert again.admin_token is None


def test_serve_stops_on_sigterm_even_with_an_open_event_stream(tmp_path: Path) -> None:
    command = [
        str(REPO / ".venv" / "bin" / "jeeves"),
        "serve",
        "--port",
        "0",
        "--database-url",
        str(tmp_path / "s.db"),
    ]
    with jeeves_serve(command) as served:
        headers = {"Authorization": f"Bearer {served.admin_token}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=30) as client:
            with client.stream("GET", "/v1/events") as stream:
                lines = stream.iter_lines()
                assert next(lines) == ": connected"
                served.process.terminate()
                # The server drops the stream after its short grace period (EventSource then
                # reconnects, to another instance or this one once restarted).
                with contextlib.suppress(httpx.RemoteProtocolError):
                    for _ in lines:
                        pass
            # uvicorn re-raises SIGTERM once it has shut down, so "killed by SIGTERM" is a clean exit.
            assert served.process.wait(timeout=20) in (0, -signal.SIGTERM)
