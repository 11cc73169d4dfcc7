"""Bearer tokens: random secrets handed out once, stored only as their SHA-256.

SHA-256 (not a slow password hash) is enough: a token is 32 random bytes, so there is nothing
to guess from its hash. The registry logic lives once in `TokenRegistry`; backends only store
rows (`MemoryTokens` for an in-memory service, `SQLTokens` for SQLite and PostgreSQL: the same
named queries, `store/queries/common/tokens.sql`). The table comes from migration 0003, applied when the
interrupt store opens.

Every statement goes through a store connector, which turns any database failure into a
StoreError (the API's 503) on either dialect.

A token the store confirmed is trusted for CACHE_SECONDS without asking again (each request
would otherwise read it): a revocation through this registry counts at once, one made through
another instance or the CLI within that bound. The event stream re-checks with `fresh=True`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Optional

from jeeves_protocols import InvalidInterruptError
from jeeves_protocols.interrupts import format_time, utc_now

from .store.connector import Connector

__all__ = ["Role", "TokenRecord", "TokenRegistry", "MemoryTokens", "SQLTokens"]

TOKEN_PREFIX = "jct_"
#: Seconds a confirmed token is trusted before the store is asked again.
CACHE_SECONDS = 2.0
#: Confirmed tokens kept at most; past it the oldest goes.
CACHE_SIZE = 10_000


class Role(str, Enum):
    AGENT = "agent"
    RESPONDER = "responder"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What a token stands for; never the secret itself."""

    id: str
    user_id: str
    role: Role
    created_at: str
    revoked_at: Optional[str] = None
    #: The groups its user answers for (an interrupt's `responders={"groups": [...]}`).
    groups: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "role": self.role.value,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "groups": list(self.groups),
        }


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenRegistry(ABC):
    """Create, authenticate, list and revoke tokens. Subclasses only persist rows."""

    def __init__(
        self, *, cache_seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cache_seconds = cache_seconds
        self._clock = clock
        #: token hash -> (trusted until, the record the store gave)
        self._confirmed: dict[str, tuple[float, TokenRecord]] = {}

    async def create(
        self, user_id: str, role: Role | str, groups: Sequence[str] = ()
    ) -> tuple[str, TokenRecord]:
        """A new token for `user_id` with `role`, in `groups`: (the secret, shown once; its record)."""
        if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 255:
            raise InvalidInterruptError("user_id must be a non-empty string", field="user_id")
        if not _storable(user_id):
            raise InvalidInterruptError(
                "user_id holds a NUL or a lone surrogate, which no store can keep", field="user_id"
            )
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInterruptError(
                f"role must be one of {', '.join(r.value for r in Role)}", field="role"
            ) from None
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=secrets.token_hex(8), user_id=user_id, role=role, created_at=format_time(utc_now()),
            groups=_groups(groups),
        )
        await self._insert(record, hash_token(secret))
        return secret, record

    async def authenticate(self, secret: str, *, fresh: bool = False) -> Optional[TokenRecord]:
        """The live record behind `secret`, or None (unknown or revoked). `fresh`: ask the store
        even if it confirmed the token less than `cache_seconds` ago."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        token_hash = hash_token(secret)
        confirmed = None if fresh else self._confirmed.get(token_hash)
        if confirmed is not None and self._clock() < confirmed[0]:
            return confirmed[1]
        record = await self._by_hash(token_hash)
        if record is None or record.revoked_at is not None:
            self._confirmed.pop(token_hash, None)
            return None
        if token_hash not in self._confirmed and len(self._confirmed) >= CACHE_SIZE:
            del self._confirmed[next(iter(self._confirmed))]
        self._confirmed[token_hash] = (self._clock() + self.cache_seconds, record)
        return record

    async def revoke(self, token_id: str) -> Optional[TokenRecord]:
        """Revoke a live token by id: its record as revoked, or None if there is no such live token."""
        if not _storable(token_id):  # no store holds such an id (PostgreSQL would refuse to bind it)
            return None
        revoked = await self._revoke(token_id, format_time(utc_now()))
        # Whether or not it was live here: another instance may have revoked it already.
        for token_hash in [h for h, (_, record) in self._confirmed.items() if record.id == token_id]:
            del self._confirmed[token_hash]
        return revoked

    @abstractmethod
    async def list(self) -> list[TokenRecord]: ...

    @abstractmethod
    async def _insert(self, record: TokenRecord, token_hash: str) -> None: ...

    @abstractmethod
    async def _by_hash(self, token_hash: str) -> Optional[TokenRecord]: ...

    @abstractmethod
    async def _revoke(self, token_id: str, at: str) -> Optional[TokenRecord]: ...


class MemoryTokens(TokenRegistry):
    def __init__(self) -> None:
        super().__init__()
        self._by_hash_index: dict[str, TokenRecord] = {}

    async def list(self) -> list[TokenRecord]:
        return sorted(self._by_hash_index.values(), key=lambda record: record.created_at)

    async def _insert(self, record: TokenRecord, token_hash: str) -> None:
        self._by_hash_index[token_hash] = record

    async def _by_hash(self, token_hash: str) -> Optional[TokenRecord]:
        return self._by_hash_index.get(token_hash)

    async def _revoke(self, token_id: str, at: str) -> Optional[TokenRecord]:
        for token_hash, record in self._by_hash_index.items():
            if record.id == token_id and record.revoked_at is None:
                revoked = self._by_hash_index[token_hash] = replace(record, revoked_at=at)
                return revoked
        return None


class SQLTokens(TokenRegistry):
    """Tokens in `jeeves_api_tokens`, through a store connector (any dialect, any database)."""

    def __init__(
        self, connector: Connector, *, cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(cache_seconds=cache_seconds, clock=clock)
        self.connector = connector

    async def list(self) -> list[TokenRecord]:
        return [_record(row) for row in await self.connector.fetch("list_tokens")]

    async def _insert(self, record: TokenRecord, token_hash: str) -> None:
        await self.connector.fetch(
            "insert_token", id=record.id, token_hash=token_hash, user_id=record.user_id,
            role=record.role.value, created_at=record.created_at, groups=json.dumps(list(record.groups)),
        )

    async def _by_hash(self, token_hash: str) -> Optional[TokenRecord]:
        rows = await self.connector.fetch("token_by_hash", token_hash=token_hash)
        return _record(rows[0]) if rows else None

    async def _revoke(self, token_id: str, at: str) -> Optional[TokenRecord]:
        rows = await self.connector.fetch("revoke_token", id=token_id, at=at)
        return _record(rows[0]) if rows else None


def _storable(value: str) -> bool:
    # Imported here: services/ sits above this module (it opens the backend that makes tokens).
    from .services.validation import could_be_stored

    return could_be_stored(value)


#: The most groups one token may be in.
MAX_GROUPS = 50


def _groups(value: Any) -> tuple[str, ...]:
    """Group names: distinct ids, at most MAX_GROUPS, sorted."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) > MAX_GROUPS:
        raise InvalidInterruptError(f"groups must be a list of at most {MAX_GROUPS} names", field="groups")
    for name in value:
        if not isinstance(name, str) or not name.strip() or len(name) > 255 or not _storable(name):
            raise InvalidInterruptError(f"group {name!r} is not a valid name", field="groups")
    return tuple(sorted(set(value)))


def _record(row: Any) -> TokenRecord:
    try:
        groups = tuple(str(name) for name in json.loads(row.get("groups") or "[]"))
    except (ValueError, TypeError):  # written by another tool: the token keeps its user, no groups
        groups = ()
    return TokenRecord(
        id=row["id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        created_at=str(row["created_at"]),
        revoked_at=row["revoked_at"],
        groups=groups,
    )

