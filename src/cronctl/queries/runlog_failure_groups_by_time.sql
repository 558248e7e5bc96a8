-- Failed runs of a mapped run-log table since %(since)s, grouped by job and message. The window is a range of
-- the order column, a time column (index it), so the scan covers the window only. Table and column names
-- are filled in with psycopg.sql.
SELECT {key} AS key, left({message}, 300) AS message, count(*) AS runs,
       min(coalesce({finished}, {started})) AS first_seen, max(coalesce({finished}, {started})) AS last_seen
  FROM {table} t
 WHERE t.{order} >= %(search_from)s
   AND ({started} IS NULL OR {started} >= %(since)s)
   AND {failed}
   AND {jobs}
 GROUP BY 1, 2
