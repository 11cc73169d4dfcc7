-- Webhook storage, SQLite: what differs from queries/postgres/webhooks.sql (what reads the same
-- is in queries/common/webhooks.sql; the storage, webhooks/sql_storage.py, is written once).
-- Writes run one at a time in the group commit, so journal `seq` order is commit order: fan-out
-- follows a single cursor.

-- name: lock_subscription
-- Inside a write transaction: the group commit already runs it alone.
SELECT * FROM jeeves_webhook_subscriptions WHERE id = :id;

-- name: events_to_fan_out
SELECT seq, interrupt_id, event_type, sequence, user_id, session_id
  FROM jeeves_interrupt_events
 WHERE seq > (SELECT last_seq FROM jeeves_webhook_fanout WHERE id = 1)
 ORDER BY seq LIMIT :limit;

-- name: enabled_subscriptions
SELECT id, events, user_id, session_id FROM jeeves_webhook_subscriptions WHERE enabled = 1;

-- name: mark_fanned_out
-- One writer at a time, committing journal rows in seq order: nothing can appear behind the
-- cursor later, so moving it past the batch read is exact.
UPDATE jeeves_webhook_fanout SET last_seq = (SELECT max(value) FROM json_each(:seqs)) WHERE id = 1;

-- name: lease_due_deliveries
UPDATE jeeves_webhook_deliveries SET lease_until = :lease_until
 WHERE id IN (
    SELECT d.id FROM jeeves_webhook_deliveries d
      JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
     WHERE d.status = 'pending' AND d.next_attempt_at <= :now
       AND (d.lease_until IS NULL OR d.lease_until <= :now) AND s.enabled = 1
     ORDER BY d.next_attempt_at LIMIT :limit)
RETURNING id;

-- name: claim_details
SELECT d.id, d.attempts, d.event_id, d.event_type, d.subscription_id, e.sequence, e.request_id,
       {event_payload} AS payload, e.created_at AS event_created_at, s.url,
       s.secret, s.previous_secret, s.previous_secret_until
  FROM json_each(:ids) AS wanted
  JOIN jeeves_webhook_deliveries d ON d.id = wanted.value
  JOIN jeeves_interrupt_events e ON e.seq = d.event_seq
  JOIN jeeves_interrupts i ON i.id = e.interrupt_id
  JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
 ORDER BY d.next_attempt_at;

-- name: bury_deliveries
UPDATE jeeves_webhook_deliveries SET status = 'dead', lease_until = NULL, updated_at = :now
 WHERE id IN (SELECT value FROM json_each(:ids));

-- name: record_attempt
INSERT OR REPLACE INTO jeeves_webhook_attempts (delivery_id, attempt, at, status_code, error,
                                                latency_ms, response_excerpt)
VALUES (:delivery_id, :attempt, :at, :status_code, :error, :latency_ms, :response_excerpt);

-- name: disable_subscription
UPDATE jeeves_webhook_subscriptions SET enabled = 0, disabled_reason = :reason, updated_at = :now
 WHERE id = :id AND enabled = 1;

-- name: list_deliveries
SELECT * FROM jeeves_webhook_deliveries
 WHERE (:subscription_id IS NULL OR subscription_id = :subscription_id)
   AND (:status IS NULL OR status = :status)
 ORDER BY event_seq DESC, id LIMIT :limit;

-- name: attempts_of
SELECT * FROM jeeves_webhook_attempts WHERE delivery_id IN (SELECT value FROM json_each(:ids))
 ORDER BY delivery_id, attempt;

-- name: next_due_delivery
SELECT min(max(d.next_attempt_at, coalesce(d.lease_until, d.next_attempt_at))) AS due
  FROM jeeves_webhook_deliveries d
  JOIN jeeves_webhook_subscriptions s ON s.id = d.subscription_id
 WHERE d.status = 'pending' AND s.enabled = 1;
