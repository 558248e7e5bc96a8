SELECT cron.alter_job(job_id := %(jobid)s, schedule := %(schedule)s)
