-- Whether pg_net's response table exists here.
SELECT to_regclass('net._http_response') IS NOT NULL
