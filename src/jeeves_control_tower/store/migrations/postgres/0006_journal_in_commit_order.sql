-- The journal's seq in commit order. An identity value is drawn when the row is inserted, not when
-- it commits, so two writers (two instances, or one instance's create and answer connections)
-- could commit seq 6 before seq 5; a reader following the journal by "seq > the last one seen"
-- (the event stream, GET /v1/events) then read 6, moved past 5, and never saw it once it
-- committed. Now every journal row draws its seq through jeeves_next_event_seq(), which first
-- takes a transaction-scoped advisory lock: no other transaction can draw a seq until this one
-- has committed or rolled back, so seq order is commit order and a reader can never pass a row
-- that commits later.
--
-- Why it cannot deadlock: a statement draws its first seq only after it holds every row lock it
-- will take (single-row transitions lock their row first; the batch forms sort their journal rows,
-- which drains the UPDATE before the first INSERT; the sweep only skips locked rows), so nobody
-- waits for a row while holding this lock. The cost: journal writers serialise from their first
-- journal row to their commit; a NOTIFY already serialises every committing transition at commit.
CREATE SEQUENCE IF NOT EXISTS jeeves_interrupt_events_seq AS bigint;
ALTER TABLE jeeves_interrupt_events ALTER COLUMN seq DROP IDENTITY IF EXISTS;
-- Continue after the rows already there (never go back: re-running must not reissue a value).
SELECT setval('jeeves_interrupt_events_seq', top.seq, true)
  FROM (SELECT max(seq) AS seq FROM jeeves_interrupt_events) AS top
 WHERE top.seq IS NOT NULL AND top.seq >= (SELECT last_value FROM jeeves_interrupt_events_seq);
ALTER SEQUENCE jeeves_interrupt_events_seq OWNED BY jeeves_interrupt_events.seq;
-- One expression, so PostgreSQL inlines it into the column default (as two statements it cost
-- 1.4 µs a row more than nextval alone; inlined, nothing measurable). CASE evaluates its test
-- first: the lock (keyed by this table, so each schema has its own), then the value. A void
-- prints as '', so the test always holds.
CREATE OR REPLACE FUNCTION jeeves_next_event_seq() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN pg_advisory_xact_lock('jeeves_interrupt_events'::regclass::oid::integer, 0)::text = ''
                THEN nextval('jeeves_interrupt_events_seq') END
$$;
ALTER TABLE jeeves_interrupt_events ALTER COLUMN seq SET DEFAULT jeeves_next_event_seq();
