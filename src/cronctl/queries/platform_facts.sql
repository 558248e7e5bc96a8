-- Server, role and extension facts in one row. Only catalog reads and has_*_privilege on OIDs: nothing here
-- needs USAGE on schema cron or net (to_regclass('net.x') raises for a role that may not use net), so this
-- statement never fails for lack of privileges. A missing object gives NULL privileges, read as false.
WITH ns AS (
    SELECT nspname, oid FROM pg_namespace WHERE nspname IN ('cron', 'net')
), rel AS (
    SELECT n.nspname || '.' || c.relname AS name, c.oid
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE (n.nspname = 'cron' AND c.relname IN ('job', 'job_run_details'))
        OR (n.nspname = 'net' AND c.relname IN ('_http_response', 'http_request_queue'))
), me AS (
    SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user
)
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       current_user AS role,
       coalesce((SELECT rolsuper FROM me), false) AS superuser,
       coalesce((SELECT rolbypassrls FROM me), false) AS bypassrls,
       current_database() AS database,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_cron') AS pg_cron_extversion,
       EXISTS (SELECT 1 FROM ns WHERE nspname = 'cron') AS cron_schema,
       coalesce((SELECT has_schema_privilege(oid, 'USAGE') FROM ns WHERE nspname = 'cron'), false) AS cron_usage,
       coalesce((SELECT has_table_privilege(oid, 'SELECT') FROM rel WHERE name = 'cron.job'), false)
           AS cron_job_select,
       coalesce((SELECT has_table_privilege(oid, 'SELECT') FROM rel WHERE name = 'cron.job_run_details'), false)
           AS cron_run_details_select,
       EXISTS (SELECT 1 FROM ns WHERE nspname = 'net') AS net_schema,
       coalesce((SELECT has_schema_privilege(oid, 'USAGE') FROM ns WHERE nspname = 'net'), false) AS net_usage,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_net') AS pg_net_extversion,
       EXISTS (SELECT 1 FROM rel WHERE name = 'net._http_response') AS net_response_table,
       coalesce((SELECT has_table_privilege(oid, 'SELECT') FROM rel WHERE name = 'net._http_response'), false)
           AS net_response_select,
       EXISTS (SELECT 1 FROM rel WHERE name = 'net.http_request_queue') AS net_queue_table,
       coalesce((SELECT has_table_privilege(oid, 'SELECT') FROM rel WHERE name = 'net.http_request_queue'), false)
           AS net_queue_select,
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
       (SELECT json_object_agg(name, setting) FROM pg_settings WHERE name LIKE 'cron.%%') AS cron_settings
