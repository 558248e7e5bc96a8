-- What this role may read in pg_cron's schema, and whether the role itself is configured read-only.
SELECT coalesce(has_table_privilege(to_regclass('cron.job'), 'SELECT'), false) AS cron_job_select,
       coalesce(has_table_privilege(to_regclass('cron.job_run_details'), 'SELECT'), false) AS run_details_select,
       EXISTS (SELECT 1
                 FROM pg_db_role_setting s
                 JOIN pg_roles r ON r.oid = s.setrole
                WHERE r.rolname = current_user
                  AND 'default_transaction_read_only=on' = ANY (s.setconfig)) AS read_only_role
