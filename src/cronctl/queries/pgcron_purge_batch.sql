-- One batch of the purge: a runid range, so each statement touches a bounded slice of the primary key.
DELETE FROM cron.job_run_details WHERE runid >= %(low)s AND runid < %(high)s
