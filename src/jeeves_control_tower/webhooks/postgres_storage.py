"""Webhook storage on PostgreSQL. Several service instances may share the database: fan-out and
claims take rows with FOR UPDATE SKIP LOCKED, so each journal event is fanned out once and each
due delivery is leased to one instance (a crashed instance's lease simply runs out).

Every statement goes through the database object, which turns driver failures into StoreError
(`fetch_all`, `listen`, and `connection()` for fan-out's transaction), so no driver error
escapes from here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Optional

from ..store.postgres import WAKE_CHANNEL, PostgresDatabase, PostgresStore
from .models import DEAD, DELIVERED, PENDING, Claim, Delivery
from .policy import event_id, matches
from .storage import AttemptOutcome, attempt_from_row, claims_from_rows, delivery_from_row

__all__ = ["PostgresWebhookStorage"]

_CLAIM = """
WITH due AS (
    SELECT d.id FROM jeeves_webhook_deliveries d
      JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
     WHERE d.status = 'pending' AND d.next_attempt_at <= $1
       AND (d.lease_until IS NULL OR d.lease_until <= $1) AND s.enabled
     ORDER BY d.next_attempt_at LIMIT $3
       FOR UPDATE OF d SKIP LOCKED
), leased AS (
    UPDATE jeeves_webhook_deliveries d SET lease_until = $2 FROM due WHERE d.id = due.id
    RETURNING d.id, d.attempts, d.event_id, d.event_type, d.subscription_id, d.event_seq
)
SELECT l.id, l.attempts, l.event_id, l.event_type, l.subscription_id, e.sequence, e.request_id,
       e.payload, e.created_at AS event_created_at, s.url, s.secret, s.previous_secret,
       s.previous_secret_until
  FROM leased l
  JOIN jeeves_interrupt_events e ON e.seq = l.event_seq
  JOIN jeeves_webhook_subscriptions s ON s.id = l.subscription_id"""

_RECORD = """
WITH attempt AS (
    INSERT INTO jeeves_webhook_attempts
        (delivery_id, attempt, at, status_code, error, latency_ms, response_excerpt)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (delivery_id, attempt) DO UPDATE SET at = EXCLUDED.at
), delivery AS (
    UPDATE jeeves_webhook_deliveries
       SET status = $8, attempts = $2, next_attempt_at = $9, lease_until = NULL, updated_at = $10
     WHERE id = $1
)
UPDATE jeeves_webhook_subscriptions
   SET failing_since = CASE WHEN $8 = 'delivered' THEN NULL ELSE COALESCE(failing_since, $10) END,
       enabled = enabled AND NOT ($12::text IS NOT NULL
                 OR ($8 <> 'delivered' AND $11::timestamptz IS NOT NULL
                     AND COALESCE(failing_since, $10) < $11::timestamptz)),
       disabled_reason = CASE
           WHEN NOT enabled THEN disabled_reason
           WHEN $12::text IS NOT NULL THEN $12::text
           WHEN $8 <> 'delivered' AND $11::timestamptz IS NOT NULL
                AND COALESCE(failing_since, $10) < $11::timestamptz
             THEN 'failing since ' || COALESCE(failing_since, $10)::text
           ELSE disabled_reason END
 WHERE id = $13
