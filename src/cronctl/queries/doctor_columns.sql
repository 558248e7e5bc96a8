-- Columns of the tables a runbook maps, with this role's SELECT privilege and USAGE on the table's schema
-- (both are needed to read it); absent tables return no rows.
SELECT n.nspname, c.relname, a.attname, has_table_privilege(c.oid, 'SELECT') AS selectable,
       has_schema_privilege(n.oid, 'USAGE') AS schema_usage
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE (n.nspname || '.' || c.relname) = ANY (%(tables)s)
