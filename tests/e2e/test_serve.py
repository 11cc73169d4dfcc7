"""The README's first command (`./scripts/serve`) starts a working server with the inbox page."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_shutdown_ends_streams_and_long_polls_at_once_without_a_traceback(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """An open inbox tab (an event stream) or a waiting agent (a long poll) used to hold the
    shutdown for the whole grace period, then be cancelled with a CancelledError traceback each."""
    command = [str(REPO / ".venv" / "bin" / "jeeves"), "serve", "--port", "0", "--database-url",
               str(tmp_path / "s.db")]
    with jeeves_serve(command) as served:
        headers = {"Authorization": f"Bearer {served.admin_token}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=30) as client:
            created = client.post("/v1/interrupts", json={
                "kind": "clarification", "request_id": "r", "user_id": "admin", "session_id": "s",
                "question": "q?"}).json()
            waits: list[httpx.Response] = []
            waiting = threading.Thread(target=lambda: waits.append(
                client.get(f"/v1/interrupts/{created['id']}/wait", params={"timeout": 60})))
            with client.stream("GET", "/v1/events") as stream:
                lines = stream.iter_lines()
                assert next(lines) == ": connected"
                waiting.start()
                time.sleep(0.5)  # the long poll reaches its wait (nothing to observe it by)
                stopped_at = time.monotonic()
                served.process.send_signal(stop)
                rest = list(lines)
            waiting.join(timeout=10)
        code = served.process.wait(timeout=20)
        took = time.monotonic() - stopped_at
        assert served.process.stdout is not None
        output = "".join(served.output) + served.process.stdout.read()
    assert ": closed: the server is shutting down" in rest
    assert waits and waits[0].status_code == 503 and waits[0].json()["code"] == "shutting_down"
    assert waits[0].headers["Retry-After"]
    assert "Traceback" not in output and "CancelledError" not in output, output
    # Well inside the 3 s grace period that used to run out (the streams end as shutdown begins).
    assert took < 2.5, took
    # uvicorn re-raises the signal once it has shut down: being "killed" by SIGTERM is a clean
    # exit, and Ctrl-C ends with the shell's 130, without click's "Aborted!".
    assert code in ((0, -signal.SIGTERM) if stop is signal.SIGTERM else (130,)), code
    assert "Aborted" not in output


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


def test_a_port_in_use_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "jeeves"), "serve", "--port", str(port), "--database-url",
             str(tmp_path / "s.db")],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "Traceback" not in result.stdout + result.stderr
