"""The sandbox's pg_net stand-in behaves like real pg_net 0.20 where cronctl's judgement depends on it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest

from cronctl_sandbox.cluster import free_port
from cronctl_sandbox.fixtures import (
    COULDNT_CONNECT,
    COULDNT_RESOLVE_HOST,
    NetAnswer,
    PgNetWorker,
    answer_queued,
    create_pg_net_tables,
    timeout_error_msg,
)
from cronctl_sandbox.jobserver import JobServer, Reply, Route

# src/errors.c of supabase/pg_net: snprintf(..., "Timeout of %d ms reached. Total time: %f ms (DNS time: %f ms,
# TCP/SSL handshake time: %f ms, HTTP Request/Response time: %f ms)", ...)
NUMBER = r"\d+\.\d{6}"
TIMEOUT_TEXT = re.compile(
    rf"Timeout of (\d+) ms reached\. Total time: ({NUMBER}) ms \(DNS time: {NUMBER} ms, TCP/SSL handshake time:"
    rf" {NUMBER} ms, HTTP Request/Response time: ({NUMBER}) ms\)"
)


@pytest.fixture
def db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        create_pg_net_tables(conn)
        yield conn


@pytest.fixture
def server() -> Iterator[JobServer]:
    with JobServer(
        [
            Route("POST", "/ok", responses=[Reply(json={"success": True})]),
            Route("POST", "/fail", responses=[Reply(status=500, json={"success": False, "error": "db down"})]),
            Route("POST", "/hang", responses=[Reply(hang=True)]),
            Route("POST", "/slow", responses=[Reply(delay=0.6, json={"ok": True})]),
            Route("GET", "/moved", responses=[Reply(status=302, headers={"Location": "/health"})]),
            Route("GET", "/health", responses=[Reply(json={"healthy": True})]),
        ]
    ) as srv:
        yield srv


def queue(conn: psycopg.Connection, url: str, timeout_ms: int = 5000, method: str = "post") -> int:
    if method == "get":
        row = conn.execute("SELECT net.http_get(%s, timeout_milliseconds := %s)", [url, timeout_ms]).fetchone()
    else:
        row = conn.execute(
            "SELECT net.http_post(%s, '{\"job\": 1}'::jsonb, timeout_milliseconds := %s)", [url, timeout_ms]
        ).fetchone()
    assert row is not None
    return int(row[0])


def responses(conn: psycopg.Connection) -> dict[int, tuple]:
    rows = conn.execute(
        "SELECT id, status_code, content_type, headers, content, timed_out, error_msg, created FROM net._http_response"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_worker_answers_a_batch_like_pg_net(db, server, clean_db) -> None:
    refused = f"http://127.0.0.1:{free_port()}/gone"
    # Co-firing jobs: every request is queued before the worker's next batch, as at a minute boundary.
    ids = {
        "ok": queue(db, server.url + "/ok"),
        "fail": queue(db, server.url + "/fail"),
        "hang": queue(db, server.url + "/hang", timeout_ms=700),
        "refused": queue(db, refused),
        "moved": queue(db, server.url + "/moved", method="get"),
    }
    queued_at = db.execute("SELECT now()").fetchone()[0]
    with PgNetWorker(clean_db, poll=0.05) as worker:
        # While the slowest request runs, nothing of the batch is visible: queue rows stay, no answers yet.
        time.sleep(0.4)
        assert responses(db) == {}
        assert db.execute("SELECT count(*) FROM net.http_request_queue").fetchone() == (5,)
        wait_for(lambda: len(responses(db)) == 5)
        assert worker.wait_idle()
    assert worker.error is None
    assert db.execute("SELECT count(*) FROM net.http_request_queue").fetchone() == (0,)
    got = responses(db)
    assert set(got) == set(ids.values())  # the answer's id is the queue row's id
    created = {row[6] for row in got.values()}
    assert len(created) == 1  # one batch, one `created`: the batch start, not each answer's arrival
    (batch,) = worker.batches
    assert created == {batch.started} and batch.started >= queued_at
    assert sorted(batch.ids) == sorted(ids.values())

    status, ctype, headers, content, timed_out, error, _ = got[ids["ok"]]
    assert (status, ctype, content, timed_out, error) == (200, "application/json", '{"success": true}', False, None)
    assert headers["Content-Type"] == "application/json"
    assert got[ids["fail"]][0] == 500 and '"success": false' in got[ids["fail"]][3]

    status, ctype, headers, content, timed_out, error, _ = got[ids["hang"]]
    assert (status, ctype, headers, content, timed_out) == (None, None, None, None, True)
    match = TIMEOUT_TEXT.fullmatch(error)
    assert match, error
    assert match.group(1) == "700" and 700 <= float(match.group(2)) < 1500

    status, _, _, _, timed_out, error, _ = got[ids["refused"]]
    assert (status, timed_out, error) == (None, False, COULDNT_CONNECT)
    assert got[ids["moved"]][0] == 200 and "healthy" in got[ids["moved"]][3]  # pg_net follows redirects

    sent = {r.path: r for r in server.requests}
    assert sent["/ok"].headers["user-agent"] == "pg_net/0.20.0"
    assert sent["/ok"].json() == {"job": 1}


def test_worker_takes_later_requests_in_a_new_batch(db, server, clean_db) -> None:
    with PgNetWorker(clean_db, poll=0.05) as worker:
        first = queue(db, server.url + "/slow")
        wait_for(lambda: any(r.path == "/slow" for r in server.requests))
        second = queue(db, server.url + "/ok")  # queued while the first batch is still running
        assert responses(db) == {}
        wait_for(lambda: len(responses(db)) == 2)
    got = responses(db)
    assert [b.ids for b in worker.batches] == [(first,), (second,)]
    assert got[second][6] > got[first][6]  # its own batch start


def test_worker_unresolvable_host_and_expiry(db, clean_db) -> None:
    rid = queue(db, "http://no-such-host.invalid/x")
    db.execute("INSERT INTO net._http_response (id, status_code, created) VALUES (0, 200, now() - interval '7 hours')")
    with PgNetWorker(clean_db, poll=0.05) as worker:
        wait_for(lambda: rid in responses(db))
        assert worker.wait_idle()
    got = responses(db)
    assert got[rid][4:6] == (False, COULDNT_RESOLVE_HOST)
    assert 0 not in got  # older than pg_net.ttl (6 hours): deleted


def test_answer_queued_without_http(db) -> None:
    fast = queue(db, "http://127.0.0.1:9/a", timeout_ms=1000)
    slow = queue(db, "http://127.0.0.1:9/b", timeout_ms=2500)
    other = queue(db, "http://127.0.0.1:9/c")
    batch = datetime.now().astimezone() - timedelta(seconds=3)
    assert answer_queued(db, {fast: (401, '{"error": "unauthorized"}'), slow: NetAnswer.timeout()}, batch) == [
        fast,
        slow,
    ]
    got = responses(db)
    assert got[fast][:2] == (401, "application/json") and got[fast][4:6] == (False, None)
    assert got[slow][0] is None and got[slow][4] is True
    match = TIMEOUT_TEXT.fullmatch(got[slow][5])
    assert match and match.group(1) == "2500"  # the request's own timeout
    assert got[fast][6] == got[slow][6] == batch
    assert [r[0] for r in db.execute("SELECT id FROM net.http_request_queue").fetchall()] == [other]
    with pytest.raises(ValueError, match=str(fast)):
        answer_queued(db, {fast: (200, "{}"), other: (200, "{}")})
    assert [r[0] for r in db.execute("SELECT id FROM net.http_request_queue").fetchall()] == [other]  # unchanged
    answer_queued(db, {other: NetAnswer.failure()})
    assert responses(db)[other][4:6] == (False, COULDNT_CONNECT)
    assert responses(db)[other][6] > batch  # default created: the batch transaction's start


def test_timeout_text_matches_pg_nets_format() -> None:
    text = timeout_error_msg(5000, 5001.25, handshake_ms=0.5, http_ms=5000.75)
    assert text == (
        "Timeout of 5000 ms reached. Total time: 5001.250000 ms (DNS time: 0.000000 ms, TCP/SSL handshake time:"
        " 0.500000 ms, HTTP Request/Response time: 5000.750000 ms)"
    )
    assert TIMEOUT_TEXT.fullmatch(timeout_error_msg(300, 300.9))
    assert text.startswith("Timeout")  # what `error_msg LIKE 'Timeout%'` relies on


def test_worker_stops_promptly(clean_db: str, db) -> None:
    worker = PgNetWorker(clean_db, poll=0.05).start()
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 2
    assert not any(t.name == "pg_net worker" and t.is_alive() for t in threading.enumerate())
