-- Granted advisory locks in this database with their holder session (a prepared transaction has no pid).
SELECT l.classid::bigint AS classid,
       l.objid::bigint AS objid,
       l.objsubid::int AS objsubid,
       l.pid,
       l.mode,
       a.pid IS NOT NULL AS backend_found,
       a.application_name,
       host(a.client_addr) AS client_addr,
       a.usename::text AS usename,
       a.state,
       a.backend_start,
       a.xact_start,
       a.state_change
  FROM pg_locks l
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory'
   AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY l.pid
