-- Everything `pgcron track status|install|uninstall` needs to know about the tracking objects, from the catalogs
-- only (no USAGE on schema net or cronctl needed; a missing schema gives NULLs, never an error). One row.
SELECT q.oid IS NOT NULL AS queue_present,
       r.oid IS NOT NULL AS responses_present,
       s.oid IS NOT NULL AS schema_present,
       t.oid IS NOT NULL AS table_present,
       f.oid IS NOT NULL AS function_present,
       tg.oid IS NOT NULL AS trigger_present,
       tg.tgenabled::text AS trigger_mode,
       tg.oid IS NOT NULL AND tg.tgfoid = f.oid AS trigger_calls_function,
       pg_get_userbyid(f.proowner) AS function_owner,
       coalesce(f.prosecdef, false) AS security_definer,
       obj_description(t.oid, 'pg_class') AS table_comment,
       (SELECT array_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END)
          FROM aclexplode(t.relacl) a
         WHERE a.privilege_type = 'SELECT' AND a.grantee <> t.relowner) AS readers,
       (SELECT array_agg(g.tgname || ' on ' || g.tgrelid::regclass::text ORDER BY g.tgname)
          FROM pg_trigger g WHERE g.tgfoid = f.oid) AS function_triggers,
       (SELECT count(*) FROM pg_depend d
         WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = s.oid
           AND (d.classid, d.objid) NOT IN (('pg_class'::regclass, coalesce(t.oid, 0)),
                                            ('pg_proc'::regclass, coalesce(f.oid, 0)))) AS other_objects,
       t.oid IS NOT NULL AND has_schema_privilege(s.oid, 'USAGE') AND has_table_privilege(t.oid, 'SELECT')
         AS log_readable,
       q.oid IS NOT NULL AND has_schema_privilege(qn.oid, 'USAGE') AND has_table_privilege(q.oid, 'SELECT')
         AS queue_readable,
       r.oid IS NOT NULL AND has_schema_privilege(qn.oid, 'USAGE') AND has_table_privilege(r.oid, 'SELECT')
         AS responses_readable,
       q.oid IS NOT NULL AND has_table_privilege(q.oid, 'TRIGGER') AS can_trigger_queue,
       q.oid IS NOT NULL AND pg_has_role(q.relowner, 'USAGE') AS owns_queue,
       CASE WHEN s.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE')
            ELSE has_schema_privilege(s.oid, 'CREATE') END AS can_create,
       f.oid IS NULL OR pg_has_role(f.proowner, 'USAGE') AS owns_function,
       t.oid IS NULL OR pg_has_role(t.relowner, 'USAGE') AS owns_table,
       s.oid IS NULL OR pg_has_role(s.nspowner, 'USAGE') AS owns_schema,
       current_user AS role,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       current_database() AS database
  FROM (SELECT 1) one
  LEFT JOIN pg_namespace qn ON qn.nspname = 'net'
  LEFT JOIN pg_class q ON q.relnamespace = qn.oid AND q.relname = 'http_request_queue' AND q.relkind IN ('r', 'p')
  LEFT JOIN pg_class r ON r.relnamespace = qn.oid AND r.relname = '_http_response' AND r.relkind IN ('r', 'p')
  LEFT JOIN pg_namespace s ON s.nspname = 'cronctl'
  LEFT JOIN pg_class t ON t.relnamespace = s.oid AND t.relname = 'pgnet_request_log' AND t.relkind = 'r'
  LEFT JOIN pg_proc f ON f.pronamespace = s.oid AND f.proname = 'record_pgnet_request' AND f.pronargs = 0
  LEFT JOIN pg_trigger tg ON tg.tgrelid = q.oid AND tg.tgname = 'cronctl_track_requests'
