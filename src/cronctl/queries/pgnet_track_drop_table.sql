-- The log and its index.
DROP TABLE IF EXISTS cronctl.pgnet_request_log
