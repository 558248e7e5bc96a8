-- How many pg_cron jobs call pg_net (their runs fail with `schema "net" does not exist` without it).
SELECT count(*) FILTER (WHERE command ~* 'net[.]http_(post|get|delete)') FROM cron.job
