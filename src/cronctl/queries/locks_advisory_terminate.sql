-- End the holder only if that same session (pid and start time) still holds that same advisory key.
SELECT pg_terminate_backend(l.pid) AS terminated
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory'
   AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.pid = %(pid)s
   AND a.backend_start IS NOT DISTINCT FROM %(backend_start)s
   AND l.classid = %(classid)s::bigint::oid
   AND l.objid = %(objid)s::bigint::oid
   AND l.objsubid = %(objsubid)s
 LIMIT 1
