-- Approvals (all opt-in, all NULL for an interrupt that uses none): who raised it, the rules fixed
-- at creation, the hash of the action an answer is bound to, how it ended, and when the agent
-- used its approval. Nullable columns with no default: PostgreSQL adds them without a rewrite.
ALTER TABLE jeeves_interrupts
    ADD COLUMN created_by text,
    ADD COLUMN policy jsonb,
    ADD COLUMN action_hash text,
    ADD COLUMN resolution text,
    ADD COLUMN consumed_at timestamp with time zone;
