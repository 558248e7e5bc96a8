-- Failed pg_net responses since %(since)s (timed out, no answer, or not 2xx), grouped by what came back.
-- `created` bounds the scan (pg_net indexes it); bodies and errors are cut so the groups stay few and small.
SELECT status_code, coalesce(timed_out, false) AS timed_out, left(error_msg, 300) AS error_msg,
       left(content, 300) AS content, count(*) AS responses, min(created) AS first_seen, max(created) AS last_seen
  FROM net._http_response
 WHERE created >= %(since)s
   AND (%(until)s::timestamptz IS NULL OR created <= %(until)s::timestamptz)
   AND (coalesce(timed_out, false) OR status_code IS NULL OR status_code NOT BETWEEN 200 AND 299)
 GROUP BY 1, 2, 3, 4
