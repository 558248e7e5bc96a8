-- What this role may read in pg_cron's schema, and whether the role itself is configured read-only.
-- Catalog lookups by name (no regclass cast): a role without USAGE on schema cron gets false, not an error.
SELECT coalesce((SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'cron' AND c.relname = 'job'), false) AS cron_job_select,
       coalesce((SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'cron' AND c.relname = 'job_run_details'), false) AS run_details_select,
       EXISTS (SELECT 1
                 FROM pg_db_role_setting s
                 JOIN pg_roles r ON r.oid = s.setrole
                WHERE r.rolname = current_user
                  AND 'default_transaction_read_only=on' = ANY (s.setconfig)) AS read_only_role
