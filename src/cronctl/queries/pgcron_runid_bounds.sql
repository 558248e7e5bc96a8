SELECT min(runid) AS min_runid, max(runid) AS max_runid FROM cron.job_run_details
