-- The newest rows of each job key, walking the order column backwards per key (use an indexed column).
-- Table and column identifiers come from the runbook and are composed with psycopg.sql.
SELECT k.key, r.*
  FROM unnest(%(keys)s::text[]) AS k(key)
  CROSS JOIN LATERAL (
        SELECT {id}::text AS id, {started} AS started, {finished} AS finished, {status}::text AS status,
               {message} AS message, {records} AS records, {extras} AS extras
          FROM {table} t
         WHERE t.{job}::text = k.key
         ORDER BY t.{order} DESC
         LIMIT %(n)s
       ) r
