-- Every pg_cron job visible to this role (row-level security hides other users' jobs from non-superusers).
SELECT jobid, jobname, schedule, command, active, username
  FROM cron.job
 ORDER BY jobid
