-- Keys (never values) of a secrets table whose value is still a placeholder, plus how many keys there are.
SELECT {key}::text AS key, starts_with({value}::text, %(prefix)s) AS placeholder
  FROM {table}
 ORDER BY 1
