"""`open_backend(db)`: the interrupt, webhook and token stores of one database, chosen in one place.

`db` is what a user hands `InterruptService`, `WebhookService` or `create_app`:

| `db`                                | interrupts        | webhooks               | tokens              |
|-------------------------------------|-------------------|------------------------|---------------------|
| None                                | a new MemoryStore | beside that store      | in memory           |
| a MemoryStore                       | that store        | beside that store      | in memory           |
| SQLiteDatabase / PostgresDatabase   | its SQL store     | SQL, same database     | SQL, same database  |
| any other DatabaseProtocol object   | PostgreSQL SQL    | refused (no transactions) | SQL, same database |
| any other InterruptStore            | that store        | refused                | in memory           |
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Optional

from jeeves_protocols import DatabaseProtocol, InvalidInterruptError

from .store import InterruptStore, MemoryStore
from .store.connector import connector_for
from .store.migrator import apply_migrations
from .tokens import MemoryTokens, SQLTokens, TokenRegistry
from .webhooks.memory_storage import MemoryWebhookStorage
from .webhooks.sql_storage import SQLWebhookStorage
from .webhooks.storage import WebhookStorage

__all__ = ["Backend", "open_backend"]


@dataclass(frozen=True)
class Backend:
    interrupts: InterruptStore
    tokens: TokenRegistry
    #: None where the database cannot hold webhooks (`webhooks` says why).
    webhook_storage: Optional[WebhookStorage]

    @property
    def webhooks(self) -> WebhookStorage:
        if self.webhook_storage is None:
            raise InvalidInterruptError(
                "webhooks need a SQLiteDatabase, PostgresDatabase or the in-memory store (claiming "
                f"deliveries needs real transactions), not {type(self.interrupts).__name__}",
                field="db",
            )
        return self.webhook_storage


def open_backend(db: Any) -> Backend:
    """The stores behind `db` (see the table above). Nothing connects until first used."""
    if db is None:
        db = MemoryStore()
    if isinstance(db, MemoryStore):
        return Backend(db, MemoryTokens(), MemoryWebhookStorage(db))
    make_store = getattr(db, "interrupt_store", None)
    if callable(make_store):  # a database this package ships
        connector = connector_for(db)
        webhooks = SQLWebhookStorage(connector, partial(apply_migrations, connector))
        return Backend(make_store(), SQLTokens(connector), webhooks)
    if isinstance(db, InterruptStore):
        return Backend(db, MemoryTokens(), None)
    if isinstance(db, DatabaseProtocol):
        from .store.postgres import PostgresStore  # imported lazily: asyncpg is only needed for PostgreSQL

        return Backend(PostgresStore(db), SQLTokens(connector_for(db)), None)
    raise InvalidInterruptError(
        f"db must satisfy DatabaseProtocol or InterruptStore, not {type(db).__name__}", field="db"
    )
