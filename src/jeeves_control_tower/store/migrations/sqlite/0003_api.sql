-- The HTTP API: listing indexes (newest first by (created_at, id)), journal filters for the
-- event stream, and bearer tokens (only their SHA-256 is stored).
CREATE INDEX IF NOT EXISTS jeeves_interrupts_user_id ON jeeves_interrupts (user_id, created_at, id);
CREATE INDEX IF NOT EXISTS jeeves_interrupts_session_id ON jeeves_interrupts (session_id, created_at, id);
CREATE INDEX IF NOT EXISTS jeeves_interrupts_request_id ON jeeves_interrupts (request_id, created_at, id);
CREATE INDEX IF NOT EXISTS jeeves_interrupts_status_id ON jeeves_interrupts (status, created_at, id);
CREATE INDEX IF NOT EXISTS jeeves_interrupt_events_user ON jeeves_interrupt_events (user_id, seq);
CREATE INDEX IF NOT EXISTS jeeves_interrupt_events_session ON jeeves_interrupt_events (session_id, seq);
CREATE INDEX IF NOT EXISTS jeeves_interrupts_created_id ON jeeves_interrupts (created_at, id);
CREATE TABLE IF NOT EXISTS jeeves_api_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
