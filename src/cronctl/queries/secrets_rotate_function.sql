-- Whether the SECURITY DEFINER rotation function exists and this role may execute it.
SELECT p.oid IS NOT NULL AS present,
       p.oid IS NOT NULL AND has_function_privilege(p.oid, 'EXECUTE') AS executable,
       to_regclass(%(table)s) IS NOT NULL AS table_present,
       to_regclass(%(table)s) IS NOT NULL AND has_table_privilege(to_regclass(%(table)s), 'UPDATE') AS updatable
  FROM (SELECT to_regprocedure(%(signature)s) AS oid) p
