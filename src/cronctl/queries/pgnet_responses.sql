-- pg_net responses created since a time, newest first. pg_net keeps them for pg_net.ttl (6 h by default).
-- Bodies are cut at %(content_limit)s characters: enough to judge a success rule, bounded in size.
SELECT id, status_code, content_type, left(content, %(content_limit)s) AS content, timed_out, error_msg, created
  FROM net._http_response
 WHERE created >= %(since)s
   AND (%(until)s::timestamptz IS NULL OR created <= %(until)s::timestamptz)
 ORDER BY created DESC, id DESC
 LIMIT %(n)s
