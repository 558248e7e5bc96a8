-- The secrets table's set values, read once per connection only to mask them in everything cronctl writes;
-- never returned to a command. Placeholders and empty values are not secrets.
SELECT {value}::text
  FROM {table}
 WHERE {value} IS NOT NULL
   AND length({value}::text) >= 4
   AND NOT starts_with({value}::text, %(prefix)s)
 LIMIT 1000
