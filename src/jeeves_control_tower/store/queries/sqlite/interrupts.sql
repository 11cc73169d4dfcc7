-- Named queries for the SQLite store. Placeholders are sqlite3's :name style.

-- name: insert_interrupt
-- An interrupt with no approval column set; insert_approval_interrupt writes those too (three
-- fewer parameters to bind on the plain path, which most interrupts take).
INSERT INTO jeeves_interrupts (
    id, kind, request_id, user_id, session_id, envelope_id, question, message, data, status,
    created_at, expires_at, trace_id, span_id, idempotency_key)
VALUES (
    :id, :kind, :request_id, :user_id, :session_id, :envelope_id, :question, :message, :data, :status,
    :created_at, :expires_at, :trace_id, :span_id, :idempotency_key)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;

-- name: insert_approval_interrupt
-- The first reminder is due at the policy's first `reminders_at` (worked out at creation).
INSERT INTO jeeves_interrupts (
    id, kind, request_id, user_id, session_id, envelope_id, question, message, data, status,
    created_at, expires_at, trace_id, span_id, idempotency_key, created_by, policy, action_hash,
    next_reminder_at)
VALUES (
    :id, :kind, :request_id, :user_id, :session_id, :envelope_id, :question, :message, :data, :status,
    :created_at, :expires_at, :trace_id, :span_id, :idempotency_key, :created_by, :policy, :action_hash,
    CASE WHEN :policy IS NOT NULL THEN json_extract(:policy, '$.reminders_at[0]') END)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;

-- name: insert_responders
-- Who may answer the interrupt :id beyond its user: a row per user and group its policy's
-- responders name, as "user:<id>" and "group:<name>".
INSERT INTO jeeves_interrupt_responders (principal, interrupt_id)
SELECT 'user:' || value, :id FROM json_each(:policy, '$.responders.users')
UNION ALL
SELECT 'group:' || value, :id FROM json_each(:policy, '$.responders.groups');

-- name: journal_interrupt
-- The journal row carries no snapshot of the interrupt: it is read back through event_payload
-- (a snapshot per row was ~600 bytes of JSON built on every transition, about one 1 KiB page).
INSERT INTO jeeves_interrupt_events (
    interrupt_id, event_type, sequence, request_id, user_id, session_id, created_at)
VALUES (:id, :event_type, :sequence, :request_id, :user_id, :session_id, :at);

-- name: journal_many
-- One journal row for each id in the JSON array :ids, in the array's order: a batch of expiries
-- is journalled by one statement instead of one per interrupt. With no :event_type, the type follows
-- the status each reached (an expiry that auto-rejects is "interrupt.resolved"). :sequence is the
-- event's place counting no interim event; each interrupt's own interim events come on top.
INSERT INTO jeeves_interrupt_events (
    interrupt_id, event_type, sequence, request_id, user_id, session_id, created_at)
SELECT i.id, coalesce(:event_type, 'interrupt.' || i.status), :sequence + i.interim_events, i.request_id, i.user_id, i.session_id, :at
  FROM json_each(:ids) AS wanted JOIN jeeves_interrupts AS i ON i.id = wanted.value
 ORDER BY wanted.key;

