"""`jeeves serve` on a SQLite file it cannot use: one line naming the file and the cause, exit
code 6 (database unreachable), no traceback. Then, on the same file once the fault clears, it
serves. The faults are real (tmpfs, chattr, a second process); see tests/support/sqlite_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.support.serve_process import JEEVES, jeeves_serve
from tests.support.sqlite_faults import hold_write_lock, immutable, tmpfs


def _serve_command(path: Path) -> list[str]:
    return [str(JEEVES), "serve", "--port", "0", "--sweep-interval", "0", "--database-url", f"sqlite:///{path}"]


def _refused(path: Path) -> str:
    """Run `jeeves serve` on `path`, which must refuse to start; its one line of output."""
    done = subprocess.run(_serve_command(path), capture_output=True, text=True, timeout=60, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 6, (done.returncode, lines)
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: SQLite database {str(path)!r} "), lines[0]
    return lines[0]


def _opens_again(path: Path) -> bool:
    """Once the fault clears, the file opens and takes the schema (what serve does first)."""
    _migrated(path)
    return path.exists()


def _serves(path: Path) -> None:
    with jeeves_serve(_serve_command(path)) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get("/readyz").json() == {"status": "ready"}


def _migrated(path: Path) -> None:
    """A database as a first run leaves it (in-process: a `jeeves migrate` child costs a second)."""

    async def migrate() -> None:
        async with InterruptService(SQLiteDatabase(path), sweep_interval=0):
            pass

    asyncio.run(migrate())


#: A fault: a context manager yielding the database path and a callable that clears the fault.
Fault = Callable[[Path], contextlib.AbstractContextManager[tuple[Path, Callable[[], None]]]]
Made = Iterator[tuple[Path, Callable[[], None]]]


@contextlib.contextmanager
def _read_only_file(tmp: Path) -> Made:
    path = tmp / "j.db"
    _migrated(path)
    with immutable(path) as lift:
        yield path, lift


@contextlib.contextmanager
def _read_only_folder(tmp: Path) -> Made:
    with tmpfs(tmp / "mnt") as mount:
        _migrated(mount.path / "j.db")
        mount.read_only()
        yield mount.path / "j.db", lambda: mount.read_only(False)


@contextlib.contextmanager
def _missing_folder(tmp: Path) -> Made:
    yield tmp / "nowhere" / "j.db", (tmp / "nowhere").mkdir


@contextlib.contextmanager
def _full_disk(tmp: Path) -> Made:
    with tmpfs(tmp / "mnt", size="1m") as mount:
        mount.fill()
        yield mount.path / "j.db", mount.free


@contextlib.contextmanager
def _damaged(tmp: Path, damage: Callable[[Path, bytes], object]) -> Made:
    path = tmp / "j.db"
    _migrated(path)
    original = path.read_bytes()
    damage(path, original)

    def restore() -> None:  # from a backup
        path.write_bytes(original)

    yield path, restore


FAULTS: dict[str, tuple[Fault, str]] = {
    "read-only file": (_read_only_file, "cannot be written: the file is read-only"),
    "read-only folder": (_read_only_folder, "cannot be written: its folder"),
    "missing folder": (_missing_folder, "cannot be created: its folder"),
    "full disk": (_full_disk, "cannot grow: the disk is full"),
    "corrupt header": (
        lambda tmp: _damaged(tmp, lambda p, b: p.write_bytes(b"\xa5" * 100 + b[100:])),
        "is corrupt or truncated; restore it from a backup",
    ),
    "truncated": (
        lambda tmp: _damaged(tmp, lambda p, b: os.truncate(p, 1500)),
        "is corrupt or truncated; restore it from a backup",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_serve_refuses_a_database_it_cannot_use_in_one_line_and_serves_once_it_clears(
    tmp_path: Path, fault: str
) -> None:
    make, cause = FAULTS[fault]
    with make(tmp_path) as (path, clear):
        line = _refused(path)
        assert cause in line, line
        clear()
        if fault == "read-only file":  # the reported one; a server per fault would cost seconds each
            _serves(path)
        else:
            assert _opens_again(path)


@pytest.mark.slow
def test_serve_refuses_a_file_locked_past_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _migrated(path)
    with hold_write_lock(path):
        line = _refused(path)  # after the 5 s busy timeout
    assert "is locked by another process (still locked after the 5 s busy timeout)" in line, line
    assert _opens_again(path)


def test_a_running_server_answers_a_full_disk_with_a_503_problem_and_recovers_alone(tmp_path: Path) -> None:
    """At run time, over a real socket: the disk fills, a create is a 503 problem naming the file
    and the cause and stores nothing; space returns, and the same process takes the next create."""
    with tmpfs(tmp_path / "mnt", size="2m") as mount:
        path = mount.path / "j.db"
        with jeeves_serve(_serve_command(path)) as served, httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {served.admin_token}"}, timeout=30
        ) as client:
            body = {"kind": "clarification", "user_id": "admin", "session_id": "s", "question": "q?",
                    "data": {"blob": "x" * 100_000}}
            mount.fill()
            refused = client.post("/v1/interrupts", json={**body, "request_id": "during"})
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            detail = refused.json()["detail"]
            assert str(path) in detail and "the disk is full" in detail, detail
            mount.free()
            accepted = client.post("/v1/interrupts", json={**body, "request_id": "after"})
            assert accepted.status_code == 201, accepted.text
            listed = client.get("/v1/interrupts", params={"session_id": "s"}).json()["items"]
            assert [item["request_id"] for item in listed] == ["after"]
