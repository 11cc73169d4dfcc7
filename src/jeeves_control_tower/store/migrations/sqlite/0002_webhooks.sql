-- Webhooks: the journal is the outbox. `fanned_out_at` marks journal rows already turned into
-- deliveries; rows that existed before webhooks did are marked so nobody replays history.
ALTER TABLE jeeves_interrupt_events ADD COLUMN fanned_out_at TEXT;
UPDATE jeeves_interrupt_events SET fanned_out_at = created_at;
CREATE INDEX IF NOT EXISTS jeeves_interrupt_events_unfanned ON jeeves_interrupt_events (seq)
    WHERE fanned_out_at IS NULL;

CREATE TABLE IF NOT EXISTS jeeves_webhook_subscriptions (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    events               TEXT NOT NULL,
    user_id              TEXT,
    session_id           TEXT,
    secret               TEXT NOT NULL,
    previous_secret      TEXT,
    previous_secret_until TEXT,
    enabled              INTEGER NOT NULL,
    disabled_reason      TEXT,
    failing_since        TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS jeeves_webhook_deliveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    event_seq       INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX IF NOT EXISTS jeeves_webhook_deliveries_due ON jeeves_webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS jeeves_webhook_attempts (
    delivery_id      TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    at               TEXT NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    latency_ms       REAL NOT NULL,
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
