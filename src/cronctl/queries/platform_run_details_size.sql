-- Size of cron.job_run_details from the catalog (reltuples is the planner's estimate; never count(*)).
-- Found by name in pg_class, not by a regclass cast, so a role without USAGE on schema cron gets it too.
SELECT c.reltuples::bigint AS estimated_rows,
       pg_total_relation_size(c.oid) AS total_bytes
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cron' AND c.relname = 'job_run_details'
