-- Readers walk queued_at; so does the retention cleanup.
CREATE INDEX IF NOT EXISTS pgnet_request_log_queued_at_idx ON cronctl.pgnet_request_log (queued_at)
