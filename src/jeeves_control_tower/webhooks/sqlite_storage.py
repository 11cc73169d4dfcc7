"""Webhook storage in the SQLite file: each step is one job of the group commit (one writer, so
journal `seq` order is commit order and fan-out can follow a single cursor without gaps).

Every statement runs through `SQLiteDatabase.read` / `.write`, whose one translation
(`SQLiteDatabase.store_error`) turns any sqlite3 error into a StoreError naming the file and the
cause: no try/except around the driver here."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Optional

from jeeves_protocols.interrupts import format_time, parse_time

from ..store.sql import queries
from ..store.sqlite import SQLiteDatabase, SQLiteStore
from .models import DEAD, DELIVERED, PENDING, Claim, Delivery
from .policy import event_id, matches
from .storage import AttemptOutcome, attempt_from_row, claims_from_rows, delivery_from_row

__all__ = ["SQLiteWebhookStorage"]

_CLAIM_DETAILS = f"""
SELECT d.id, d.attempts, d.event_id, d.event_type, d.subscription_id, e.sequence, e.request_id,
       {queries("sqlite")["event_payload"]} AS payload, e.created_at AS event_created_at, s.url,
       s.secret, s.previous_secret, s.previous_secret_until
  FROM jeeves_webhook_deliveries d
  JOIN jeeves_interrupt_events e ON e.seq = d.event_seq
  JOIN jeeves_interrupts i ON i.id = e.interrupt_id
  JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
 WHERE d.id = ?"""


class SQLiteWebhookStorage:
    def __init__(self, database: SQLiteDatabase) -> None:
        self.database = database
        self._store = SQLiteStore(database)

    async def open(self, wake: Callable[[], None]) -> None:
        # Another process's commits cannot be pushed over a SQLite file: the dispatcher polls.
        await self._store.open()  # applies migration 0002 if the service has not yet

    async def close(self) -> None:
        """The database itself belongs to whoever made it."""

    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self.database.read(lambda c: [dict(r) for r in c.execute(query, params).fetchall()])

    async def insert_subscription(self, row: dict[str, Any]) -> None:
        stored = {**row, "events": json.dumps(list(row["events"])), "enabled": int(row["enabled"])}
        stored = {k: format_time(v) if isinstance(v, datetime) else v for k, v in stored.items()}
        columns = ", ".join(stored)
        marks = ", ".join(f":{name}" for name in stored)
        await self.database.write(
            lambda c: c.execute(
                f"INSERT INTO jeeves_webhook_subscriptions ({columns}) VALUES ({marks})", stored
            )
        )

    async def get_subscription(self, subscription_id: str) -> Optional[dict[str, Any]]:
        rows = self._read("SELECT * FROM jeeves_webhook_subscriptions WHERE id = ?", (subscription_id,))
        return rows[0] if rows else None

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        return self._read("SELECT * FROM jeeves_webhook_subscriptions ORDER BY created_at, id")

    async def update_subscription(self, subscription_id: str, changes: dict[str, Any]) -> bool:
        values = {k: _value(v) for k, v in changes.items()}
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        values["_id"] = subscription_id

        def run(c: sqlite3.Connection) -> bool:
            query = f"UPDATE jeeves_webhook_subscriptions SET {assignments} WHERE id = :_id"
            return c.execute(query, values).rowcount == 1

        return await self.database.write(run)

    async def delete_subscription(self, subscription_id: str) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            c.execute(
                "DELETE FROM jeeves_webhook_attempts WHERE delivery_id IN"
                " (SELECT id FROM jeeves_webhook_deliveries WHERE subscription_id = ?)",
                (subscription_id,),
            )
            c.execute("DELETE FROM jeeves_webhook_deliveries WHERE subscription_id = ?", (subscription_id,))
            return c.execute(
                "DELETE FROM jeeves_webhook_subscriptions WHERE id = ?", (subscription_id,)
            ).rowcount == 1

        return await self.database.write(run)

    async def fan_out(self, now: datetime, limit: int) -> int:
        at = format_time(now)

        def run(c: sqlite3.Connection) -> int:
            events = c.execute(
                "SELECT seq, interrupt_id, event_type, sequence, user_id, session_id"
                " FROM jeeves_interrupt_events"
                " WHERE seq > (SELECT last_seq FROM jeeves_webhook_fanout WHERE id = 1)"
                " ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            if not events:
                return 0
            subscriptions = c.execute(
                "SELECT id, events, user_id, session_id FROM jeeves_webhook_subscriptions WHERE enabled = 1"
            ).fetchall()
            patterns = {s["id"]: json.loads(s["events"]) for s in subscriptions}
            rows = [
                (str(uuid.uuid4()), s["id"], e["seq"], event_id(e["interrupt_id"], e["sequence"]),
                 e["event_type"], PENDING, at, at, at)
                for e in events
                for s in subscriptions
                if matches(patterns[s["id"]], s["user_id"], s["session_id"],
                           e["event_type"], e["user_id"], e["session_id"])
            ]
            c.executemany(
                "INSERT INTO jeeves_webhook_deliveries (id, subscription_id, event_seq, event_id,"
                " event_type, status, next_attempt_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )
            # One writer at a time, committing journal rows in seq order: nothing can appear
            # behind the cursor later, so moving it past the batch read is exact.
            c.execute("UPDATE jeeves_webhook_fanout SET last_seq = ? WHERE id = 1", (events[-1]["seq"],))
            return len(events)

        return await self.database.write(run)

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        at, until = format_time(now), format_time(lease_until)

        def run(c: sqlite3.Connection) -> list[Claim]:
            ids = [r[0] for r in c.execute(
                "SELECT d.id FROM jeeves_webhook_deliveries d"
                " JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= ?"
                " AND (d.lease_until IS NULL OR d.lease_until <= ?) AND s.enabled = 1"
                " ORDER BY d.next_attempt_at LIMIT ?",
                (at, at, limit),
            )]
            rows = []
            for delivery_id in ids:
                c.execute(
                    "UPDATE jeeves_webhook_deliveries SET lease_until = ? WHERE id = ?", (until, delivery_id)
                )
                rows.append(dict(c.execute(_CLAIM_DETAILS, (delivery_id,)).fetchone()))
            claims, unreadable = claims_from_rows(rows, now)
            for delivery_id in unreadable:  # dead at once: no attempt could ever send its event
                c.execute(
                    "UPDATE jeeves_webhook_deliveries SET status = ?, lease_until = NULL, updated_at = ?"
                    " WHERE id = ?",
                    (DEAD, at, delivery_id),
                )
            return claims

        return await self.database.write(run)

    async def record(self, claim: Claim, outcome: AttemptOutcome, now: datetime) -> bool:
        at = format_time(now)
        attempt = outcome.attempt

        def run(c: sqlite3.Connection) -> bool:
            c.execute(
                "INSERT OR REPLACE INTO jeeves_webhook_attempts (delivery_id, attempt, at, status_code,"
                " error, latency_ms, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (claim.delivery_id, attempt.number, format_time(attempt.at), attempt.status_code,
                 attempt.error, attempt.latency_ms, attempt.response_excerpt),
            )
            next_at = format_time(outcome.next_attempt_at) if outcome.next_attempt_at else at
            c.execute(
                "UPDATE jeeves_webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,"
                " lease_until = NULL, updated_at = ? WHERE id = ?",
                (outcome.status, attempt.number, next_at, at, claim.delivery_id),
            )
            sub = claim.subscription_id
            if outcome.status == DELIVERED:
                c.execute("UPDATE jeeves_webhook_subscriptions SET failing_since = NULL WHERE id = ?", (sub,))
                return False
            c.execute(
                "UPDATE jeeves_webhook_subscriptions SET failing_since = COALESCE(failing_since, ?)"
                " WHERE id = ?", (at, sub),
            )
            reason = outcome.disable_reason
            if reason is None and outcome.failing_cutoff is not None:
                row = c.execute(
                    "SELECT failing_since FROM jeeves_webhook_subscriptions WHERE id = ?", (sub,)
                ).fetchone()
                if row is not None and row[0] < format_time(outcome.failing_cutoff):
                    reason = f"failing since {row[0]}"
            if reason is None:
                return False
            return c.execute(
                "UPDATE jeeves_webhook_subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ?"
                " WHERE id = ? AND enabled = 1", (reason, at, sub),
            ).rowcount == 1

        return await self.database.write(run)

    def _deliveries(self, where: str, params: tuple[Any, ...], limit: int) -> list[Delivery]:
        def run(c: sqlite3.Connection) -> list[Delivery]:
            rows = c.execute(
                f"SELECT * FROM jeeves_webhook_deliveries {where} ORDER BY event_seq DESC, id LIMIT ?",
                (*params, limit),
            ).fetchall()
            result = []
            for row in rows:
                attempts = tuple(attempt_from_row(dict(a)) for a in c.execute(
                    "SELECT * FROM jeeves_webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
                    (row["id"],),
                ))
                result.append(delivery_from_row(dict(row), attempts))
            return result

        return self.database.read(run)

    async def list_deliveries(
        self, subscription_id: Optional[str], status: Optional[str], limit: int
    ) -> list[Delivery]:
        where = "WHERE (? IS NULL OR subscription_id = ?) AND (? IS NULL OR status = ?)"
        return self._deliveries(where, (subscription_id, subscription_id, status, status), limit)

    async def get_delivery(self, delivery_id: str) -> Optional[Delivery]:
        found = self._deliveries("WHERE id = ?", (delivery_id,), 1)
        return found[0] if found else None

    async def redeliver(self, delivery_id: str, now: datetime) -> bool:
        at = format_time(now)

        def run(c: sqlite3.Connection) -> bool:
            return c.execute(
                "UPDATE jeeves_webhook_deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,"
                " updated_at = ? WHERE id = ? AND status IN (?, ?)",
                (PENDING, at, at, delivery_id, DEAD, DELIVERED),
            ).rowcount == 1

        return await self.database.write(run)

    async def next_due(self) -> Optional[datetime]:
        rows = self._read(
            "SELECT MIN(MAX(d.next_attempt_at, COALESCE(d.lease_until, d.next_attempt_at))) AS due"
            " FROM jeeves_webhook_deliveries d"
            " JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id"
            " WHERE d.status = 'pending' AND s.enabled = 1"
        )
        return parse_time(rows[0]["due"]) if rows else None


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    if isinstance(value, bool):
        return int(value)
    return value
