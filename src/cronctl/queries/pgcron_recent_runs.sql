-- The last %(n)s runs of each named job (and, with %(with_net)s, of every job whose command calls pg_net: they
-- compete for the same answers, so each of those, and each job %(net_jobnames)s the runbook says calls pg_net
-- through a wrapper function, gets up to %(net_n)s runs, enough to cover pg_net.ttl),
-- walking the runid primary key backwards per job.
-- The walk is bounded below: by min_runid when given, else by the newest `window` runids (both NULL: no bound),
-- and above by %(until)s when judging as of a past time.
SELECT j.jobid, j.jobname, r.runid, r.job_pid, r.database, r.username, r.command, r.status,
       r.return_message, r.start_time, r.end_time
  FROM cron.job j
  CROSS JOIN LATERAL (
        SELECT d.runid, d.job_pid, d.database, d.username, d.command, d.status, d.return_message,
               d.start_time, d.end_time
          FROM cron.job_run_details d
         WHERE d.jobid = j.jobid
           AND d.runid > coalesce(%(min_runid)s::bigint, (SELECT max(runid) FROM cron.job_run_details) - %(window)s::bigint, 0)
           AND (NOT %(failed_only)s OR d.status = 'failed')
           AND (%(until)s::timestamptz IS NULL OR d.start_time <= %(until)s::timestamptz)
         ORDER BY d.runid DESC
         LIMIT CASE WHEN %(with_net)s AND (j.command ~* 'net\s*\.\s*http_(post|get|delete)'
                                            OR j.jobname = ANY(%(net_jobnames)s::text[]))
                    THEN greatest(%(n)s, %(net_n)s) ELSE %(n)s END
       ) r
 WHERE j.jobname = ANY(%(jobnames)s::text[]) OR j.jobid::text = ANY(%(jobnames)s::text[])
    OR (%(with_net)s AND j.command ~* 'net\s*\.\s*http_(post|get|delete)')
 ORDER BY j.jobid, r.runid DESC
