-- Size of cron.job_run_details from the catalog (reltuples is the planner's estimate; never count(*)).
SELECT c.reltuples::bigint AS estimated_rows,
       pg_total_relation_size(c.oid) AS total_bytes,
       (SELECT max(runid) FROM cron.job_run_details) AS max_runid
  FROM pg_class c
 WHERE c.oid = 'cron.job_run_details'::regclass
