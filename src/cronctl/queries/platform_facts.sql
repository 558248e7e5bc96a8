-- Server and pg_cron facts in one row; every lookup is a catalog read, none touches job history.
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       current_user AS role,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       current_database() AS database,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_cron') AS pg_cron_extversion,
       EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'cron') AS cron_schema,
       EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'net') AS net_schema,
       (SELECT extversion FROM pg_extension WHERE extname = 'pg_net') AS pg_net_extversion,
       to_regclass('net._http_response') IS NOT NULL AS net_response_table,
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
       (SELECT json_object_agg(name, setting) FROM pg_settings WHERE name LIKE 'cron.%%') AS cron_settings
