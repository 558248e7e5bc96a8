-- The newest rows of a table that holds one job only (no job column); every row gets the key `all`. Newest
-- first: by the start time, then the order column and the id in their own types (a numeric id sorts as a
-- number, never as its text: id 1000 is newer than id 999). Every ORDER BY names the table's columns (t.…),
-- never the text outputs of the same name. Table and column identifiers come from the runbook and are composed
-- with psycopg.sql.
SELECT {all}::text AS key, r.id, r.started, r.finished, r.status, r.message, r.records, r.extras
  FROM (SELECT {id}::text AS id, {started} AS started, {finished} AS finished, {status}::text AS status,
               {message} AS message, {records} AS records, {extras} AS extras,
               t.{started} AS sort_started, t.{order} AS sort_order, t.{id} AS sort_id
          FROM {table} t
         ORDER BY t.{started} DESC, t.{order} DESC, t.{id} DESC
         LIMIT %(n)s) r
 ORDER BY r.sort_started DESC, r.sort_order DESC, r.sort_id DESC
