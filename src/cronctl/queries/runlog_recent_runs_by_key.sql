-- The newest rows of each job key, newest first: by the start time, then the order column and the id in their
-- own types (a numeric id sorts as a number, never as its text: id 1000 is newer than id 999). Index the job
-- column with the start column (seed 002: (cron_name, started_at DESC)) so each key is one index walk.
-- Every ORDER BY names the table's columns (t.…), never the text outputs of the same name.
-- Table and column identifiers come from the runbook and are composed with psycopg.sql.
SELECT k.key, r.id, r.started, r.finished, r.status, r.message, r.records, r.extras
  FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(key, ord)
  CROSS JOIN LATERAL (
        SELECT {id}::text AS id, {started} AS started, {finished} AS finished, {status}::text AS status,
               {message} AS message, {records} AS records, {extras} AS extras,
               t.{started} AS sort_started, t.{order} AS sort_order, t.{id} AS sort_id
          FROM {table} t
         WHERE t.{job}::text = k.key
         ORDER BY t.{started} DESC, t.{order} DESC, t.{id} DESC
         LIMIT %(n)s
       ) r
 ORDER BY k.ord, r.sort_started DESC, r.sort_order DESC, r.sort_id DESC
