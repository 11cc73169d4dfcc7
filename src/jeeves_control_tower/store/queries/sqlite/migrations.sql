-- The migration runner's statements (store/migrator.py), SQLite. The whole run is one write
-- transaction of the group commit, so two processes opening one file migrate one after the other.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS jeeves_schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));

-- name: lock_migrations
-- BEGIN IMMEDIATE already holds the file's write lock.
SELECT 1;

-- name: record_migration
INSERT INTO jeeves_schema_migrations (version, name) VALUES (:version, :name) ON CONFLICT (version) DO NOTHING;

-- name: confirm_writable
-- SQLite opens a file it may not write read-only without a word, and a schema that is up to date
-- needs no write: rewrite one row (same values; one page, once per open) so that a read-only file
-- fails here, at start, and not on the first answer a human gives.
UPDATE jeeves_schema_migrations SET name = name
 WHERE version = (SELECT max(version) FROM jeeves_schema_migrations);
