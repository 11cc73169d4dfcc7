-- The whole schema after every migration, written by `python -m tests.support.schema`.
-- Read it to see the tables; change the schema with a new migration, never here. Schema only:
-- rows a migration seeds (SQLite's webhook fan-out cursor) are not in it.

CREATE TABLE jeeves_api_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
, groups TEXT NOT NULL DEFAULT '[]');

CREATE TABLE "jeeves_interrupt_events" (
    seq          INTEGER PRIMARY KEY,
    interrupt_id TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    sequence     INTEGER NOT NULL,
    request_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    payload      TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (interrupt_id, sequence)
);

CREATE TABLE jeeves_interrupt_responders (
    principal    TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    PRIMARY KEY (principal, interrupt_id)
);

CREATE TABLE jeeves_interrupts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    envelope_id     TEXT,
    question        TEXT,
    message         TEXT,
    data            TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'pending',
    response        TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    resolved_at     TEXT,
    trace_id        TEXT,
    span_id         TEXT,
    idempotency_key TEXT
, created_by TEXT, policy TEXT, action_hash TEXT, resolution TEXT, consumed_at TEXT, interim_events INTEGER NOT NULL DEFAULT 0, next_reminder_at TEXT, reminders_sent INTEGER NOT NULL DEFAULT 0);

CREATE TABLE jeeves_schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));

CREATE TABLE jeeves_webhook_attempts (
    delivery_id      TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    at               TEXT NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    latency_ms       REAL NOT NULL,
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE jeeves_webhook_deliveries (
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

CREATE TABLE jeeves_webhook_fanout (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);

CREATE TABLE jeeves_webhook_subscriptions (
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

CREATE INDEX jeeves_interrupt_events_session ON jeeves_interrupt_events (session_id, seq);

CREATE INDEX jeeves_interrupt_events_user ON jeeves_interrupt_events (user_id, seq);

CREATE INDEX jeeves_interrupts_created_id ON jeeves_interrupts (created_at, id);

CREATE UNIQUE INDEX jeeves_interrupts_idempotency_key
    ON jeeves_interrupts (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE INDEX jeeves_interrupts_pending_created ON jeeves_interrupts (created_at, id) WHERE status = 'pending';

CREATE INDEX jeeves_interrupts_pending_expiry
    ON jeeves_interrupts (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

CREATE INDEX jeeves_interrupts_pending_reminder
    ON jeeves_interrupts (next_reminder_at) WHERE status = 'pending' AND next_reminder_at IS NOT NULL;

CREATE INDEX jeeves_interrupts_pending_request
    ON jeeves_interrupts (request_id, created_at) WHERE status = 'pending';

CREATE INDEX jeeves_interrupts_pending_session
    ON jeeves_interrupts (session_id, created_at) WHERE status = 'pending';

CREATE INDEX jeeves_interrupts_request_id ON jeeves_interrupts (request_id, created_at, id);

CREATE INDEX jeeves_interrupts_session_id ON jeeves_interrupts (session_id, created_at, id);

CREATE INDEX jeeves_interrupts_user_id ON jeeves_interrupts (user_id, created_at, id);

CREATE INDEX jeeves_webhook_deliveries_due ON jeeves_webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

