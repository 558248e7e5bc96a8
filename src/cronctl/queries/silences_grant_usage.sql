-- Every operator's triage role must see the silences: the schema is usable by all (as pg_net grants its own).
GRANT USAGE ON SCHEMA cronctl TO PUBLIC