-- name: event_payload
-- An expression, not a statement: journal row `e` as the interrupt `i` stood right after it. A
-- terminal state never changes again, so it is the interrupt row as it is; a creation event is
-- that row still pending and unanswered. Rows written before migration 0005, and creation rows
-- frozen by freeze_created_payload, carry their own snapshot. A BLOB in a text column (written
-- by another tool) leaves it NULL, as JSON cannot hold one: json_object would fail the whole
-- query, and a NULL payload makes just this journal row unreadable.
coalesce(e.payload, CASE WHEN 'blob' IN (
    typeof(i.id), typeof(i.kind), typeof(i.request_id), typeof(i.user_id), typeof(i.session_id),
    typeof(i.envelope_id), typeof(i.question), typeof(i.message), typeof(i.status),
    typeof(i.created_at), typeof(i.expires_at), typeof(i.resolved_at), typeof(i.trace_id),
    typeof(i.span_id), typeof(i.idempotency_key), typeof(i.created_by), typeof(i.action_hash),
    typeof(i.resolution), typeof(i.consumed_at)) THEN NULL ELSE json_object(
    'id', i.id, 'kind', i.kind, 'request_id', i.request_id, 'user_id', i.user_id,
    'session_id', i.session_id, 'envelope_id', i.envelope_id, 'question', i.question,
    -- JSON columns that do not parse (written by another tool) go out quoted, as text that is
    -- no JSON object: json() would fail the whole query, and from_db_row refuses just that row.
    'message', i.message,
    'data', CASE WHEN json_valid(i.data) THEN json(i.data) ELSE quote(i.data) END,
    'status', CASE e.sequence WHEN 1 THEN 'pending' ELSE i.status END,
    'response', CASE WHEN e.sequence = 1 OR i.response IS NULL THEN NULL
                     WHEN json_valid(i.response) THEN json(i.response) ELSE quote(i.response) END,
    'created_at', i.created_at, 'expires_at', i.expires_at,
    'resolved_at', CASE e.sequence WHEN 1 THEN NULL ELSE i.resolved_at END,
    'trace_id', i.trace_id, 'span_id', i.span_id, 'idempotency_key', i.idempotency_key,
    'created_by', i.created_by,
    'policy', CASE WHEN i.policy IS NULL THEN NULL
                   WHEN json_valid(i.policy) THEN json(i.policy) ELSE quote(i.policy) END,
    'action_hash', i.action_hash,
    'resolution', CASE e.sequence WHEN 1 THEN NULL ELSE i.resolution END,
    -- An approval used later does not change the event that ended the interrupt.
    'consumed_at', CASE WHEN e.event_type = 'interrupt.approval_consumed' THEN i.consumed_at END) END)

-- name: events_select
-- Journal rows `e` with the interrupt as it stood (listing.events_statement adds the filters).
SELECT e.seq, e.event_type, e.sequence, {event_payload} AS payload, e.created_at, e.interrupt_id
  FROM jeeves_interrupt_events AS e JOIN jeeves_interrupts AS i ON i.id = e.interrupt_id

-- name: freeze_interim_payloads
-- An interim event (a deadline extended) describes the interrupt as it was then, not as it ends:
-- its snapshot is written out as it is journalled (the interrupt row holds that state now).
UPDATE jeeves_interrupt_events AS e
   SET payload = (SELECT {event_payload} FROM jeeves_interrupts AS i WHERE i.id = e.interrupt_id)
 WHERE e.interrupt_id IN (SELECT value FROM json_each(:ids)) AND e.event_type = :event_type
   AND e.payload IS NULL;

-- name: freeze_created_payload
-- Before a change to `data` (a cancel reason), the creation event keeps the data it had: its
-- snapshot is written out, once, while the row still holds it.
UPDATE jeeves_interrupt_events AS e
   SET payload = (SELECT {event_payload} FROM jeeves_interrupts AS i WHERE i.id = e.interrupt_id)
 WHERE e.interrupt_id = :id AND e.sequence = 1 AND e.payload IS NULL;

-- name: finish_interrupt
-- :kinds is the kinds this answer fits, as ",clarification,confirmation," (see _kinds_list), checked
-- with instr(): `kind IN (SELECT value FROM json_each(...))` built a temporary table on every call.
-- No RETURNING either: SQLite buffers RETURNING rows in another temporary table, and the caller
-- reads the row back by primary key for less. Measured with callgrind on the bare statements:
-- ~30,000 and ~25,000 instructions saved of ~337,000 per create and answer.
UPDATE jeeves_interrupts
   SET status = :status,
       resolved_at = :at,
       -- The answer records the action it was given on: its own (an edit), else the proposed one.
       response = CASE WHEN action_hash IS NULL OR :response IS NULL THEN :response
                       ELSE json_insert(:response, '$.action_hash', action_hash) END,
       data = CASE WHEN :data_patch IS NULL THEN data ELSE json_patch(data, :data_patch) END
 WHERE id = :id
   AND status = 'pending'
   AND (expires_at IS NULL OR expires_at > :at)
   AND (:responder_id IS NULL OR user_id = :responder_id)
   AND instr(:kinds, ',' || kind || ',') > 0
   AND (policy IS NULL OR :policy_checked);