RETURNING (SELECT enabled FROM jeeves_webhook_subscriptions WHERE id = $13) AS was_enabled, enabled"""


class PostgresWebhookStorage:
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database
        self._listener: Optional[Any] = None

    async def open(self, wake: Callable[[], None]) -> None:
        # Migrations (0002 included) as the interrupt store applies them, without its listener.
        await PostgresStore(self.database)._migrate()
        # Every journal insert already NOTIFYs the interrupts channel: it wakes the dispatcher of
        # every instance, at no extra cost per commit.
        self._listener = await self.database.listen(WAKE_CHANNEL, lambda _payload: wake())

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    async def _fetch(self, query: str, *params: Any) -> list[dict[str, Any]]:
        return await self.database.fetch_all(query, params)

    async def insert_subscription(self, row: dict[str, Any]) -> None:
        stored = {**row, "events": json.dumps(list(row["events"]))}
        columns = ", ".join(stored)
        marks = ", ".join(f"${i}" for i in range(1, len(stored) + 1))
        await self._fetch(
            f"INSERT INTO jeeves_webhook_subscriptions ({columns}) VALUES ({marks})", *stored.values()
        )

    async def get_subscription(self, subscription_id: str) -> Optional[dict[str, Any]]:
        rows = await self._fetch("SELECT * FROM jeeves_webhook_subscriptions WHERE id = $1", subscription_id)
        return rows[0] if rows else None

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        return await self._fetch("SELECT * FROM jeeves_webhook_subscriptions ORDER BY created_at, id")

    async def update_subscription(self, subscription_id: str, changes: dict[str, Any]) -> bool:
        values = [json.dumps(list(v)) if isinstance(v, (list, tuple)) else v for v in changes.values()]
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
        rows = await self._fetch(
            f"UPDATE jeeves_webhook_subscriptions SET {assignments} WHERE id = $1 RETURNING id",
            subscription_id, *values,
        )
        return bool(rows)

    async def delete_subscription(self, subscription_id: str) -> bool:
        rows = await self._fetch(
            """WITH attempts AS (
                   DELETE FROM jeeves_webhook_attempts WHERE delivery_id IN
                       (SELECT id FROM jeeves_webhook_deliveries WHERE subscription_id = $1)
               ), deliveries AS (
                   DELETE FROM jeeves_webhook_deliveries WHERE subscription_id = $1
               )
               DELETE FROM jeeves_webhook_subscriptions WHERE id = $1 RETURNING id""",
            subscription_id,
        )
        return bool(rows)

    async def fan_out(self, now: datetime, limit: int) -> int:
        async with self.database.connection() as connection, connection.transaction():
            # SKIP LOCKED: rows another instance is fanning out right now are left to it; rows
            # of transactions not yet committed are invisible now and unmarked when they commit.
            events = await connection.fetch(
                "SELECT seq, interrupt_id, event_type, sequence, user_id, session_id"
                " FROM jeeves_interrupt_events WHERE fanned_out_at IS NULL ORDER BY seq LIMIT $1"
                " FOR UPDATE SKIP LOCKED",
                limit,
            )
            if not events:
                return 0
            subscriptions = await connection.fetch(
                "SELECT id, events, user_id, session_id FROM jeeves_webhook_subscriptions WHERE enabled"
            )
            patterns = {s["id"]: json.loads(s["events"]) for s in subscriptions}
            rows = [
                (str(uuid.uuid4()), s["id"], e["seq"], event_id(e["interrupt_id"], e["sequence"]),
                 e["event_type"], PENDING, now)
                for e in events
                for s in subscriptions
                if matches(patterns[s["id"]], s["user_id"], s["session_id"],
                           e["event_type"], e["user_id"], e["session_id"])
            ]
            if rows:
                await connection.executemany(
                    "INSERT INTO jeeves_webhook_deliveries (id, subscription_id, event_seq, event_id,"
                    " event_type, status, next_attempt_at, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7) ON CONFLICT DO NOTHING",
                    rows,
                )
            await connection.execute(
                "UPDATE jeeves_interrupt_events SET fanned_out_at = $1 WHERE seq = ANY($2::bigint[])",
                now, [e["seq"] for e in events],
            )
            return len(events)

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        claims, unreadable = claims_from_rows(await self._fetch(_CLAIM, now, lease_until, limit), now)
        if unreadable:  # dead at once: no attempt could ever send its event
            await self._fetch(
                "UPDATE jeeves_webhook_deliveries SET status = $1, lease_until = NULL, updated_at = $2"
                " WHERE id = ANY($3::text[])",
                DEAD, now, unreadable,
            )
        return claims

    async def record(self, claim: Claim, outcome: AttemptOutcome, now: datetime) -> bool:
        attempt = outcome.attempt
        rows = await self._fetch(
            _RECORD,
            claim.delivery_id, attempt.number, attempt.at, attempt.status_code, attempt.error,
            attempt.latency_ms, attempt.response_excerpt, outcome.status,
            outcome.next_attempt_at or now, now, outcome.failing_cutoff, outcome.disable_reason,
            claim.subscription_id,
        )
        return bool(rows) and bool(rows[0]["was_enabled"]) and not rows[0]["enabled"]

    async def _deliveries(self, where: str, params: tuple[Any, ...], limit: int) -> list[Delivery]:
        rows = await self._fetch(
            f"SELECT * FROM jeeves_webhook_deliveries {where} ORDER BY event_seq DESC, id"
            f" LIMIT ${len(params) + 1}",
            *params, limit,
        )
        if not rows:
            return []
        attempts = await self._fetch(
            "SELECT * FROM jeeves_webhook_attempts WHERE delivery_id = ANY($1::text[])"
            " ORDER BY delivery_id, attempt",
            [row["id"] for row in rows],
        )
        by_delivery: dict[str, list[Any]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt["delivery_id"], []).append(attempt_from_row(attempt))
        return [delivery_from_row(row, tuple(by_delivery.get(row["id"], ()))) for row in rows]

    async def list_deliveries(
        self, subscription_id: Optional[str], status: Optional[str], limit: int
    ) -> list[Delivery]:
        return await self._deliveries(
            "WHERE ($1::text IS NULL OR subscription_id = $1) AND ($2::text IS NULL OR status = $2)",
            (subscription_id, status), limit,
        )

    async def get_delivery(self, delivery_id: str) -> Optional[Delivery]:
        found = await self._deliveries("WHERE id = $1", (delivery_id,), 1)
        return found[0] if found else None

    async def redeliver(self, delivery_id: str, now: datetime) -> bool:
        rows = await self._fetch(
            "UPDATE jeeves_webhook_deliveries SET status = $2, next_attempt_at = $3, lease_until = NULL,"
            " updated_at = $3 WHERE id = $1 AND status IN ($4, $5) RETURNING id",
            delivery_id, PENDING, now, DEAD, DELIVERED,
        )
        return bool(rows)

    async def next_due(self) -> Optional[datetime]:
        rows = await self._fetch(
            "SELECT MIN(GREATEST(d.next_attempt_at, d.lease_until)) AS due FROM jeeves_webhook_deliveries d"
            " JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id"
            " WHERE d.status = 'pending' AND s.enabled"
        )
        due: Optional[datetime] = rows[0]["due"] if rows else None
        return due
