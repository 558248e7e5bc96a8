SELECT cron.unschedule(%(jobid)s::bigint)
