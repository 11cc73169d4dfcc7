"""The HTTP API: `create_app(service, settings)`, bearer-token auth and problem+json errors."""

from ..tokens import Role, TokenRecord, TokenRegistry
from .app import Settings, create_app

__all__ = [
    "create_app",
    "Role",
    "Settings",
    "TokenRecord",
    "TokenRegistry",
]
