-- The schema cronctl owns (request tracking uses it too).
CREATE SCHEMA IF NOT EXISTS cronctl
