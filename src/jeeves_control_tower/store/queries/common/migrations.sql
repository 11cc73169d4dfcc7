-- The migration runner's statements that read the same in both dialects (store/migrator.py).

-- name: applied_migrations
SELECT version FROM jeeves_schema_migrations ORDER BY version;
