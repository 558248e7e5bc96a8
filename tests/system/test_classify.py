"""Failure groups and known-failure-mode matching (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronctl.evaluate.classify import GROUPS, classify, status_group
from cronctl.evaluate.findings import Finding, Symptom, match
from cronctl.runbook.model import FailureGroupSpec, FailureMode

# Real texts: pg_cron's fixed return_message values, pg_net error_msg, SQL errors, and the seeds' app messages.
MESSAGES = [
    ("job startup timeout", None, "STARTUP_TIMEOUT"),
    ("server restarted", None, "SERVER_RESTARTED"),
    ("connection failed", None, "DB_CONNECTION"),
    ("connection lost", None, "DB_CONNECTION"),
    ("could not connect to server: Connection refused", None, "DB_CONNECTION"),
    ("FATAL:  sorry, too many clients already", None, "DB_CONNECTION"),
    ('ERROR:  schema "net" does not exist', None, "PG_NET_MISSING"),
    ("schema net does not exist", None, "PG_NET_MISSING"),
    (
        "ERROR:  function net.http_post(url => unknown, headers => jsonb, body => jsonb) does not exist",
        None,
        "PG_NET_MISSING",
    ),
    ("Timeout of 5000 ms reached. Total time: 5001.2 ms", None, "TIMEOUT"),
    ("Timeout of 15000 ms reached", None, "TIMEOUT"),
    ("ERROR:  canceling statement due to statement timeout", None, "TIMEOUT"),
    ("Operation timed out after 60000 milliseconds with 0 bytes received", None, "TIMEOUT"),
    ("fetch failed: ETIMEDOUT", None, "TIMEOUT"),
    ("job_lock active for enrolment-sync (locked_by worker-2)", None, "LOCK_CONFLICT"),
    ('could not obtain lock on row in relation "job_lock"', None, "LOCK_CONFLICT"),
    ("Another instance is already running", None, "LOCK_CONFLICT"),
    ("upstream returned 409 conflict", None, "HTTP_409"),
    ("Meta API error: 409 Conflict on course 12", None, "HTTP_409"),
    ("sync failed: upstream 503 Service Unavailable", None, "HTTP_5XX"),
    ("sync failed: got 5xx from LMS", None, "HTTP_5XX"),
    ("Request failed with status code 500", None, "HTTP_5XX"),
    ("HTTP 502 Bad Gateway", None, "HTTP_5XX"),
    ("status 429: rate limited", None, "HTTP_429"),
    ("Meta API 429 Too Many Requests (Retry-After: 3)", None, "HTTP_429"),
    ("Unauthorized", None, "AUTH"),
    ("invalid JWT: token is expired", None, "AUTH"),
    ("Forbidden: missing CRON_SECRET", None, "AUTH"),
    ("ERROR:  permission denied for table cron_secrets", None, "AUTH"),
    ("HTTP/1.1 308 Permanent Redirect", None, "REDIRECT"),
    ("redirected to /login", None, "REDIRECT"),
    ("job canceled", None, "OTHER"),
    ("could not start background process; more details may be available in the server log", None, "OTHER"),
    ("division by zero", None, "OTHER"),
    ("", None, "OTHER"),
    (None, None, "OTHER"),
    # Status codes from the HTTP response itself.
    (None, 401, "AUTH"),
    (None, 403, "AUTH"),
    ("Unauthorized", 401, "AUTH"),
    (None, 409, "HTTP_409"),
    (None, 429, "HTTP_429"),
    (None, 404, "HTTP_4XX"),
    ('{"error":"bad request"}', 400, "HTTP_4XX"),
    (None, 500, "HTTP_5XX"),
    ("Gateway Timeout", 504, "HTTP_5XX"),
    (None, 307, "REDIRECT"),
    (None, 308, "REDIRECT"),
    (None, 200, "OTHER"),
    ('{"success": false, "error": "Timeout of 5000 ms reached"}', 200, "TIMEOUT"),
    # Exact causes win over a status code.
    ("job_lock active", 409, "LOCK_CONFLICT"),
    ('ERROR:  schema "net" does not exist', 500, "PG_NET_MISSING"),
]


@pytest.mark.parametrize(("message", "status", "expected"), MESSAGES)
def test_real_messages(message: str | None, status: int | None, expected: str) -> None:
    assert classify(message, status) == expected


def test_seed_003_grouping_sql_agrees() -> None:
    # The seed's CASE: ' 409 ' → HTTP_409, ' 5__ ' → HTTP_5XX, 'timeout' → TIMEOUT, 'job_lock active' → LOCK_CONFLICT.
    assert classify("enrolment sync failed: LMS 409 duplicate", None) == "HTTP_409"
    assert classify("enrolment sync failed: LMS 504 gateway", None) == "HTTP_5XX"
    assert classify("read timeout while fetching course 7", None) == "TIMEOUT"
    assert classify("skipped: job_lock active", None) == "LOCK_CONFLICT"
    assert classify("something else broke", None) == "OTHER"


def test_runbook_groups_are_tried_first() -> None:
    extra = (
        FailureGroupSpec(name="META_RATE_LIMIT", pattern=r"Meta API.*(?:429|rate)"),
        FailureGroupSpec(name="EDGE_BOOT", status=(546,)),
        FailureGroupSpec(name="BOTH", pattern="quota", status=(403,)),
    )
    assert classify("Meta API 429 Too Many Requests", None, extra) == "META_RATE_LIMIT"
    assert classify("other 429", None, extra) == "HTTP_429"
    assert classify(None, 546, extra) == "EDGE_BOOT"
    # A group with a pattern and codes needs both.
    assert classify("quota exceeded", 403, extra) == "BOTH"
    assert classify("quota exceeded", 500, extra) == "HTTP_5XX"
    assert classify("forbidden", 403, extra) == "AUTH"


def test_broken_runbook_pattern_is_skipped_not_raised() -> None:
    assert classify("x", None, (FailureGroupSpec(name="BAD", pattern="("),)) == "OTHER"


def test_status_group_edges() -> None:
    assert status_group(None) is None
    assert status_group(200) is None
    assert status_group(399) == "REDIRECT"
    assert status_group(499) == "HTTP_4XX"
    assert status_group(599) == "HTTP_5XX"
    assert status_group(600) is None
    assert status_group(-1) is None


def test_numbers_that_are_not_status_codes() -> None:
    assert classify("processed 200 records", None) == "OTHER"
    assert classify("id=5001 failed", None) == "OTHER"


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.integers()))
def test_total_on_any_input(message: str | None, status: int | None) -> None:
    assert classify(message, status) in GROUPS


@given(
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.integers(min_value=-1000, max_value=1000)),
    st.lists(
        st.builds(
            FailureGroupSpec,
            name=st.sampled_from(["CUSTOM_A", "CUSTOM_B"]),
            pattern=st.one_of(st.none(), st.text(max_size=8)),
            status=st.lists(st.integers(100, 599), max_size=3).map(tuple),
        ),
        max_size=3,
    ),
)
def test_total_with_runbook_groups(message: str | None, status: int | None, extra: list[FailureGroupSpec]) -> None:
    assert classify(message, status, extra) in (*GROUPS, "CUSTOM_A", "CUSTOM_B")


# --- findings ---------------------------------------------------------------------------------------------

MODES = (
    FailureMode(
        symptom="401 from scheduled-dispatcher",
        cause="CRON_SECRET unset or mismatched",
        action="Reset the secret in Edge Functions → Secrets",
        severity="crit",
        job="dispatcher",
        group="AUTH",
    ),
    FailureMode(
        symptom="pg_net missing",
        cause="pg_net extension not enabled",
        action="CREATE EXTENSION pg_net",
        severity="crit",
        group="PG_NET_MISSING",
    ),
    FailureMode(
        symptom="lock left behind",
        cause="a crashed run kept job_lock",
        action="cronctl locks clear",
        message=r"job_lock\s+active",
    ),
    FailureMode(
        symptom="sync missed", cause="scheduler down", action="check pg_cron scheduler", severity="info", state="missed"
    ),
    FailureMode(symptom="exactly 409", cause="duplicate", action="retry", http_status=409, group="HTTP_409"),
    FailureMode(symptom="backlog", cause="worker stuck", action="trigger worker", check="pending_messages"),
)


def test_match_requires_every_set_field() -> None:
    symptoms = [
        Symptom("failure", "dispatcher", group="AUTH", http_status=401, message="Unauthorized"),
        Symptom("failure", "other-job", group="AUTH", http_status=401),
        Symptom("failure", "sync", group="HTTP_409", http_status=500),
        Symptom("failure", "sync", group="HTTP_409", http_status=409),
    ]
    found = match(MODES, symptoms)
    assert [(f.symptom, f.job) for f in found] == [
        ("401 from scheduled-dispatcher", "dispatcher"),
        ("exactly 409", "sync"),
    ]
    assert all(isinstance(f, Finding) for f in found)
    assert "http 401" in found[0].evidence


def test_match_message_regex_state_and_check() -> None:
    symptoms = [
        Symptom("failure", "enrolment-sync", group="LOCK_CONFLICT", message="Skipped: JOB_LOCK  active"),
        Symptom("failure", "enrolment-sync", group="OTHER", message=None),
        Symptom("state", "enrolment-sync", state="missed", detail="last run 3h ago"),
        Symptom("check", None, check="pending_messages", detail="42 pending"),
        Symptom("failure", "x", group="PG_NET_MISSING"),
    ]
    found = match(MODES, symptoms)
    assert [f.symptom for f in found] == ["pg_net missing", "lock left behind", "backlog", "sync missed"]
    assert found[-1].evidence == "job enrolment-sync; state missed; last run 3h ago"
    assert found[2].job is None


def test_mode_with_only_job_matches_nothing() -> None:
    mode = FailureMode(symptom="s", cause="c", action="a", job="x")
    assert match([mode], [Symptom("failure", "x", group="AUTH")]) == []


def test_same_mode_same_symptom_once() -> None:
    s = Symptom("failure", "dispatcher", group="AUTH")
    assert len(match(MODES, [s, s])) == 1
