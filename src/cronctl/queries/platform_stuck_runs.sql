-- Runs left in a non-final status whose job_pid is no live backend, among the newest runs of each job
-- (the walk covers only the newest `window` runids of the whole table).
SELECT j.jobid, j.jobname, r.runid, r.job_pid, r.status, r.start_time, r.return_message
  FROM cron.job j
  CROSS JOIN LATERAL (
        SELECT d.runid, d.job_pid, d.status, d.start_time, d.return_message
          FROM cron.job_run_details d
         WHERE d.jobid = j.jobid
           AND d.runid > coalesce((SELECT max(runid) FROM cron.job_run_details) - %(window)s::bigint, 0)
         ORDER BY d.runid DESC
         LIMIT %(n)s
       ) r
 WHERE r.status IN ('starting', 'connecting', 'sending', 'running')
   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.job_pid)
 ORDER BY r.runid DESC
