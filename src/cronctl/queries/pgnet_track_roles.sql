-- Which of the given names are roles (to refuse an unknown --reader before anything changes).
SELECT rolname FROM pg_roles WHERE rolname = ANY(%(names)s::text[])
