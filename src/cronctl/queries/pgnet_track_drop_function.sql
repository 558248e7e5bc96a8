-- CASCADE also drops trigger cronctl_track_requests on net.http_request_queue: a trigger that depends on a function
-- goes with it, which works without owning pg_net's table (DROP TRIGGER would need its owner).
DROP FUNCTION IF EXISTS cronctl.record_pgnet_request() CASCADE
