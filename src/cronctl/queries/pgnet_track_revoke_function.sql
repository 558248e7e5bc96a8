-- Nobody calls the recording function directly. PostgreSQL checks EXECUTE on a trigger function only when the
-- trigger is created (by the owner), not when it fires, so roles that queue requests need no grant.
REVOKE ALL ON FUNCTION cronctl.record_pgnet_request() FROM PUBLIC
