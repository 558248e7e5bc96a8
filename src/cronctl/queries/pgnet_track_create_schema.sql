-- cronctl's own schema for pg_net request tracking.
CREATE SCHEMA IF NOT EXISTS cronctl
