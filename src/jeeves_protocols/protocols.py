"""The pluggable parts of the service, as structural Protocols: any object with these methods fits."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol, runtime_checkable

__all__ = ["DatabaseProtocol", "LoggerProtocol", "WebhookServiceProtocol", "OTelAdapterProtocol"]


@runtime_checkable
class DatabaseProtocol(Protocol):
    async def insert(self, table: str, data: Dict[str, Any]) -> str: ...
    async def update(self, table: str, data: Dict[str, Any], where: Dict[str, Any]) -> int: ...
    async def fetch_one(self, query: str, params: tuple = ()) -> Optional[Dict[str, Any]]: ...  # type: ignore[type-arg]
    async def fetch_all(self, query: str, params: tuple = ()) -> List[Dict[str, Any]]: ...  # type: ignore[type-arg]


@runtime_checkable
class LoggerProtocol(Protocol):
    """A structured logger: an event name plus key/value context (structlog's shape)."""

    def debug(self, event: str, **kwargs: Any) -> Any: ...
    def info(self, event: str, **kwargs: Any) -> Any: ...
    def warning(self, event: str, **kwargs: Any) -> Any: ...
    def error(self, event: str, **kwargs: Any) -> Any: ...


@runtime_checkable
class WebhookServiceProtocol(Protocol):
    async def emit_event(
        self, event_type: str, data: Dict[str, Any], request_id: Optional[str] = None
    ) -> int: ...


@runtime_checkable
class OTelAdapterProtocol(Protocol):
    def record_event(
        self, name: str, request_id: str, attributes: Optional[Dict[str, Any]] = None
    ) -> None: ...
    def get_trace_context(self, request_id: str) -> Optional[Any]: ...
