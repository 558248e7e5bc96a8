-- The trigger exists but does not fire (disabled, or replica-only); enabling it needs the owner of the queue table.
ALTER TABLE net.http_request_queue ENABLE TRIGGER cronctl_track_requests
