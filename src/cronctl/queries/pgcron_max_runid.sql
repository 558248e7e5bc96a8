-- Newest runid: one step down the primary key, used to bound per-job walks.
SELECT max(runid) AS max_runid FROM cron.job_run_details
