-- Facts for the hygiene checks, from settings and the catalog only (any role may read them): pg_net.ttl when pg_net
-- defines it in this backend, and the size of cron.job_run_details (reltuples is the planner's estimate, -1 before
-- the first ANALYZE; never count(*) on a table that holds millions of rows).
SELECT current_setting('pg_net.ttl', true) AS pg_net_ttl,
       extract(epoch FROM nullif(current_setting('pg_net.ttl', true), '')::interval)::float8 AS pg_net_ttl_seconds,
       (SELECT c.reltuples::bigint
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'cron' AND c.relname = 'job_run_details') AS run_details_rows,
       (SELECT pg_total_relation_size(c.oid)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'cron' AND c.relname = 'job_run_details') AS run_details_bytes
