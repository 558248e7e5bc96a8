"""Property tests for what cronctl writes and how it judges answers.

- JSON renderer: any report's data round-trips through `to_json` (the stable contract) unchanged;
- every format renders any report (tables, key/values, free text with any characters) without raising;
- failure classifier (extends tests/system/test_classify.py, which proves totality): status codes decide unless a
  pg_cron text names the cause, those texts win over any status, and case does not matter;
- trigger verdicts: any status, headers and body under any success rule give a verdict, never an exception.
Each test runs a fixed number of examples and says how many it tried in the terminal summary.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cronctl import redact
from cronctl.evaluate.classify import GROUPS, classify, status_group
from cronctl.evaluate.verdict import Answer, answer_group, judge, status_accepted
from cronctl.output.render import render, to_json
from cronctl.output.report import FORMATS, KeyValues, Report, Table, Text
from cronctl.runbook.model import SuccessRule
from fuzzing import examples

TRIED: Counter[str] = Counter()
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Summary:
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if TRIED:
            terminalreporter.write_sep("-", "fuzz cases tried (renderers, classifier, verdicts)")
            for name, count in sorted(TRIED.items()):
                terminalreporter.write_line(f"{name}: {count}")


@pytest.fixture(scope="module", autouse=True)
def _count_report(request: pytest.FixtureRequest) -> Iterator[None]:
    manager = request.config.pluginmanager
    if not manager.has_plugin("cronctl-fuzz-render"):
        manager.register(_Summary(), "cronctl-fuzz-render")
    redact.clear_for_tests()  # an empty registry: masking must not alter random data here
    yield


def ran(name: str, prop: Any, minimum: int) -> None:
    before = TRIED[name]
    prop()
    assert TRIED[name] - before >= minimum, f"{name}: only {TRIED[name] - before} examples ran"


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
# Keys that name a credential (`"apikey": "…"`, `"authorization": "…"`) have their values masked in every sink
# by design: random data under such keys does not round-trip, so the round-trip properties use other keys.
KEYS = TEXT.filter(
    lambda k: not redact.looks_secret(k) and not any(w in k.lower() for w in ("key", "auth", "secret", "token"))
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | TEXT
    | st.floats(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=25
)

# Values the evaluators put into reports, with the JSON form the contract promises for each.
MOMENT = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
TYPED = st.one_of(
    MOMENT.map(lambda d: (d, d.isoformat().replace("+00:00", "Z"))),
    st.dates().map(lambda d: (d, d.isoformat())),
    st.timedeltas(min_value=timedelta(days=-9999), max_value=timedelta(days=9999)).map(
        lambda t: (t, t.total_seconds())
    ),
    st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: (Decimal(n), n)),
    st.lists(st.integers(), max_size=4).map(lambda xs: (tuple(xs), xs)),
)


@settings(FUZZ, max_examples=examples(300))
@given(st.dictionaries(KEYS, JSON, max_size=8))
def _json_round_trip(data: dict[str, Any]) -> None:
    TRIED["render: to_json round-trip of report data"] += 1
    assert json.loads(to_json(Report(data=data))) == data


def test_json_round_trip() -> None:
    ran("render: to_json round-trip of report data", _json_round_trip, examples(300) // 2)


@settings(FUZZ, max_examples=examples(200))
@given(st.dictionaries(KEYS, TYPED, max_size=6))
def _typed_values_have_their_documented_form(pairs: dict[str, tuple[Any, Any]]) -> None:
    TRIED["render: datetimes, dates, durations, decimals in JSON"] += 1
    data = {key: value for key, (value, _) in pairs.items()}
    expected = {key: form for key, (_, form) in pairs.items()}
    assert json.loads(to_json(Report(data=data))) == expected


def test_typed_values() -> None:
    ran(
        "render: datetimes, dates, durations, decimals in JSON",
        _typed_values_have_their_documented_form,
        examples(200) // 2,
    )


CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    MOMENT,
    st.dates(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    sections: list[Table | KeyValues | Text] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        kind = draw(st.sampled_from(["table", "kv", "text"]))
        if kind == "table":
            width = draw(st.integers(min_value=1, max_value=5))
            columns = draw(st.lists(TEXT, min_size=width, max_size=width))
            rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=5))
            wrap = tuple(draw(st.sets(st.integers(min_value=0, max_value=width - 1))))
            sections.append(Table(columns, rows, title=draw(st.none() | TEXT), empty=draw(TEXT) or "(none)", wrap=wrap))
        elif kind == "kv":
            sections.append(KeyValues(draw(st.lists(st.tuples(TEXT, CELLS), max_size=5)), title=draw(st.none() | TEXT)))
        else:
            sections.append(Text(draw(TEXT), tone=draw(st.sampled_from(["info", "ok", "warn", "crit", "muted"]))))
    return Report(
        data=draw(st.dictionaries(TEXT, JSON, max_size=3)),
        sections=sections,
        title=draw(st.none() | TEXT),
        headline=draw(st.none() | TEXT),
        tone=draw(st.sampled_from(["ok", "warn", "crit", "info"])),
    )


@settings(FUZZ, max_examples=examples(120))
@given(reports(), st.sampled_from(FORMATS))
def _every_format_renders(report: Report, fmt: str) -> None:
    TRIED["render: any report in every format"] += 1
    out = io.StringIO()
    render(report, fmt, out)
    text = out.getvalue()
    assert text.endswith("\n") or (fmt == "table" and text == "")
    if fmt == "json":
        assert json.loads(text) == report.data
    if fmt == "markdown":
        for section in report.sections:
            if isinstance(section, Table) and section.rows:
                # Every row is one Markdown table line, whatever its cells hold (pipes, newlines).
                assert text.count("\n|") >= len(section.rows) + 1


def test_every_format_renders() -> None:
    ran("render: any report in every format", _every_format_renders, examples(120) // 2)


@settings(FUZZ, max_examples=examples(150))
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.tuples(
            st.lists(st.text(alphabet="abc xyz_", min_size=1, max_size=6), min_size=width, max_size=width),
            st.lists(st.lists(CELLS, min_size=width, max_size=width), min_size=1, max_size=5),
        )
    )
)
def _markdown_rows_stay_rows(table: tuple[list[str], list[list[Any]]]) -> None:
    TRIED["render: a Markdown row stays one line whatever its cells hold"] += 1
    columns, rows = table
    out = io.StringIO()
    render(Report(data={}, sections=[Table(columns, rows)]), "markdown", out)
    assert sum(1 for line in out.getvalue().splitlines() if line.startswith("|")) == len(rows) + 2


def test_markdown_rows_stay_rows() -> None:
    ran("render: a Markdown row stays one line whatever its cells hold", _markdown_rows_stay_rows, examples(150) // 2)


# ---------------------------------------------------------------- failure classifier (beyond totality)

_SPECIFIC = (
    "job startup timeout",
    "server restarted",
    'schema "net" does not exist',
    "job_lock active",
    "could not obtain lock",
    "function net.http_post",
)
ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@settings(FUZZ, max_examples=examples(300))
@given(ASCII, st.integers(min_value=300, max_value=599))
def _status_decides(message: str, status: int) -> None:
    TRIED["classify: an HTTP status decides unless a pg_cron text names the cause"] += 1
    assume(not any(s in message.lower() for s in _SPECIFIC) and "net" not in message.lower())
    assert classify(message, status) == status_group(status)


def test_status_decides() -> None:
    ran("classify: an HTTP status decides unless a pg_cron text names the cause", _status_decides, examples(300) // 2)


@settings(FUZZ, max_examples=examples(200))
@given(
    ASCII,
    ASCII,
    st.none() | st.integers(min_value=-1, max_value=999),
    st.sampled_from(
        [
            ("job startup timeout", "STARTUP_TIMEOUT"),
            ("server restarted", "SERVER_RESTARTED"),
            ('ERROR:  schema "net" does not exist', "PG_NET_MISSING"),
            ("job_lock active: x locked by w", "LOCK_CONFLICT"),
            ("504 FUNCTION_INVOCATION_TIMEOUT", "TIMEOUT"),
            ("shutdown WallClockTime", "TIMEOUT"),
        ]
    ),
)
def _pg_cron_texts_win(prefix: str, suffix: str, status: int | None, case: tuple[str, str]) -> None:
    TRIED["classify: pg_cron's own texts win over any status"] += 1
    text, group = case
    surrounding = (prefix + " " + suffix).lower()
    assume(not any(s in surrounding for s in (*_SPECIFIC, "pg_net", "startup", "restarted")))
    assert classify(f"{prefix} {text} {suffix}", status) == group


def test_pg_cron_texts_win() -> None:
    ran("classify: pg_cron's own texts win over any status", _pg_cron_texts_win, examples(200) // 2)


@settings(FUZZ, max_examples=examples(300))
@given(
    ASCII
    | st.sampled_from(
        [
            "HTTP 503 Service Unavailable",
            "Unauthorized",
            "Timeout of 5000 ms reached",
            "connection refused",
            "status code: 409",
            "Moved Permanently",
            " 5xx ",
            "returned 429",
        ]
    ),
    st.none() | st.integers(min_value=100, max_value=599),
)
def _case_does_not_matter(message: str, status: int | None) -> None:
    TRIED["classify: upper and lower case agree"] += 1
    assert classify(message.upper(), status) == classify(message.lower(), status) in GROUPS


def test_case_does_not_matter() -> None:
    ran("classify: upper and lower case agree", _case_does_not_matter, examples(300) // 2)


# ---------------------------------------------------------------- trigger verdicts on any answer

PREDICATES = st.sampled_from(
    [
        "success == true",
        "ok == true",
        "summary.processed >= 0",
        "not error",
        'status != "failed"',
        "count > 1.5",
        "skipped == true",
        "data",
        "a.b.c == null",
    ]
)
RULES = st.builds(
    SuccessRule,
    status=st.lists(st.integers(min_value=100, max_value=599), max_size=3).map(tuple),
    require=st.lists(PREDICATES, max_size=2).map(tuple),
    skipped=st.lists(PREDICATES, max_size=1).map(tuple),
    summary=st.none() | st.sampled_from(["summary", "data"]),
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b'{"success": true}',
            b'{"ok": true, "summary": {"processed": 3}}',
            b'{"success": tru',
            b"<html>502</html>",
            b"",
            b"null",
            b"[]",
            b'{"error": {"message": "x"}}',
            b'{"skipped": true, "reason": "key not set"}',
            "정산 완료".encode(),
        ]
    ),
)
ANSWERS = st.one_of(
    st.builds(
        Answer,
        status_code=st.integers(min_value=100, max_value=599),
        headers=st.dictionaries(st.sampled_from(["content-type", "location", "retry-after"]), TEXT, max_size=3),
        body=BODIES,
        truncated=st.booleans(),
    ),
    st.builds(
        Answer,
        status_code=st.none(),
        headers=st.just({}),
        error=st.none() | TEXT,
        error_kind=st.sampled_from([None, "timeout", "refused", "dns", "tls", "reset", "protocol"]),
    ),
)


@settings(FUZZ, max_examples=examples(400))
@given(RULES, ANSWERS)
def _any_answer_gets_a_verdict(rule: SuccessRule, answer: Answer) -> None:
    TRIED["verdict: any answer under any success rule"] += 1
    judgement = judge(rule, answer)
    assert judgement.verdict in ("ok", "failed", "skipped", "error")
    assert isinstance(judgement.reason, str) and judgement.reason
    if answer.status_code is None:
        assert judgement.verdict == "error"
    elif judgement.verdict in ("ok", "skipped"):
        assert status_accepted(rule, answer.status_code)
    group = answer_group(judgement, answer.status_code)
    assert (group is None) == (judgement.verdict in ("ok", "skipped"))
    assert group is None or group in GROUPS
    if (
        judgement.verdict == "failed"
        and answer.status_code is not None
        and 300 <= answer.status_code < 400
        and not status_accepted(rule, answer.status_code)
    ):
        assert group == "REDIRECT"


def test_any_answer_gets_a_verdict() -> None:
    ran("verdict: any answer under any success rule", _any_answer_gets_a_verdict, examples(400) // 2)


def test_the_round_trip_check_can_fail() -> None:
    """A masked value changes the JSON: the round-trip comparison notices such a difference."""
    redact.register("round-trip-secret-value")
    try:
        data = {"note": "round-trip-secret-value"}
        assert json.loads(to_json(Report(data=data))) != data
    finally:
        redact.clear_for_tests()
