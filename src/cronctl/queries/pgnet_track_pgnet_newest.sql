-- The newest request pg_net knows of: the highest id still waiting in the queue, and the highest id of the newest
-- answered batch (every answer of a batch carries the batch's start time in `created`, which pg_net indexes).
SELECT (SELECT max(id) FROM net.http_request_queue) AS queue_newest_id,
       b.created AS response_newest_created,
       (SELECT max(id) FROM net._http_response WHERE created = b.created) AS response_newest_id
  FROM (SELECT max(created) AS created FROM net._http_response) b
