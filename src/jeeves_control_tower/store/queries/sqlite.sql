-- Named queries for the SQLite store. Placeholders are sqlite3's :name style.

-- name: insert_interrupt
INSERT INTO jeeves_interrupts (
    id, kind, request_id, user_id, session_id, envelope_id, question, message, data, status,
    created_at, expires_at, trace_id, span_id, idempotency_key)
VALUES (
    :id, :kind, :request_id, :user_id, :session_id, :envelope_id, :question, :message, :data, :status,
    :created_at, :expires_at, :trace_id, :span_id, :idempotency_key)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;

-- name: journal_interrupt
INSERT INTO jeeves_interrupt_events (
    interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
SELECT id, :event_type, :sequence, request_id, user_id, session_id,
       json_object('id', id, 'kind', kind, 'request_id', request_id, 'user_id', user_id,
                   'session_id', session_id, 'envelope_id', envelope_id, 'question', question,
                   'message', message, 'data', json(data), 'status', status,
                   'response', json(response), 'created_at', created_at, 'expires_at', expires_at,
                   'resolved_at', resolved_at, 'trace_id', trace_id, 'span_id', span_id,
                   'idempotency_key', idempotency_key),
       :at
  FROM jeeves_interrupts WHERE id = :id;

-- name: journal_many
-- One journal row for each id in the JSON array :ids, in the array's order: a batch of expiries
-- is journalled by one statement instead of one per interrupt.
INSERT INTO jeeves_interrupt_events (
    interrupt_id, event_type, sequence, request_id, user_id, session_id, payload, created_at)
SELECT i.id, :event_type, :sequence, i.request_id, i.user_id, i.session_id,
       json_object('id', i.id, 'kind', i.kind, 'request_id', i.request_id, 'user_id', i.user_id,
                   'session_id', i.session_id, 'envelope_id', i.envelope_id, 'question', i.question,
                   'message', i.message, 'data', json(i.data), 'status', i.status,
                   'response', json(i.response), 'created_at', i.created_at, 'expires_at', i.expires_at,
                   'resolved_at', i.resolved_at, 'trace_id', i.trace_id, 'span_id', i.span_id,
                   'idempotency_key', i.idempotency_key),
       :at
  FROM json_each(:ids) AS wanted JOIN jeeves_interrupts AS i ON i.id = wanted.value
 ORDER BY wanted.key;

-- name: finish_interrupt
UPDATE jeeves_interrupts
   SET status = :status,
       response = :response,
       resolved_at = :at,
       data = CASE WHEN :data_patch IS NULL THEN data ELSE json_patch(data, :data_patch) END
 WHERE id = :id
   AND status = 'pending'
   AND (expires_at IS NULL OR expires_at > :at)
   AND (:responder_id IS NULL OR user_id = :responder_id)
   AND kind IN (SELECT value FROM json_each(:kinds))
RETURNING *;

-- name: expire_due
UPDATE jeeves_interrupts
   SET status = 'expired', resolved_at = :now
 WHERE id IN (SELECT id FROM jeeves_interrupts
               -- Without statistics the planner prefers (status, created_at, id) from 0003, which
               -- reads every pending row and sorts; the partial expiry index reads only due rows.
               INDEXED BY jeeves_interrupts_pending_expiry
               WHERE status = 'pending' AND expires_at <= :now
               ORDER BY expires_at LIMIT :limit)
RETURNING *;

-- name: expire_one
UPDATE jeeves_interrupts
   SET status = 'expired', resolved_at = :now
 WHERE id = :id AND status = 'pending' AND expires_at <= :now
RETURNING *;

-- name: get_interrupt
SELECT * FROM jeeves_interrupts WHERE id = :id;

-- name: get_by_idempotency_key
SELECT * FROM jeeves_interrupts WHERE idempotency_key = :key;

-- name: pending_for_request
SELECT * FROM jeeves_interrupts
 WHERE request_id = :request_id AND status = 'pending'
   AND (expires_at IS NULL OR expires_at > :now)
 ORDER BY created_at DESC LIMIT 1;

-- name: pending_for_session
SELECT * FROM jeeves_interrupts
 WHERE session_id = :session_id AND status = 'pending'
   AND (expires_at IS NULL OR expires_at > :now)
   AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
 ORDER BY created_at;

-- name: events_after
SELECT seq, event_type, sequence, payload, created_at FROM jeeves_interrupt_events
 WHERE seq > :seq ORDER BY seq LIMIT :limit;

-- name: max_event_seq
SELECT coalesce(max(seq), 0) AS seq FROM jeeves_interrupt_events;

-- name: applied_migrations
SELECT version FROM jeeves_schema_migrations ORDER BY version;

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS jeeves_schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));

-- name: record_migration
INSERT INTO jeeves_schema_migrations (version, name) VALUES (:version, :name) ON CONFLICT (version) DO NOTHING;
