-- Requests still waiting in pg_net's queue (the worker deletes a row when it picks it up), newest id first.
-- The queue has no index in real pg_net, but it only holds what the worker has not taken yet.
SELECT id, method::text, url, timeout_milliseconds
  FROM net.http_request_queue
 ORDER BY id DESC
 LIMIT %(n)s
