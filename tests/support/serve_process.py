"""A `jeeves serve` child process on a free loopback port (it prints its URL once it listens)."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JEEVES = REPO / ".venv" / "bin" / "jeeves"
_SERVING = re.compile(r"jeeves serving on (http://\S+?)/? ")


@dataclass
class Served:
    url: str
    admin_token: str | None
    output: list[str]
    process: subprocess.Popen[str]


@contextmanager
def jeeves_serve(
    command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Iterator[Served]:
    """Start `command` (ending in `jeeves serve ...` arguments) and read its output up to the
    "serving on" line: by then the socket listens, so no polling is needed."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    output: list[str] = []
    url = None
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        match = _SERVING.search(line)
        if match:
            url = match.group(1)
            break
    if url is None:
        process.wait(timeout=10)
        process.stdout.close()
        raise AssertionError("jeeves serve exited before serving:\n" + "".join(output))
    token = next((line.strip() for line in output if line.strip().startswith("jct_")), None)
    try:
        yield Served(url, token, output, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def keep_reading(served: Served) -> threading.Thread:
    """Read the rest of the child's output into `served.output` in a thread: a server that logs
    every request would otherwise stop, mid-test, on a full pipe nobody reads."""
    stream = served.process.stdout
    assert stream is not None

    def read() -> None:
        try:
            for line in stream:
                served.output.append(line)
        except ValueError:  # jeeves_serve closed the pipe on its way out
            pass

    reader = threading.Thread(target=read, name="serve-output", daemon=True)
    reader.start()
    return reader
