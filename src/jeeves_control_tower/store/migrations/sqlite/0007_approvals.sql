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
-- Reminders: when the next is due (NULL: none left) and how many went out. The sweep reads only
-- pending interrupts with one due, from a partial index as small as the reminders still to send.
ALTER TABLE jeeves_interrupts ADD COLUMN next_reminder_at TEXT;
ALTER TABLE jeeves_interrupts ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jeeves_interrupts_pending_reminder
    ON jeeves_interrupts (next_reminder_at) WHERE status = 'pending' AND next_reminder_at IS NOT NULL;
-- Who may answer beyond an interrupt's user: "user:<id>" and "group:<name>" per interrupt, so a
-- responder's listing and event stream find theirs by index (the principal comes first).
CREATE TABLE jeeves_interrupt_responders (
    principal    TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    PRIMARY KEY (principal, interrupt_id)
);
-- A token's groups, as a JSON array: its user answers for them.
ALTER TABLE jeeves_api_tokens ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
