-- Compare-and-delete: only the exact row that was judged stale. A lock re-acquired (or extended) since
-- it was read differs in holder, acquired or expires time and is left alone.
DELETE FROM {table}
 WHERE {name} = %(name)s
   AND {holder}::text IS NOT DISTINCT FROM %(holder)s::text
   AND {acquired}::timestamptz IS NOT DISTINCT FROM %(acquired_at)s::timestamptz
   AND {expires} IS NOT DISTINCT FROM %(expires_at)s::timestamptz
RETURNING {name}::text
