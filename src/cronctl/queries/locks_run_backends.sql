-- The backends still connected among the pids that pg_cron runs in a non-final state were given. A pid that is
-- missing is gone; backend_start tells a reused pid apart (NULL when this role may not see it).
SELECT pid, backend_start
  FROM pg_stat_activity
 WHERE pid = ANY(%(pids)s::int[])
