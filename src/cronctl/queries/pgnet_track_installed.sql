-- Is cronctl's pg_net request tracking in place, and can this role read it? One row, catalogs only: it needs
-- no USAGE on schema net or cronctl and never fails when either is missing, so it can ride in a pipelined batch.
SELECT t.oid IS NOT NULL AND f.oid IS NOT NULL AND tg.oid IS NOT NULL AND tg.tgfoid = f.oid AS installed,
       coalesce(tg.tgenabled IN ('O', 'A') AND tg.tgfoid = f.oid, false) AS trigger_enabled,
       t.oid IS NOT NULL AND has_schema_privilege(s.oid, 'USAGE') AND has_table_privilege(t.oid, 'SELECT') AS readable
  FROM (SELECT 1) one
  LEFT JOIN pg_namespace s ON s.nspname = 'cronctl'
  LEFT JOIN pg_class t ON t.relnamespace = s.oid AND t.relname = 'pgnet_request_log' AND t.relkind = 'r'
  LEFT JOIN pg_proc f ON f.pronamespace = s.oid AND f.proname = 'record_pgnet_request' AND f.pronargs = 0
  LEFT JOIN pg_namespace qn ON qn.nspname = 'net'
  LEFT JOIN pg_class q ON q.relnamespace = qn.oid AND q.relname = 'http_request_queue'
  LEFT JOIN pg_trigger tg ON tg.tgrelid = q.oid AND tg.tgname = 'cronctl_track_requests'
