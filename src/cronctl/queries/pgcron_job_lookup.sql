-- One job by jobname or jobid, with its command (pgcron run / enable / disable / ...).
SELECT jobid, jobname, schedule, command, database, username, active
  FROM cron.job
 WHERE jobname = %(job)s OR jobid::text = %(job)s
 ORDER BY (jobname = %(job)s) DESC, jobid
