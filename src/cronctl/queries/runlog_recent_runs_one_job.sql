-- The newest rows of a table that holds one job only (no job column); every row gets the key `all`.
-- Table and column identifiers come from the runbook and are composed with psycopg.sql.
SELECT {all}::text AS key, r.*
  FROM (SELECT {id}::text AS id, {started} AS started, {finished} AS finished, {status}::text AS status,
               {message} AS message, {records} AS records, {extras} AS extras
          FROM {table} t
         ORDER BY {order} DESC
         LIMIT %(n)s) r
