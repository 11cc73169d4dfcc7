"""Faults a SQLite file can meet, made real in a way root obeys (tests run as root, and root
passes every permission bit): a small tmpfs mount remounted read-only or filled up, an immutable
file (`chattr +i`), another process holding the write lock, bytes overwritten or cut off.

Where the system does not allow a mount or chattr, a test skips with a loud reason, and fails
under CI=true, where they must run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = [
    "Tmpfs",
    "tmpfs",
    "immutable",
    "hold_write_lock",
    "checkpoint",
    "corrupt_pages",
    "journal_matches_interrupts",
    "request_ids",
]


def _unavailable(what: str, why: str) -> None:
    message = f"SQLite fault tests need {what}, which this system refuses ({why}); they did NOT run"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False)


class Tmpfs:
    """A tmpfs mounted at `path`: read-only or full on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / ".filler"

    def read_only(self, on: bool = True) -> None:
        result = _run("mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.path))
        assert result.returncode == 0, result.stderr

    def fill(self) -> None:
        """Take every free byte (the disk is full), until `free()`."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for chunk in (65536, 4096, 1):  # unbuffered: nothing is left to fail at close
                with contextlib.suppress(OSError):  # ENOSPC: full, at this granularity
                    while os.write(fd, b"\0" * chunk):
                        pass
        finally:
            os.close(fd)
        assert shutil.disk_usage(self.path).free == 0

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Tmpfs]:
    path.mkdir(parents=True, exist_ok=True)
    result = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if result.returncode != 0:
        _unavailable("a tmpfs mount", result.stderr.strip() or f"mount exited {result.returncode}")
    try:
        yield Tmpfs(path)
    finally:
        # Lazily, so a connection a failed test left open cannot keep the mount for good.
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Callable[[], None]]:
    """`path` cannot be opened for writing, even by root, until the block ends or the callable
    it yields is called (the fault clears)."""
    result = _run("chattr", "+i", str(path))
    if result.returncode != 0:
        _unavailable("chattr +i", result.stderr.strip() or f"chattr exited {result.returncode}")

    def lift() -> None:
        assert _run("chattr", "-i", str(path)).returncode == 0

    try:
        yield lift
    finally:
        _run("chattr", "-i", str(path))


_LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
connection.execute("ROLLBACK")
"""


@contextlib.contextmanager
def hold_write_lock(path: Path) -> Iterator[None]:
    """Another process holds `BEGIN EXCLUSIVE` on the file until the block ends."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        yield
    finally:
        assert locker.stdin is not None and locker.stdout is not None
        locker.stdin.close()
        locker.wait(timeout=10)
        locker.stdout.close()


def checkpoint(path: Path) -> None:
    """Move every committed page from the WAL into the file itself, so that bytes changed in
    the file are what the next read sees."""
    connection = sqlite3.connect(path)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        connection.close()


def corrupt_pages(path: Path, page_size: int = 1024) -> bytes:
    """Overwrite every page after the first (the header and the schema's root stay); returns
    the original bytes, to restore them."""
    original = path.read_bytes()
    with open(path, "r+b") as file:
        file.seek(page_size)
        file.write(b"\xa5" * (len(original) - page_size))
    return original


def journal_matches_interrupts(path: Path) -> None:
    """No interrupt without its creation event, nor an event without its interrupt."""
    connection = sqlite3.connect(path)
    try:
        interrupts = {i for (i,) in connection.execute("SELECT id FROM jeeves_interrupts")}
        journalled = {
            i for (i,) in connection.execute("SELECT interrupt_id FROM jeeves_interrupt_events WHERE sequence = 1")
        }
        assert journalled == interrupts
    finally:
        connection.close()


def request_ids(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {r for (r,) in connection.execute("SELECT request_id FROM jeeves_interrupts")}
    finally:
        connection.close()
