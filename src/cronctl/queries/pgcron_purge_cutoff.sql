-- The runid range older than the cutoff. runid grows with time, so the cutoff runid is found with a binary
-- search over the primary key (see sources/pgcron.py); this reads one row's start_time by runid.
SELECT runid, start_time FROM cron.job_run_details WHERE runid >= %(runid)s AND start_time IS NOT NULL ORDER BY runid LIMIT 1
