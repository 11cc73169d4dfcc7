-- Webhook storage, PostgreSQL: what differs from queries/sqlite/webhooks.sql (what reads the
-- same is in queries/common/webhooks.sql; the storage, webhooks/sql_storage.py, is written once).
-- Several service instances may share the database: fan-out and claims take rows with FOR UPDATE SKIP LOCKED, so each journal
-- event is fanned out once and each due delivery is leased to one instance (a crashed instance's
-- lease simply runs out). Journal positions can commit out of order, so fan-out marks the rows
-- it took (fanned_out_at) instead of keeping a cursor that could skip one.

-- name: lock_subscription
SELECT * FROM jeeves_webhook_subscriptions WHERE id = :id FOR UPDATE;

-- name: events_to_fan_out
-- SKIP LOCKED: rows another instance is fanning out right now are left to it; rows of
-- transactions not yet committed are invisible now and unmarked when they commit.
SELECT seq, interrupt_id, event_type, sequence, user_id, session_id
  FROM jeeves_interrupt_events WHERE fanned_out_at IS NULL ORDER BY seq LIMIT :limit
   FOR UPDATE SKIP LOCKED;

-- name: enabled_subscriptions
SELECT id, events, user_id, session_id FROM jeeves_webhook_subscriptions WHERE enabled;

-- name: mark_fanned_out
UPDATE jeeves_interrupt_events SET fanned_out_at = :now WHERE seq = ANY(:seqs::bigint[]);

-- name: lease_due_deliveries
WITH due AS (
    SELECT d.id FROM jeeves_webhook_deliveries d
      JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
     WHERE d.status = 'pending' AND d.next_attempt_at <= :now
       AND (d.lease_until IS NULL OR d.lease_until <= :now) AND s.enabled
     ORDER BY d.next_attempt_at LIMIT :limit
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE jeeves_webhook_deliveries d SET lease_until = :lease_until FROM due WHERE d.id = due.id
RETURNING d.id;

-- name: claim_details
SELECT d.id, d.attempts, d.event_id, d.event_type, d.subscription_id, e.sequence, e.request_id,
       e.payload, e.created_at AS event_created_at, s.url, s.secret, s.previous_secret,
       s.previous_secret_until
  FROM jeeves_webhook_deliveries d
  JOIN jeeves_interrupt_events e ON e.seq = d.event_seq
  JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
 WHERE d.id = ANY(:ids::text[])
 ORDER BY d.next_attempt_at;

-- name: bury_deliveries
UPDATE jeeves_webhook_deliveries SET status = 'dead', lease_until = NULL, updated_at = :now
 WHERE id = ANY(:ids::text[]);

-- name: record_attempt
INSERT INTO jeeves_webhook_attempts (delivery_id, attempt, at, status_code, error, latency_ms,
                                     response_excerpt)
VALUES (:delivery_id, :attempt, :at, :status_code, :error, :latency_ms, :response_excerpt)
ON CONFLICT (delivery_id, attempt) DO UPDATE
   SET at = EXCLUDED.at, status_code = EXCLUDED.status_code, error = EXCLUDED.error,
       latency_ms = EXCLUDED.latency_ms, response_excerpt = EXCLUDED.response_excerpt;

-- name: disable_subscription
UPDATE jeeves_webhook_subscriptions SET enabled = false, disabled_reason = :reason, updated_at = :now
 WHERE id = :id AND enabled;

-- name: list_deliveries
SELECT * FROM jeeves_webhook_deliveries
 WHERE (:subscription_id::text IS NULL OR subscription_id = :subscription_id)
   AND (:status::text IS NULL OR status = :status)
 ORDER BY event_seq DESC, id LIMIT :limit;

-- name: attempts_of
SELECT * FROM jeeves_webhook_attempts WHERE delivery_id = ANY(:ids::text[]) ORDER BY delivery_id, attempt;

-- name: next_due_delivery
SELECT min(greatest(d.next_attempt_at, d.lease_until)) AS due FROM jeeves_webhook_deliveries d
  JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
 WHERE d.status = 'pending' AND s.enabled;
