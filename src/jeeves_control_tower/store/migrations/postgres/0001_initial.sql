-- Interrupts and their event journal.
CREATE TABLE IF NOT EXISTS jeeves_interrupts (
    id              text PRIMARY KEY,
    kind            text NOT NULL,
    request_id      text NOT NULL,
    user_id         text NOT NULL,
    session_id      text NOT NULL,
    envelope_id     text,
    question        text,
    message         text,
    data            jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending',
    response        jsonb,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz,
    resolved_at     timestamptz,
    trace_id        text,
    span_id         text,
    idempotency_key text
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
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    interrupt_id text NOT NULL,
    event_type   text NOT NULL,
    sequence     integer NOT NULL,
    request_id   text NOT NULL,
    user_id      text NOT NULL,
    session_id   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    -- one creation event and at most one terminal event per interrupt, enforced by the database
    UNIQUE (interrupt_id, sequence)
);
