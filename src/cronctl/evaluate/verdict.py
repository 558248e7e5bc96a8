"""Judge one HTTP answer against a job's success rule, and match it to the runbook's known failure modes.

Verdicts: `ok`, `skipped` (a 2xx that says it did nothing), `failed` (non-2xx, a redirect, or the rule does
not hold), `error` (no answer at all: refused, DNS, TLS, timeout).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cronctl.evaluate.classify import classify
from cronctl.predicates import all_hold, any_holds
from cronctl.records import Answer
from cronctl.runbook import model
from cronctl.runbook.model import FailureGroupSpec, FailureMode, SuccessRule

VERDICTS = model.VERDICTS  # one vocabulary, the runbook's (the loader checks failure modes against it)
_NOT_JSON = object()


@dataclass(frozen=True)
class Judgement:
    verdict: str
    reason: str
    document: Any = None  # the parsed JSON body, or None
    summary: dict[str, Any] | None = None
    location: str | None = None
    message: str | None = None  # the failure text a failure mode or group is matched against

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def parse_json(body: bytes) -> Any:
    """The parsed body, or `_NOT_JSON`."""
    if not body.strip():
        return _NOT_JSON
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def body_text(body: bytes, limit: int = 300) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(document: Any, body: bytes) -> str:
    """The server's own words about a failure: `error` / `message` fields, else the start of the body."""
    if isinstance(document, dict):
        for key in ("error", "message", "error_message", "reason", "detail"):
            value = document.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    return body_text(body, 200)


def status_accepted(rule: SuccessRule, status: int) -> bool:
    return status in rule.status if rule.status else 200 <= status < 300


def judge(rule: SuccessRule, answer: Answer) -> Judgement:
    """The verdict for one answer under one success rule."""
    if answer.status_code is None:
        message = answer.error or "no response"
        return Judgement("error", message, message=message)
    status = answer.status_code
    parsed = parse_json(answer.body)
    document = None if parsed is _NOT_JSON else parsed
    if 300 <= status < 400 and not status_accepted(rule, status):
        location = answer.headers.get("location")
        where = f" to {location}" if location else " (no Location header)"
        reason = f"HTTP {status} redirect{where}; redirects are not followed (the scheduler does not follow them)"
        return Judgement("failed", reason, document, location=location, message=reason)
    if not status_accepted(rule, status):
        detail = _error_text(document, answer.body)
        reason = f"HTTP {status}" + (f": {detail}" if detail else "")
        return Judgement("failed", reason, document, message=detail or f"HTTP {status}")
    summary = _summary(rule, document)
    if not (rule.require or rule.skipped):
        return Judgement("ok", f"HTTP {status}", document, summary)
    if parsed is _NOT_JSON:
        cut = " (body cut at the read limit)" if answer.truncated else ""
        kind = answer.headers.get("content-type") or "no content type"
        reason = f"HTTP {status} but the body is not JSON ({kind}){cut}; the success rule cannot be checked"
        return Judgement("failed", reason, None, message=reason)
    skipped_by = any_holds(rule.skipped, document)
    if skipped_by is not None:
        why = _error_text(document, b"") if isinstance(document, dict) else ""
        reason = f"HTTP {status}, skipped ({skipped_by})" + (f": {why}" if why else "")
        return Judgement("skipped", reason, document, summary, message=why or skipped_by)
    holds, broken = all_hold(rule.require, document)
    if not holds:
        detail = _error_text(document, b"")
        reason = f"HTTP {status} but '{broken}' does not hold" + (f": {detail}" if detail else "")
        return Judgement("failed", reason, document, summary, message=detail or f"'{broken}' does not hold")
    return Judgement("ok", f"HTTP {status}, {', '.join(rule.require)}", document, summary)


def _summary(rule: SuccessRule, document: Any) -> dict[str, Any] | None:
    if rule.summary and isinstance(document, dict):
        value = document.get(rule.summary)
        if isinstance(value, dict):
            return value
    return None


def answer_group(
    judgement: Judgement, http_status: int | None, extra_groups: Sequence[FailureGroupSpec] = ()
) -> str | None:
    """The failure group of a failed or unanswered request; None for ok and skipped."""
    if judgement.verdict not in ("failed", "error"):
        return None
    return classify(judgement.message or judgement.reason, http_status, extra_groups)


def match_failure_modes(
    modes: Iterable[FailureMode],
    job_name: str | None,
    verdict: str,
    http_status: int | None,
    message: str | None,
    group: str | None,
) -> list[FailureMode]:
    """Known failure modes whose every stated condition holds for this answer.

    Modes that depend on a job state or a backlog check describe triage findings, not a single answer.
    """
    if verdict == "ok":
        return []
    found: list[FailureMode] = []
    for mode in modes:
        if mode.state or mode.check:
            continue
        if mode.job is not None and mode.job != job_name:
            continue
        if mode.verdict is not None and mode.verdict != verdict:
            continue
        if mode.http_status is not None and mode.http_status != http_status:
            continue
        if mode.group is not None and mode.group != group:
            continue
        if mode.message is not None and not (message and re.search(mode.message, message, re.IGNORECASE)):
            continue
        found.append(mode)
    return found
