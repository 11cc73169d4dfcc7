-- Webhook storage statements that read the same in SQLite and PostgreSQL (webhooks/sql_storage.py).
-- What differs, fan-out and claims above all, is in queries/<dialect>/webhooks.sql.

-- name: insert_subscription
INSERT INTO jeeves_webhook_subscriptions (
    id, url, events, user_id, session_id, secret, previous_secret, previous_secret_until,
    enabled, disabled_reason, failing_since, created_at, updated_at)
VALUES (:id, :url, :events, :user_id, :session_id, :secret, :previous_secret, :previous_secret_until,
        :enabled, :disabled_reason, :failing_since, :created_at, :updated_at);

-- name: get_subscription
SELECT * FROM jeeves_webhook_subscriptions WHERE id = :id;

-- name: list_subscriptions
SELECT * FROM jeeves_webhook_subscriptions ORDER BY created_at, id;

-- name: save_subscription
UPDATE jeeves_webhook_subscriptions
   SET url = :url, events = :events, user_id = :user_id, session_id = :session_id,
       secret = :secret, previous_secret = :previous_secret,
       previous_secret_until = :previous_secret_until, enabled = :enabled,
       disabled_reason = :disabled_reason, failing_since = :failing_since, updated_at = :updated_at
 WHERE id = :id;

-- name: delete_subscription_attempts
DELETE FROM jeeves_webhook_attempts WHERE delivery_id IN
    (SELECT id FROM jeeves_webhook_deliveries WHERE subscription_id = :id);

-- name: delete_subscription_deliveries
DELETE FROM jeeves_webhook_deliveries WHERE subscription_id = :id;

-- name: delete_subscription
DELETE FROM jeeves_webhook_subscriptions WHERE id = :id;

-- name: insert_delivery
INSERT INTO jeeves_webhook_deliveries (id, subscription_id, event_seq, event_id, event_type, status,
                                       next_attempt_at, created_at, updated_at)
VALUES (:id, :subscription_id, :event_seq, :event_id, :event_type, 'pending', :at, :at, :at)
ON CONFLICT DO NOTHING;

-- name: update_delivery
UPDATE jeeves_webhook_deliveries
   SET status = :status, attempts = :attempts, next_attempt_at = :next_attempt_at,
       lease_until = NULL, updated_at = :now
 WHERE id = :id;

-- name: subscription_succeeded
UPDATE jeeves_webhook_subscriptions SET failing_since = NULL WHERE id = :id;

-- name: subscription_failed
UPDATE jeeves_webhook_subscriptions SET failing_since = coalesce(failing_since, :now) WHERE id = :id
RETURNING failing_since;

-- name: get_delivery
SELECT * FROM jeeves_webhook_deliveries WHERE id = :id;

-- name: redeliver
UPDATE jeeves_webhook_deliveries
   SET status = 'pending', next_attempt_at = :now, lease_until = NULL, updated_at = :now
 WHERE id = :id AND status IN ('dead', 'delivered');
