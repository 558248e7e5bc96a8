-- The pg_cron scheduler backend (no row: nothing is scheduled). A non-superuser may see NULL pid details.
SELECT pid, backend_type, application_name, datname, backend_start, state
  FROM pg_stat_activity
 WHERE application_name = 'pg_cron scheduler' OR backend_type = 'pg_cron launcher'
 ORDER BY (application_name = 'pg_cron scheduler') DESC
