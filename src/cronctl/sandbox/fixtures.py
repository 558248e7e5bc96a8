"""pg_net's tables and request functions as fixture data, for a sandbox where pg_net is not installed.

The tables carry exactly pg_net's columns. `net.http_post` / `net.http_get` queue a request the way the real ones do
(and nothing sends it), so pg_cron commands that call them succeed and leave a queue row behind.
"""

from __future__ import annotations

from typing import Any

PG_NET_DDL = """
CREATE SCHEMA IF NOT EXISTS net;

CREATE TABLE IF NOT EXISTS net.http_request_queue (
    id bigserial PRIMARY KEY,
    method text NOT NULL,
    url text NOT NULL,
    headers jsonb NOT NULL,
    body bytea,
    timeout_milliseconds integer NOT NULL
);

CREATE TABLE IF NOT EXISTS net._http_response (
    id bigint,
    status_code integer,
    content_type text,
    headers jsonb,
    content text,
    timed_out boolean,
    error_msg text,
    created timestamp with time zone NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION net._url_with_params(url text, params jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT CASE
        WHEN params IS NULL OR params = '{}'::jsonb THEN url
        ELSE url || CASE WHEN strpos(url, '?') > 0 THEN '&' ELSE '?' END
                 || (SELECT string_agg(key || '=' || value, '&' ORDER BY key) FROM jsonb_each_text(params))
    END
$fn$;

CREATE OR REPLACE FUNCTION net.http_post(
    url text,
    body jsonb DEFAULT '{}'::jsonb,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
)
RETURNS bigint
LANGUAGE sql
AS $fn$
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('POST', net._url_with_params(url, params), headers, convert_to(body::text, 'UTF8'),
            timeout_milliseconds)
    RETURNING id
$fn$;

CREATE OR REPLACE FUNCTION net.http_get(
    url text,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
)
RETURNS bigint
LANGUAGE sql
AS $fn$
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('GET', net._url_with_params(url, params), headers, NULL, timeout_milliseconds)
    RETURNING id
$fn$;
"""


def create_pg_net_tables(conn: Any) -> None:
    """Create schema `net` with pg_net's two tables and stub request functions (idempotent)."""
    conn.execute(PG_NET_DDL)


def drop_pg_net(conn: Any) -> None:
    """Remove the `net` schema, as on a database where pg_net was never installed."""
    conn.execute("DROP SCHEMA IF EXISTS net CASCADE")
