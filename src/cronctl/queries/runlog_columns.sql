-- The mapped table's columns and their types (no rows: the table does not exist or is not visible). Each row
-- also carries whether row-level security is on, forced, and bypassed by this role, and the role's name.
-- Superusers and BYPASSRLS roles always bypass it; the owner (or a member of the owning role) unless forced.
SELECT a.attname,
       format_type(a.atttypid, NULL),
       c.relrowsecurity,
       c.relforcerowsecurity,
       r.rolsuper OR r.rolbypassrls OR (pg_has_role(c.relowner, 'USAGE') AND NOT c.relforcerowsecurity),
       current_user
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_roles r ON r.rolname = current_user
 WHERE a.attrelid = to_regclass(%(rel)s) AND a.attnum > 0 AND NOT a.attisdropped
