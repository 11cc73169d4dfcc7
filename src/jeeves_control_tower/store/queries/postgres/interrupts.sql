-- Named queries for the PostgreSQL store (and any DatabaseProtocol object speaking PostgreSQL).
-- Parameters are named (`:id`, compiled to $n by store/connector.py). Each transition is ONE
-- statement: the UPDATE, its journal row and the wake-up NOTIFY commit together or not at all.
-- The *_interrupts (plural) statements are the group-commit forms of the same transitions: one array parameter per column, one row per
-- caller, every row checked by the same conditions as the single-row statement.

-- name: create_interrupt
WITH inserted AS (
    INSERT INTO jeeves_interrupts (
        id, kind, request_id, user_id, session_id, envelope_id, question, message, data, status,
        created_at, expires_at, trace_id, span_id, idempotency_key, created_by, policy, action_hash,
        next_reminder_at)
    VALUES (:id, :kind, :request_id, :user_id, :session_id, :envelope_id, :question, :message, :data::jsonb,
            'pending', :created_at, :expires_at, :trace_id, :span_id, :idempotency_key,
            :created_by, :policy::jsonb, :action_hash, (:policy::jsonb -> 'reminders_at' ->> 0)::timestamptz)
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, :event_type, 1, request_id, user_id, session_id, to_jsonb(inserted), created_at FROM inserted
), responders AS (
    -- Who may answer beyond its user: "user:<id>" and "group:<name>" per responder (none for most).
    INSERT INTO jeeves_interrupt_responders (principal, interrupt_id)
    SELECT 'user:' || name, inserted.id
      FROM inserted, jsonb_array_elements_text(inserted.policy -> 'responders' -> 'users') AS name
    UNION ALL
    SELECT 'group:' || name, inserted.id
      FROM inserted, jsonb_array_elements_text(inserted.policy -> 'responders' -> 'groups') AS name
)
SELECT id FROM inserted;

-- name: create_interrupts
-- Several creates in one statement and one commit. A row whose idempotency key is already used
-- (also by an earlier row of the same batch) is skipped, exactly as create_interrupt skips it.
WITH batch AS (
    SELECT * FROM unnest(:id::text[], :kind::text[], :request_id::text[], :user_id::text[],
                         :session_id::text[], :envelope_id::text[], :question::text[], :message::text[],
                         :data::text[], :created_at::timestamptz[], :expires_at::timestamptz[],
                         :trace_id::text[], :span_id::text[], :idempotency_key::text[], :event_type::text[],
                         :created_by::text[], :policy::text[], :action_hash::text[])
        WITH ORDINALITY AS b(id, kind, request_id, user_id, session_id, envelope_id, question, message,
                             data, created_at, expires_at, trace_id, span_id, idempotency_key,
                             event_type, created_by, policy, action_hash, position)
), inserted AS (
    INSERT INTO jeeves_interrupts (
        id, kind, request_id, user_id, session_id, envelope_id, question, message, data, status,
        created_at, expires_at, trace_id, span_id, idempotency_key, created_by, policy, action_hash,
        next_reminder_at)
    SELECT id, kind, request_id, user_id, session_id, envelope_id, question, message, data::jsonb,
           'pending', created_at, expires_at, trace_id, span_id, idempotency_key,
           created_by, policy::jsonb, action_hash, (policy::jsonb -> 'reminders_at' ->> 0)::timestamptz
      FROM batch ORDER BY position
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT inserted.id, batch.event_type, 1, inserted.request_id, inserted.user_id, inserted.session_id,
           to_jsonb(inserted), inserted.created_at
      FROM inserted JOIN batch ON batch.id = inserted.id
     ORDER BY batch.position
), responders AS (
    INSERT INTO jeeves_interrupt_responders (principal, interrupt_id)
    SELECT 'user:' || name, inserted.id
      FROM inserted, jsonb_array_elements_text(inserted.policy -> 'responders' -> 'users') AS name
    UNION ALL
    SELECT 'group:' || name, inserted.id
      FROM inserted, jsonb_array_elements_text(inserted.policy -> 'responders' -> 'groups') AS name
)
SELECT id FROM inserted;

-- name: finish_interrupt
WITH finished AS (
    UPDATE jeeves_interrupts
       SET status = :status, resolved_at = :at,
           -- The answer records the action it was given on: its own (an edit), else the proposed one.
           response = CASE WHEN action_hash IS NULL THEN :response::jsonb
                           ELSE jsonb_build_object('action_hash', action_hash) || :response::jsonb END,
           data = CASE WHEN :data_patch::jsonb IS NULL THEN data ELSE data || :data_patch::jsonb END
     WHERE id = :id
       AND status = 'pending'
       AND (expires_at IS NULL OR expires_at > :at)
       AND (:responder_id::text IS NULL OR user_id = :responder_id)
       AND kind = ANY(:kinds::text[])
       AND (policy IS NULL OR :policy_checked::boolean)
    RETURNING *
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, :event_type, 2 + interim_events, request_id, user_id, session_id, to_jsonb(finished), resolved_at
      FROM finished
)
SELECT finished.* FROM finished, LATERAL (SELECT pg_notify('jeeves_interrupts', finished.id)) AS woken;

