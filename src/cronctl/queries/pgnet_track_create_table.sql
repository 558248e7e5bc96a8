-- One row per pg_net request, written when it is queued: which backend queued it (the pg_cron run's job_pid), when.
CREATE TABLE IF NOT EXISTS cronctl.pgnet_request_log (
    request_id bigint PRIMARY KEY,
    backend_pid integer NOT NULL,
    queued_at timestamptz NOT NULL,
    method text,
    url text
)
