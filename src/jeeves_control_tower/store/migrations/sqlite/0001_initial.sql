-- Interrupts and their event journal. Times are ISO 8601 UTC text of fixed width (text order = time order).
CREATE TABLE IF NOT EXISTS jeeves_interrupts (
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
);
CREATE UNIQUE INDEX IF NOT EXISTS jeeves_interrupts_idempotency_key
    ON jeeves_interrupts (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jeeves_interrupts_pending_session
    ON jeeves_interrupts (session_id, created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS jeeves_interrupts_pending_request
    ON jeeves_interrupts (request_id, created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS jeeves_interrupts_pending_expiry
    ON jeeves_interrupts (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jeeves_interrupts_user_created
    ON jeeves_interrupts (user_id, created_at);
CREATE TABLE IF NOT EXISTS jeeves_interrupt_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    interrupt_id TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    sequence     INTEGER NOT NULL,
    request_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    -- one creation event and at most one terminal event per interrupt, enforced by the database
    UNIQUE (interrupt_id, sequence)
);
