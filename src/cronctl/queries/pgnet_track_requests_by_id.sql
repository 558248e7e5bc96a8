-- Tracked pg_net requests by request id (primary key lookups), e.g. for the ids of known answers.
SELECT request_id, backend_pid, queued_at, method, url
  FROM cronctl.pgnet_request_log
 WHERE request_id = ANY(%(ids)s::bigint[])
 ORDER BY request_id DESC
