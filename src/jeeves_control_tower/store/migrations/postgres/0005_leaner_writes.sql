-- Listing by status: (status, created_at, id) took a new entry on every answer and every expiry
-- (a status change is never a HOT update, so each new row version enters every full index); a
-- partial index of pending interrupts only loses one. Other statuses are most rows, so the
-- (created_at, id) scan finds them at once. Pool connections plan each statement for its own
-- values (see postgres.py), so a young table's plan cannot pick this index for the session query
-- and keep it as the table grows. (SQLite's 0005 also rebuilds its journal; PostgreSQL's journal
-- has no AUTOINCREMENT, and its dispatchers claim rows with FOR UPDATE SKIP LOCKED, which needs
-- the per-row fan-out marks.)
DROP INDEX IF EXISTS jeeves_interrupts_status_id;
CREATE INDEX IF NOT EXISTS jeeves_interrupts_pending_created ON jeeves_interrupts (created_at, id)
    WHERE status = 'pending';
