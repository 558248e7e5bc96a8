-- Size and newest entry of the tracking log: newest by the queued_at index, highest id by the primary key.
-- The table holds at most the retention window (24 hours by default), so count(*) stays bounded.
SELECT (SELECT count(*) FROM cronctl.pgnet_request_log) AS row_count,
       (SELECT max(queued_at) FROM cronctl.pgnet_request_log) AS newest,
       (SELECT max(request_id) FROM cronctl.pgnet_request_log) AS newest_id
