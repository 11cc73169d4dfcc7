-- Approvals (all opt-in, all NULL for an interrupt that uses none): who raised it, the rules fixed
-- at creation, the hash of the action an answer is bound to, how it ended, and when the agent
-- used its approval. Nullable columns with no default: SQLite adds them without rewriting a row.
-- interim_events counts the journal events between an interrupt's creation and its end (a
-- deadline extended): the ending's `sequence` is 2 plus it, so events stay in order per interrupt.
ALTER TABLE jeeves_interrupts ADD COLUMN created_by TEXT;
ALTER TABLE jeeves_interrupts ADD COLUMN policy TEXT;
ALTER TABLE jeeves_interrupts ADD COLUMN action_hash TEXT;
ALTER TABLE jeeves_interrupts ADD COLUMN resolution TEXT;
ALTER TABLE jeeves_interrupts ADD COLUMN consumed_at TEXT;
ALTER TABLE jeeves_interrupts ADD COLUMN interim_events INTEGER NOT NULL DEFAULT 0;
