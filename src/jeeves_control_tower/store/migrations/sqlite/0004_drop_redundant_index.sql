-- 0003's jeeves_interrupts_user_id (user_id, created_at, id) serves every query the older
-- (user_id, created_at) index did; keeping both cost an extra index write on every create.
DROP INDEX IF EXISTS jeeves_interrupts_user_created;
