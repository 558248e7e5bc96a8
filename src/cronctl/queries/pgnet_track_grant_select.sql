-- ... and SELECT on the table; nothing else.
GRANT SELECT ON TABLE cronctl.pgnet_request_log TO {reader}
