-- Tracked pg_net requests queued in [since, until], newest first, walking the queued_at index; capped at n rows.
SELECT request_id, backend_pid, queued_at, method, url
  FROM cronctl.pgnet_request_log
 WHERE queued_at >= %(since)s
   AND queued_at <= coalesce(%(until)s::timestamptz, 'infinity'::timestamptz)
 ORDER BY queued_at DESC
 LIMIT %(n)s
