-- Fewer pages per commit. A WAL commit writes every b-tree page it touched (two system calls a
-- page), so each index a transition updates costs a page per commit; `python -m bench.wal_frames`
-- counts them. This drops about nine per round trip without losing an indexed query:
--
-- 1. The journal loses AUTOINCREMENT: it updated sqlite_sequence on every event. `seq` stays an
--    INTEGER PRIMARY KEY, so it is still max(seq) + 1 under the write lock, in commit order, and
--    journal rows are never deleted, so no seq is ever reused.
-- 2. Webhook fan-out keeps one cursor row instead of marking every journal row fanned_out_at
--    (an index entry per event, and an UPDATE rewriting journal pages behind it). One writer at a
--    time commits journal rows in seq order, so everything past the cursor is exactly what is new.
-- 3. Journal rows no longer carry a JSON snapshot of the interrupt (about 600 bytes, most of a
--    1 KiB page per event): readers derive it from the interrupt row (the `event_payload`
--    expression in queries/sqlite/interrupts.sql). Rows written before keep theirs.
-- 4. Listing by status: (status, created_at, id) moved every answered interrupt's entry; a partial
--    index of pending ones only loses it. Other statuses are most rows: the (created_at, id) scan
--    finds them at once.
CREATE TABLE jeeves_interrupt_events_new (
    seq          INTEGER PRIMARY KEY,
    interrupt_id TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    sequence     INTEGER NOT NULL,
    request_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    payload      TEXT,
    created_at   TEXT NOT NULL,
    -- one creation event and at most one terminal event per interrupt, enforced by the database
    UNIQUE (interrupt_id, sequence)
);
INSERT INTO jeeves_interrupt_events_new (
    seq, interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
SELECT seq, interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at
  FROM jeeves_interrupt_events ORDER BY seq;
CREATE TABLE jeeves_webhook_fanout (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
-- Rows not yet fanned out stay ahead of the cursor (they were always a suffix: fan-out went in
-- seq order); with none, the cursor starts at the end of the journal.
INSERT INTO jeeves_webhook_fanout (id, last_seq) VALUES (1, coalesce(
    (SELECT min(seq) - 1 FROM jeeves_interrupt_events WHERE fanned_out_at IS NULL),
    (SELECT max(seq) FROM jeeves_interrupt_events),
    0));
DROP TABLE jeeves_interrupt_events;
ALTER TABLE jeeves_interrupt_events_new RENAME TO jeeves_interrupt_events;
CREATE INDEX jeeves_interrupt_events_user ON jeeves_interrupt_events (user_id, seq);
CREATE INDEX jeeves_interrupt_events_session ON jeeves_interrupt_events (session_id, seq);
DROP INDEX IF EXISTS jeeves_interrupts_status_id;
CREATE INDEX jeeves_interrupts_pending_created ON jeeves_interrupts (created_at, id) WHERE status = 'pending';
