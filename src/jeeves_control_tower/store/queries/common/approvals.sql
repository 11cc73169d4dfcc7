-- Named queries about approvals that read the same in both dialects.

-- name: pending_summary
-- Who waits on what: pending (not yet due) interrupts counted by kind, addressee and age bucket
-- (0: created after :hour_ago, 1: after :day_ago, 2: after :week_ago, 3: older). One row per
-- group, so the answer stays small however many interrupts wait; it reads the pending ones only.
SELECT kind, user_id,
       CASE WHEN created_at > :hour_ago THEN 0
            WHEN created_at > :day_ago THEN 1
            WHEN created_at > :week_ago THEN 2
            ELSE 3 END AS age,
       count(*) AS waiting
  FROM jeeves_interrupts
 WHERE status = 'pending' AND (expires_at IS NULL OR expires_at > :now)
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3;
