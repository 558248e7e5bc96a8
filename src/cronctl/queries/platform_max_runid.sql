-- Newest runid visible to this role (one step down the primary key); run only when the role may read the table.
SELECT max(runid) AS max_runid FROM cron.job_run_details
