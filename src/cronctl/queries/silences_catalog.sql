-- Where silences can be kept: is cronctl.silences there, may this role read and write it, and may it create it.
-- Catalog reads and has_*_privilege on OIDs only, so this never fails for lack of privileges.
WITH ns AS (
    SELECT oid FROM pg_namespace WHERE nspname = 'cronctl'
), rel AS (
    SELECT c.oid
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'cronctl' AND c.relname = 'silences'
)
SELECT current_user AS role,
       current_database() AS database,
       EXISTS (SELECT 1 FROM ns) AS schema_present,
       coalesce((SELECT has_schema_privilege(oid, 'USAGE') FROM ns), false) AS schema_usage,
       coalesce((SELECT has_schema_privilege(oid, 'CREATE') FROM ns), false) AS schema_create,
       has_database_privilege(current_database(), 'CREATE') AS database_create,
       EXISTS (SELECT 1 FROM rel) AS table_present,
       coalesce((SELECT has_table_privilege(oid, 'SELECT') FROM rel), false) AS can_select,
       coalesce((SELECT has_table_privilege(oid, 'INSERT') FROM rel), false) AS can_insert,
       coalesce((SELECT has_table_privilege(oid, 'DELETE') FROM rel), false) AS can_delete
