SELECT cron.alter_job(job_id := %(jobid)s, active := %(active)s)
