"""Pure judgement of answers and matching of known failure modes."""

from __future__ import annotations

from datetime import UTC

import pytest

from cronctl.evaluate.verdict import answer_group, judge, match_failure_modes
from cronctl.records import Answer, Attempt
from cronctl.runbook.model import FailureGroupSpec, FailureMode, SuccessRule
from cronctl.sources.http_trigger import parse_retry_after, retry_decision

SUCCESS = SuccessRule(status=(200,), require=("success == true",), skipped=("skipped == true",))
ENROL = SuccessRule(status=(200,), require=("ok == true",), summary="summary")


def answer(status: int | None, body: bytes = b"", **headers: str) -> Answer:
    return Answer(status, {k.replace("_", "-"): v for k, v in headers.items()}, body)


@pytest.mark.parametrize(
    ("rule", "ans", "verdict"),
    [
        (SUCCESS, answer(200, b'{"success": true}'), "ok"),
        (SUCCESS, answer(200, b'{"success": true, "skipped": true, "reason": "key not set"}'), "skipped"),
        (SUCCESS, answer(200, b'{"success": false, "error": "boom"}'), "failed"),
        (SUCCESS, answer(201, b'{"success": true}'), "failed"),
        (SUCCESS, answer(200, b"<html>ok</html>", content_type="text/html"), "failed"),
        (SUCCESS, answer(500, b'{"error": "Failed to fetch messages"}'), "failed"),
        (SUCCESS, Answer(None, {}, error="connection refused", error_kind="refused"), "error"),
        (SuccessRule(), answer(204), "ok"),
        (SuccessRule(), answer(200, b"plain text"), "ok"),
        (SuccessRule(), answer(302, location="https://x/login"), "failed"),
        (SuccessRule(status=(302,)), answer(302, location="https://x/login"), "ok"),
        (ENROL, answer(200, b'{"ok": true, "summary": {"new_records": 0}}'), "ok"),
    ],
)
def test_verdicts(rule: SuccessRule, ans: Answer, verdict: str) -> None:
    assert judge(rule, ans).verdict == verdict


def test_redirect_names_location() -> None:
    j = judge(SuccessRule(), answer(307, location="https://app.example.com/login"))
    assert j.location == "https://app.example.com/login"
    assert "https://app.example.com/login" in j.reason and "not followed" in j.reason


def test_failed_reason_carries_server_words_and_summary_is_kept() -> None:
    j = judge(SUCCESS, answer(500, b'{"error": "Failed to fetch messages"}'))
    assert j.reason == "HTTP 500: Failed to fetch messages"
    ok = judge(ENROL, answer(200, b'{"ok": true, "summary": {"changed_records": 2}}'))
    assert ok.summary == {"changed_records": 2}


def test_truncated_non_json_says_so() -> None:
    j = judge(SUCCESS, Answer(200, {"content-type": "application/json"}, b'{"success": true, "pad": "xx', True))
    assert j.verdict == "failed" and "read limit" in j.reason


@pytest.mark.parametrize(
    ("status", "group"),
    [
        (401, "AUTH"),
        (403, "AUTH"),
        (404, "HTTP_4XX"),
        (409, "HTTP_409"),
        (429, "HTTP_429"),
        (500, "HTTP_5XX"),
        (503, "HTTP_5XX"),
        (307, "REDIRECT"),
    ],
)
def test_groups_by_status(status: int, group: str) -> None:
    j = judge(SUCCESS, answer(status, b"{}", location="/x"))
    assert answer_group(j, status) == group


def test_group_of_timeout_and_none_for_ok_and_skipped() -> None:
    j = judge(SUCCESS, Answer(None, {}, error="timeout after 1s waiting for the answer", error_kind="timeout"))
    assert answer_group(j, None) == "TIMEOUT"
    assert answer_group(judge(SUCCESS, answer(200, b'{"success": true}')), 200) is None
    assert answer_group(judge(SUCCESS, answer(200, b'{"success": true, "skipped": true}')), 200) is None


def test_runbook_groups_come_first() -> None:
    j = judge(SUCCESS, answer(500, b'{"error": "Meta API quota"}'))
    assert answer_group(j, 500, [FailureGroupSpec("META_QUOTA", pattern="quota")]) == "META_QUOTA"


MODES = (
    FailureMode("401", "bad secret", "rotate", group="AUTH"),
    FailureMode("skipped", "key unset", "set key", job="payment-reconcile", verdict="skipped"),
    FailureMode("fetch", "db", "check db", message="fetch messages", http_status=500),
    FailureMode("missed", "scheduler down", "restart", state="missed"),
)


def test_match_failure_modes() -> None:
    assert [m.symptom for m in match_failure_modes(MODES, "x", "failed", 401, "unauthorized", "AUTH")] == ["401"]
    assert [m.symptom for m in match_failure_modes(MODES, "payment-reconcile", "skipped", 200, None, None)] == [
        "skipped"
    ]
    assert match_failure_modes(MODES, "other", "skipped", 200, None, None) == []
    hits = match_failure_modes(MODES, "x", "failed", 500, "Failed to fetch messages", "HTTP_5XX")
    assert [m.symptom for m in hits] == ["fetch"]
    assert match_failure_modes(MODES, "x", "failed", 503, "Failed to fetch messages", "HTTP_5XX") == []
    assert match_failure_modes(MODES, "x", "ok", 401, "unauthorized", "AUTH") == []


def attempt(status: int | None, retry_after: float | None = None, kind: str | None = None) -> Attempt:
    return Attempt(Answer(status, {}, error_kind=kind, error="x" if status is None else None), 1.0, retry_after)


def test_retry_policy() -> None:
    assert retry_decision(attempt(503), 1) == (3.0, None)
    assert retry_decision(attempt(503), 2) == (6.0, None)
    assert retry_decision(attempt(503), 3)[0] is None
    assert retry_decision(attempt(None, kind="timeout"), 1) == (3.0, None)
    assert retry_decision(attempt(None, kind="refused"), 1) == (None, None)
    assert retry_decision(attempt(429, 2), 1) == (2, None)
    assert retry_decision(attempt(429), 1) == (3.0, None)
    delay, note = retry_decision(attempt(429, 3600), 1)
    assert delay is None and note is not None and "3600" in note
    assert retry_decision(attempt(401), 1) == (None, None)
    assert retry_decision(attempt(200), 1) == (None, None)


def test_parse_retry_after() -> None:
    from datetime import datetime

    assert parse_retry_after("7") == 7.0
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
