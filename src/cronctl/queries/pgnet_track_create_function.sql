-- Records each queued pg_net request. SECURITY DEFINER (runs as its owner, the installing role)
-- with a pinned search_path, because it fires as whichever role queued the request.
-- Retention: every Nth request (by id) deletes at most a batch of rows older than the retention,
-- oldest first through the queued_at index, skipping rows another backend is deleting: the log
-- stays bounded (expired rows drain ten times faster than requests arrive) and a job's own
-- http_post never waits on the cleanup.
CREATE OR REPLACE FUNCTION cronctl.record_pgnet_request()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $cronctl$
BEGIN
    INSERT INTO cronctl.pgnet_request_log (request_id, backend_pid, queued_at, method, url)
    VALUES (NEW.id, pg_backend_pid(), clock_timestamp(), NEW.method, NEW.url)
    ON CONFLICT (request_id) DO UPDATE
       SET backend_pid = EXCLUDED.backend_pid, queued_at = EXCLUDED.queued_at,
           method = EXCLUDED.method, url = EXCLUDED.url;
    IF NEW.id %% %(cleanup_every)s = 0 THEN
        DELETE FROM cronctl.pgnet_request_log
         WHERE request_id IN (SELECT request_id
                                FROM cronctl.pgnet_request_log
                               WHERE queued_at < clock_timestamp() - %(retention)s::interval
                               ORDER BY queued_at
                               LIMIT %(cleanup_batch)s
                                 FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NULL;
END
$cronctl$
