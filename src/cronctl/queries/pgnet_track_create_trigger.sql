-- Fires in the backend that queues the request (a pg_cron job's own backend), in the same transaction.
CREATE TRIGGER cronctl_track_requests
AFTER INSERT ON net.http_request_queue
FOR EACH ROW EXECUTE FUNCTION cronctl.record_pgnet_request()
