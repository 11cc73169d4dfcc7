"""The default structured logger: JSON lines in production, readable key=value lines in a terminal."""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

import structlog

__all__ = ["StructuredLogger"]

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


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
            structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
        )
        self._logger = structlog.wrap_logger(
            structlog.PrintLogger(self.stream),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
            context_class=dict,
            logger_name=name,
        )

    def bind(self, **context: Any) -> StructuredLogger:
        bound = object.__new__(StructuredLogger)
        bound.stream = self.stream
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
