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
    ADD COLUMN interim_events integer NOT NULL DEFAULT 0,
    -- Reminders: when the next is due (NULL: none left) and how many went out.
    ADD COLUMN next_reminder_at timestamp with time zone,
    ADD COLUMN reminders_sent integer NOT NULL DEFAULT 0;
-- The sweep reads only pending interrupts with a reminder due, from an index as small as the
-- reminders still to send.
CREATE INDEX jeeves_interrupts_pending_reminder
    ON jeeves_interrupts (next_reminder_at) WHERE status = 'pending' AND next_reminder_at IS NOT NULL;
-- Who may answer beyond an interrupt's user: "user:<id>" and "group:<name>" per interrupt, so a
-- responder's listing and event stream find theirs by index (the principal comes first).
CREATE TABLE jeeves_interrupt_responders (
    principal    text NOT NULL,
    interrupt_id text NOT NULL,
    PRIMARY KEY (principal, interrupt_id)
);
-- A token's groups, as a JSON array: its user answers for them.
ALTER TABLE jeeves_api_tokens ADD COLUMN groups text NOT NULL DEFAULT '[]';
