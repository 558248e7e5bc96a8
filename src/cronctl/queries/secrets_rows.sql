-- Every secret row described without its value: placeholder flag, length and edge characters are computed here.
SELECT {key}::text AS key,
       starts_with({value}::text, %(prefix)s) AS placeholder,
       coalesce(length({value}::text), 0) AS length,
       coalesce({value}::text ~ '^[[:space:]"'']|[[:space:]"'']$', false) AS edge_quote_or_space,
       {updated} AS updated_at,
       {description}::text AS description
  FROM {table}
 ORDER BY 1
