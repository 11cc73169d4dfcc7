-- Approvals (all opt-in, all NULL for an interrupt that uses none): who raised it, the rules fixed
-- at creation, the hash of the action an answer is bound to, how it ended, and when the agent
-- used its approval. Nullable columns with no default: PostgreSQL adds them without a rewrite.
-- interim_events counts the journal events between an interrupt's creation and its end (a
-- deadline extended): the ending's `sequence` is 2 plus it, so events stay in order per interrupt.
-- A constant default is stored once in the catalog, not written to every row.
ALTER TABLE jeeves_interrupts
    ADD COLUMN created_by text,
    ADD COLUMN policy jsonb,
    ADD COLUMN action_hash text,
    ADD COLUMN resolution text,
    ADD COLUMN consumed_at timestamp with time zone,
    ADD COLUMN interim_events integer NOT NULL DEFAULT 0;
