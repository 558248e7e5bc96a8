-- Table and column identifiers come from the runbook and are composed with psycopg.sql.
SELECT {name}::text AS name,
       {holder}::text AS holder,
       {acquired}::timestamptz AS acquired_at,
       {expires} AS expires_at
  FROM {table}
 ORDER BY 3 DESC NULLS LAST
 LIMIT %(limit)s