-- name: finish_interrupts
-- Several finishes in one statement and one commit; the caller never puts one interrupt in a
-- batch twice. :kinds holds each row's allowed kinds joined by commas (kinds are plain words).
-- Rows are found by primary key only: "still pending" is compared with the batch's
-- `from_status` column, a join condition, so the planner cannot read a pending partial index
-- instead (those hold an entry for every interrupt created since the last VACUUM, and a
-- BitmapAnd with one cost 10 ms per batch on a table no one had vacuumed).
WITH batch AS MATERIALIZED (
    SELECT b.*, 'pending'::text AS from_status
      FROM unnest(:id::text[], :status::text[], :response::text[], :at::timestamptz[],
                  :data_patch::text[], :responder_id::text[], :kinds::text[], :event_type::text[],
                  :policy_checked::boolean[])
           WITH ORDINALITY AS b(id, status, response, at, data_patch, responder_id, kinds, event_type,
                                policy_checked, position)
), finished AS (
    UPDATE jeeves_interrupts AS i
       SET status = batch.status, resolved_at = batch.at,
           response = CASE WHEN i.action_hash IS NULL THEN batch.response::jsonb
                           ELSE jsonb_build_object('action_hash', i.action_hash) || batch.response::jsonb END,
           data = CASE WHEN batch.data_patch IS NULL THEN i.data ELSE i.data || batch.data_patch::jsonb END
      FROM batch
     WHERE i.id = ANY(:id::text[])
       AND i.id = batch.id
       AND i.status = batch.from_status
       AND (i.expires_at IS NULL OR i.expires_at > batch.at)
       AND (batch.responder_id IS NULL OR i.user_id = batch.responder_id)
       AND i.kind = ANY(string_to_array(batch.kinds, ','))
       AND (i.policy IS NULL OR batch.policy_checked)
    RETURNING i.*
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT finished.id, batch.event_type, 2 + finished.interim_events, finished.request_id, finished.user_id,
           finished.session_id,
           to_jsonb(finished), finished.resolved_at
      FROM finished JOIN batch ON batch.id = finished.id
     ORDER BY batch.position
)
SELECT finished.* FROM finished, LATERAL (SELECT pg_notify('jeeves_interrupts', finished.id)) AS woken;

-- name: expiry_outcome
-- An expression: the SET list that ends a due interrupt `i`. Most have no policy and expire; one
-- whose policy holds an `expiry_response` (on_expire "reject" or "approve", worked out at
-- creation) is resolved with it instead.
status = CASE WHEN i.policy->'expiry_response' IS NULL THEN 'expired' ELSE 'resolved' END,
-- The resolution a status implies (expired) stays NULL, as an answer's and a cancel's do.
resolution = CASE i.policy->>'on_expire' WHEN 'reject' THEN 'auto_rejected' WHEN 'approve' THEN 'auto_approved' END,
response = i.policy->'expiry_response' || jsonb_build_object('received_at', :received_at::text),
resolved_at = :now

-- name: expire_due
WITH due AS (
    -- ctid: the locked row's own address, so the UPDATE goes straight to it (a TID scan) instead
    -- of looking every due row up again through the primary key. It cannot move while locked.
    SELECT ctid FROM jeeves_interrupts
     WHERE status = 'pending' AND expires_at <= :now
     ORDER BY expires_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE jeeves_interrupts AS i
       SET {expiry_outcome}
      FROM due
     WHERE i.ctid = due.ctid AND i.status = 'pending'
    RETURNING i.*
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, 'interrupt.' || status, 2 + interim_events, request_id, user_id, session_id, to_jsonb(expired), resolved_at
      FROM expired
), woken AS (
    -- One NOTIFY per batch, not per interrupt ('*': every waiter re-reads); notifications are
    -- queued under a global lock, and 10,000 of them were most of a large sweep's time.
    SELECT pg_notify('jeeves_interrupts', '*') AS sent
     WHERE EXISTS (SELECT 1 FROM expired)
)
-- A one-time filter runs the NOTIFY once; a LEFT JOIN to it would be removed by the planner.
SELECT expired.* FROM expired WHERE (SELECT count(*) FROM woken) >= 0;

-- name: extend_interrupt
-- Move a pending interrupt's expiry from :old_expires_at (a compare-and-set: another extension,
-- an answer or the expiry in between wins) to :new_expires_at, journalled as an interim event.
WITH extended AS (
    UPDATE jeeves_interrupts
       SET expires_at = :new_expires_at, interim_events = interim_events + 1
     WHERE id = :id AND status = 'pending' AND expires_at = :old_expires_at AND expires_at > :at
    RETURNING *
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, :event_type::text, :sequence::integer + interim_events, request_id, user_id, session_id,
           to_jsonb(extended), :at
      FROM extended
)
SELECT extended.* FROM extended, LATERAL (SELECT pg_notify('jeeves_interrupts', extended.id)) AS woken;

