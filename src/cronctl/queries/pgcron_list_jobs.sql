-- Every job with its newest run, found by walking runid backwards per job (bounded by min_runid or window).
SELECT j.jobid, j.jobname, j.schedule, j.command, j.nodename, j.nodeport, j.database, j.username, j.active,
       r.runid, r.job_pid, r.status, r.return_message, r.start_time, r.end_time
  FROM cron.job j
  LEFT JOIN LATERAL (
        SELECT d.runid, d.job_pid, d.status, d.return_message, d.start_time, d.end_time
          FROM cron.job_run_details d
         WHERE d.jobid = j.jobid
           AND d.runid > coalesce(%(min_runid)s::bigint, (SELECT max(runid) FROM cron.job_run_details) - %(window)s::bigint, 0)
         ORDER BY d.runid DESC
         LIMIT 1
       ) r ON true
 ORDER BY j.jobname NULLS LAST, j.jobid
