-- Whether a relation exists and is visible (to_regclass is NULL otherwise, without an error).
SELECT to_regclass(%(name)s) IS NOT NULL