-- name: remind_due
-- Up to :limit pending, not yet due interrupts whose next reminder is due, each sent once however
-- many instances sweep (SKIP LOCKED), journalled as an interim event with its own snapshot.
WITH due AS (
    SELECT ctid FROM jeeves_interrupts
     WHERE status = 'pending' AND next_reminder_at IS NOT NULL AND next_reminder_at <= :now
       AND (expires_at IS NULL OR expires_at > :now)
     ORDER BY next_reminder_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
), reminded AS (
    -- Reminders due together (say after an outage) make one; the next is the first still ahead.
    UPDATE jeeves_interrupts AS i
       SET reminders_sent = (SELECT count(*) FROM jsonb_array_elements_text(i.policy -> 'reminders_at') AS r
                              WHERE r::timestamptz <= :now),
           interim_events = i.interim_events + 1,
           next_reminder_at = (SELECT min(r::timestamptz) FROM jsonb_array_elements_text(i.policy -> 'reminders_at') AS r
                                WHERE r::timestamptz > :now)
      FROM due
     WHERE i.ctid = due.ctid AND i.status = 'pending'
    RETURNING i.*
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, :event_type::text, :sequence::integer + interim_events, request_id, user_id, session_id,
           to_jsonb(reminded), :now
      FROM reminded
), woken AS (
    SELECT pg_notify('jeeves_interrupts', '*') AS sent WHERE EXISTS (SELECT 1 FROM reminded)
)
SELECT reminded.* FROM reminded WHERE (SELECT count(*) FROM woken) >= 0;

-- name: consume_approval
-- The agent uses the approval of :action_hash (the answer's own, else the proposed action's), once.
WITH used AS (
    UPDATE jeeves_interrupts
       SET consumed_at = :at
     WHERE id = :id AND status = 'resolved' AND consumed_at IS NULL
       AND coalesce(response->>'action_hash', action_hash) = :action_hash
    RETURNING *
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, :event_type::text, :sequence::integer + interim_events, request_id, user_id, session_id, to_jsonb(used),
           consumed_at
      FROM used
)
SELECT used.* FROM used, LATERAL (SELECT pg_notify('jeeves_interrupts', used.id)) AS woken;

-- name: get_interrupt
SELECT * FROM jeeves_interrupts WHERE id = :id;

-- name: get_by_idempotency_key
SELECT * FROM jeeves_interrupts WHERE idempotency_key = :key;

-- name: get_interrupts
SELECT * FROM jeeves_interrupts WHERE id = ANY(:ids::text[]);

-- name: get_by_idempotency_keys
SELECT * FROM jeeves_interrupts WHERE idempotency_key = ANY(:keys::text[]);

-- name: pending_for_request
SELECT * FROM jeeves_interrupts
 WHERE request_id = :request_id AND status = 'pending' AND (expires_at IS NULL OR expires_at > :now)
 ORDER BY created_at DESC LIMIT 1;

-- name: pending_for_session
SELECT * FROM jeeves_interrupts
 WHERE session_id = :session_id AND status = 'pending' AND (expires_at IS NULL OR expires_at > :now)
   AND (:kinds::text[] IS NULL OR kind = ANY(:kinds::text[]))
 ORDER BY created_at;

-- name: expire_one
-- One named interrupt (a waiter or reader found it due). Unlike the sweep it WAITS for a row
-- lock instead of skipping it: if another process is expiring or answering it right now, this
-- returns nothing only after that commit, so the caller's re-read sees the final state, never a
-- stale "pending".
WITH due AS (
    SELECT id FROM jeeves_interrupts
     WHERE status = 'pending' AND expires_at <= :now AND id = :id
       FOR UPDATE
), expired AS (
    UPDATE jeeves_interrupts AS i
       SET {expiry_outcome}
      FROM due
     WHERE i.id = due.id AND i.status = 'pending'
    RETURNING i.*
), journal AS (
    INSERT INTO jeeves_interrupt_events (
        interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
    SELECT id, 'interrupt.' || status, 2 + interim_events, request_id, user_id, session_id, to_jsonb(expired), resolved_at
      FROM expired
)
SELECT expired.* FROM expired, LATERAL (SELECT pg_notify('jeeves_interrupts', expired.id)) AS woken;

-- name: journal_position
-- The newest committed journal position (seq is the primary key: one index probe).
SELECT coalesce(max(seq), 0) AS seq FROM jeeves_interrupt_events;

-- name: events_select
-- Journal rows `e`, each with its own snapshot (listing.events_statement adds the filters).
SELECT e.seq, e.event_type, e.sequence, e.payload, e.created_at, e.interrupt_id
  FROM jeeves_interrupt_events AS e
