"""The one migration runner: the numbered `.sql` files of `migrations/<dialect>/`, applied in order
through a Connector, each recorded in `jeeves_schema_migrations`. Stores run it when they open;
`jeeves migrate` runs it and reports what it applied. It holds no dialect's SQL: the few
statements of its own are named queries (`queries/<dialect>/migrations.sql`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from .connector import Connector, Transaction
from .sql import Migration, migrations

__all__ = ["apply_migrations"]


async def apply_migrations(
    connector: Connector, on_apply: Optional[Callable[[Migration], None]] = None
) -> list[Migration]:
    """Apply every migration not yet recorded, in one transaction (on a database that offers
    one: a user's DatabaseProtocol object does not, and the migrations are idempotent for it).
    `on_apply` hears of each just before it runs. Returns those applied."""

    async def run(tx: Transaction) -> list[Migration]:
        await tx.execute("create_migrations_table")
        await tx.fetch("lock_migrations")
        applied = {int(row["version"]) for row in await tx.fetch("applied_migrations")}
        done: list[Migration] = []
        for migration in migrations(connector.dialect):
            if migration.version in applied:
                continue
            if on_apply is not None:
                on_apply(migration)
            for statement in migration.statements:
                await tx.execute_script(statement)
            await tx.execute("record_migration", version=migration.version, name=migration.name)
            done.append(migration)
        await tx.execute("confirm_writable")
        return done

    return await connector.transaction(run)

