-- Failed runs of a mapped run-log table since %(since)s, grouped by job and message. The order column is an
-- increasing number (an id): the window's first value is found by a binary search over it (one index probe
-- per step, rows without a start time stepped over), then the window is one range scan. Table and column names are
-- filled in with psycopg.sql.
WITH RECURSIVE search(lo, hi) AS (
    SELECT min(t.{order})::bigint, max(t.{order})::bigint + 1 FROM {table} t
  UNION ALL
    SELECT CASE WHEN p.started < %(search_from)s THEN p.id + 1 ELSE s.lo END,
           CASE WHEN p.started < %(search_from)s THEN s.hi ELSE (s.lo + s.hi) / 2 END
      FROM search s
      LEFT JOIN LATERAL (
            SELECT t.{order}::bigint AS id, {started} AS started
              FROM {table} t
             WHERE t.{order} >= (s.lo + s.hi) / 2 AND {started} IS NOT NULL
             ORDER BY t.{order}
             LIMIT 1
           ) p ON true
     WHERE s.lo < s.hi
)
SELECT {key} AS key, left({message}, 300) AS message, count(*) AS runs,
       min(coalesce({finished}, {started})) AS first_seen, max(coalesce({finished}, {started})) AS last_seen
  FROM {table} t
 WHERE t.{order} >= (SELECT s.lo FROM search s WHERE s.lo >= s.hi)
   AND ({started} IS NULL OR {started} >= %(since)s)
   AND {failed}
   AND {jobs}
 GROUP BY 1, 2
