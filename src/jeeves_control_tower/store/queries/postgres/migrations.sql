-- The migration runner's statements (store/migrator.py), PostgreSQL. The whole run is one
-- transaction holding an advisory lock, so instances starting at the same moment migrate in turn.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS jeeves_schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());

-- name: lock_migrations
-- "jeeves" in ASCII; released at the end of the transaction.
SELECT pg_advisory_xact_lock(116983726499187);

-- name: record_migration
INSERT INTO jeeves_schema_migrations (version, name) VALUES (:version, :name) ON CONFLICT (version) DO NOTHING
RETURNING version;

-- name: confirm_writable
-- A role without write rights fails in the migration run above; nothing more to check.
SELECT 1;
