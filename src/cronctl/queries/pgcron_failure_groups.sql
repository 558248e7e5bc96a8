-- Failed runs of the named jobs since %(since)s, grouped by job and message: the whole window, few rows.
-- The window's first runid is found by a binary search over the runid primary key (runid grows with time):
-- each step reads the first row at or after the midpoint that has a start_time, so rows without one (runs
-- that failed before starting) and gaps left by purges are stepped over; about log2(rows) index probes.
-- The window is then one range scan of the primary key. %(search_from)s is %(since)s less a little slack,
-- because runids are taken when a run is queued and start times when it starts.
WITH RECURSIVE search(lo, hi) AS (
    SELECT min(runid), max(runid) + 1 FROM cron.job_run_details
  UNION ALL
    SELECT CASE WHEN p.start_time < %(search_from)s THEN p.runid + 1 ELSE s.lo END,
           CASE WHEN p.start_time < %(search_from)s THEN s.hi ELSE (s.lo + s.hi) / 2 END
      FROM search s
      LEFT JOIN LATERAL (
            SELECT d.runid, d.start_time
              FROM cron.job_run_details d
             WHERE d.runid >= (s.lo + s.hi) / 2 AND d.start_time IS NOT NULL
             ORDER BY d.runid
             LIMIT 1
           ) p ON true
     WHERE s.lo < s.hi
)
SELECT coalesce(j.jobname, j.jobid::text) AS job, left(d.return_message, 300) AS message, count(*) AS runs,
       min(coalesce(d.end_time, d.start_time)) AS first_seen, max(coalesce(d.end_time, d.start_time)) AS last_seen
  FROM cron.job_run_details d
  JOIN cron.job j ON j.jobid = d.jobid
 WHERE d.runid >= (SELECT s.lo FROM search s WHERE s.lo >= s.hi)
   AND d.status = 'failed'
   AND (d.start_time IS NULL OR d.start_time >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR d.start_time <= %(until)s::timestamptz)
   AND (j.jobname = ANY(%(jobnames)s::text[]) OR j.jobid::text = ANY(%(jobnames)s::text[]))
 GROUP BY 1, 2
