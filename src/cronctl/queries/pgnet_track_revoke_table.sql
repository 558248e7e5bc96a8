-- Only the recording function (as the table's owner) writes the log: take every privilege from every other role,
-- PUBLIC included (also ones default privileges handed out), before granting SELECT to the readers.
DO $cronctl$
DECLARE
    target text;
BEGIN
    FOR target IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.oid = 'cronctl.pgnet_request_log'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE 'REVOKE ALL ON TABLE cronctl.pgnet_request_log FROM ' || target;
    END LOOP;
    REVOKE ALL ON TABLE cronctl.pgnet_request_log FROM PUBLIC;
END
$cronctl$
