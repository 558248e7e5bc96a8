-- The schema, now empty (RESTRICT: if anything else appeared in it meanwhile, nothing is removed).
DROP SCHEMA IF EXISTS cronctl RESTRICT
