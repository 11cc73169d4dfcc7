"""The default structured logger: JSON lines in production, readable key=value lines in a terminal.

Every transition is logged at info, so the logger sits on every agent's hot path. It is set up
for that (measured per event in bench/, beside a quiet logger):
- JSON is rendered by orjson, about 10x faster than the stdlib's encoder;
- the timestamp reuses the formatted second and only adds the microseconds;
- on a file or a pipe, inside an event loop, lines are written together at most FLUSH_AFTER
  (50 ms) after the first of them, or once 256 wait: one write and flush instead of one per line
  (a system call per line was a third of an event's cost). A kill -9 can lose the last 50 ms of
  lines; a normal exit writes them. Outside a running loop, and on in-memory streams, each line
  is written at once.
"""

from __future__ import annotations

import asyncio
import atexit
import json as stdlib_json
import sys
import threading
import time
import weakref
from collections.abc import MutableMapping
from typing import Any, ClassVar, Optional, TextIO

import orjson
import structlog

__all__ = ["StructuredLogger"]

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
#: Seconds a line may wait to be written together with the lines logged after it.
FLUSH_AFTER = 0.05
#: This many waiting lines are written at once.
_MAX_PENDING_LINES = 256


class StructuredLogger:
    """A structlog logger that satisfies `LoggerProtocol` (event name plus key/value context).

    `json=None` picks JSON when the stream is not a terminal, so a service under a supervisor
    logs machine-readable lines and a developer's terminal shows readable ones.
    """

    def __init__(
        self,
        name: str = "jeeves",
        *,
        json: Optional[bool] = None,
        stream: Optional[TextIO] = None,
        level: str = "info",
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        use_json = json if json is not None else not self.stream.isatty()
        renderer: Any = (
            structlog.processors.JSONRenderer(serializer=_dumps)
            if use_json
            else structlog.dev.ConsoleRenderer(colors=False)
        )
        self._writer = _LineWriter.for_stream(self.stream)
        self._logger = structlog.wrap_logger(
            self._writer,
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                _UTCTimestamp(),
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
            context_class=dict,
            logger_name=name,
        ).bind()  # the bound logger itself, not a proxy that looks it up on every call

    def bind(self, **context: Any) -> StructuredLogger:
        bound = object.__new__(StructuredLogger)
        bound.stream = self.stream
        bound._writer = self._writer
        bound._logger = self._logger.bind(**context)
        return bound

    def debug(self, event: str, **kwargs: Any) -> None:
        self._logger.debug(event, **kwargs)

    def info(self, event: str, **kwargs: Any) -> None:
        self._logger.info(event, **kwargs)

    def warning(self, event: str, **kwargs: Any) -> None:
        self._logger.warning(event, **kwargs)

    def error(self, event: str, **kwargs: Any) -> None:
        self._logger.error(event, **kwargs)

    def flush(self) -> None:
        """Write out the lines still waiting to be written together (at most FLUSH_AFTER)."""
        self._writer.flush()


def _dumps(event: dict[str, Any], **kwargs: Any) -> str:
    try:
        return orjson.dumps(event, default=kwargs.get("default")).decode()
    except TypeError:  # what orjson refuses (a lone surrogate, an int past 64 bits) the stdlib writes
        return stdlib_json.dumps(event, default=repr)


class _UTCTimestamp:
    """`timestamp` as ISO 8601 UTC with microseconds (what structlog's TimeStamper(fmt="iso",
    utc=True) writes), formatting the date and time only once per second."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # one tuple: a thread never pairs two seconds' parts

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        cached, prefix = self._second
        if second != cached:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        event["timestamp"] = f"{prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event


class _LineWriter:
    """structlog's output for one stream, shared by every logger writing to it (so their lines
    keep their order)."""

    _by_stream: ClassVar[weakref.WeakKeyDictionary[Any, _LineWriter]] = weakref.WeakKeyDictionary()
    _by_stream_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_stream(cls, stream: TextIO) -> _LineWriter:
        with cls._by_stream_lock:
            writer = cls._by_stream.get(stream)
            if writer is None:
                writer = cls._by_stream[stream] = cls(stream)
            return writer

    @classmethod
    def flush_all(cls) -> None:
        with cls._by_stream_lock:
            writers = list(cls._by_stream.values())
        for writer in writers:
            writer.flush()

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # A stream with a file descriptor pays a system call per write: worth batching.
        try:
            stream.fileno()
            self._batched = True
        except (AttributeError, OSError, ValueError):
            self._batched = False
        self._pending: list[str] = []
        self._lock = threading.Lock()
        #: The loop whose next turn will write the pending lines (None: none is asked to).
        self._flush_loop: Optional[asyncio.AbstractEventLoop] = None

    def msg(self, line: str) -> None:
        if not self._batched:
            with self._lock:
                self._write(line + "\n")
            return
        try:
            loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: nothing would end the turn
            loop = None
        with self._lock:
            self._pending.append(line)
            now = loop is None or len(self._pending) >= _MAX_PENDING_LINES
            schedule = not now and self._flush_loop is not loop
            if schedule:
                self._flush_loop = loop
        if now:
            self.flush()
        elif schedule:
            assert loop is not None
            loop.call_later(FLUSH_AFTER, self.flush)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def flush(self) -> None:
        with self._lock:
            self._flush_loop = None
            if not self._pending:
                return
            lines, self._pending = self._pending, []
            self._write("\n".join(lines) + "\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not fail the service
            pass


atexit.register(_LineWriter.flush_all)
