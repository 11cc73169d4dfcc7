-- Webhooks: the journal is the outbox. `fanned_out_at` marks journal rows already turned into
-- deliveries. Identity values can commit out of order, so the dispatcher claims unmarked rows
-- (FOR UPDATE SKIP LOCKED) instead of keeping a "highest seq seen" cursor that could skip one.
ALTER TABLE jeeves_interrupt_events ADD COLUMN IF NOT EXISTS fanned_out_at timestamptz;
UPDATE jeeves_interrupt_events SET fanned_out_at = created_at;
CREATE INDEX IF NOT EXISTS jeeves_interrupt_events_unfanned ON jeeves_interrupt_events (seq)
    WHERE fanned_out_at IS NULL;

CREATE TABLE IF NOT EXISTS jeeves_webhook_subscriptions (
    id                    text PRIMARY KEY,
    url                   text NOT NULL,
    events                jsonb NOT NULL,
    user_id               text,
    session_id            text,
    secret                text NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    enabled               boolean NOT NULL,
    disabled_reason       text,
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS jeeves_webhook_deliveries (
    id              text PRIMARY KEY,
    subscription_id text NOT NULL,
    event_seq       bigint NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX IF NOT EXISTS jeeves_webhook_deliveries_due ON jeeves_webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS jeeves_webhook_attempts (
    delivery_id      text NOT NULL,
    attempt          integer NOT NULL,
    at               timestamptz NOT NULL,
    status_code      integer,
    error            text,
    latency_ms       double precision NOT NULL,
    response_excerpt text,
    PRIMARY KEY (delivery_id, attempt)
);
