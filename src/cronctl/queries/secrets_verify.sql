-- Whether the stored value now equals the new one (compared in the database; the value is never selected).
SELECT {value}::text = %(value)s::text AS matches, {updated} AS updated_at
  FROM {table}
 WHERE {key} = %(key)s