-- name: expiry_outcome
-- An expression: the SET list that ends a due interrupt. Most have no policy and expire; one whose
-- policy holds an `expiry_response` (on_expire "reject" or "approve", worked out at creation)
-- is resolved with it instead. A policy that is not JSON (another tool wrote it) expires.
status = CASE WHEN policy IS NOT NULL AND json_valid(policy)
                   AND json_extract(policy, '$.expiry_response') IS NOT NULL
              THEN 'resolved' ELSE 'expired' END,
-- The resolution a status implies (expired) stays NULL, as an answer's and a cancel's do.
resolution = CASE WHEN policy IS NOT NULL AND json_valid(policy)
                  THEN CASE json_extract(policy, '$.on_expire')
                       WHEN 'reject' THEN 'auto_rejected' WHEN 'approve' THEN 'auto_approved' END END,
response = CASE WHEN policy IS NOT NULL AND json_valid(policy)
                     AND json_extract(policy, '$.expiry_response') IS NOT NULL
                THEN json_set(json_extract(policy, '$.expiry_response'), '$.received_at', :received_at) END,
resolved_at = :now

-- name: expire_due
UPDATE jeeves_interrupts
   SET {expiry_outcome}
 WHERE id IN (SELECT id FROM jeeves_interrupts
               -- Without statistics the planner prefers (status, created_at, id) from 0003, which
               -- reads every pending row and sorts; the partial expiry index reads only due rows.
               INDEXED BY jeeves_interrupts_pending_expiry
               WHERE status = 'pending' AND expires_at <= :now
               ORDER BY expires_at LIMIT :limit)
RETURNING *;

-- name: expire_one
UPDATE jeeves_interrupts
   SET {expiry_outcome}
 WHERE id = :id AND status = 'pending' AND expires_at <= :now
RETURNING *;

-- name: extend_interrupt
-- Move a pending interrupt's expiry from :old_expires_at (a compare-and-set: another extension,
-- an answer or the expiry in between wins) to :new_expires_at, as an interim event.
UPDATE jeeves_interrupts
   SET expires_at = :new_expires_at, interim_events = interim_events + 1
 WHERE id = :id AND status = 'pending' AND expires_at = :old_expires_at AND expires_at > :at
RETURNING *;

-- name: remind_due
-- Up to :limit pending, not yet due interrupts whose next reminder is due: each is reminded once
-- (reminders due together, say after an outage, make one), counts them sent and moves on to the
-- first still ahead (NULL: none left). The caller journals them in the same transaction.
UPDATE jeeves_interrupts
   SET reminders_sent = (SELECT count(*) FROM json_each(policy, '$.reminders_at') WHERE value <= :now),
       interim_events = interim_events + 1,
       next_reminder_at = (SELECT min(value) FROM json_each(policy, '$.reminders_at') WHERE value > :now)
 WHERE id IN (SELECT id FROM jeeves_interrupts
               INDEXED BY jeeves_interrupts_pending_reminder
               WHERE status = 'pending' AND next_reminder_at IS NOT NULL AND next_reminder_at <= :now
                 AND (expires_at IS NULL OR expires_at > :now)
               ORDER BY next_reminder_at LIMIT :limit)
RETURNING *;

-- name: consume_approval
-- The agent uses the approval of :action_hash (the answer's own, else the proposed action's), once.
UPDATE jeeves_interrupts
   SET consumed_at = :at
 WHERE id = :id AND status = 'resolved' AND consumed_at IS NULL
   AND coalesce(CASE WHEN json_valid(response) THEN json_extract(response, '$.action_hash') END,
                action_hash) = :action_hash
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

-- name: journal_position
-- The newest committed journal position (seq is the primary key: one index probe).
SELECT coalesce(max(seq), 0) AS seq FROM jeeves_interrupt_events;
