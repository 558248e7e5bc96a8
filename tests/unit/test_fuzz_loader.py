"""Property tests for what comes from a runbook file: the loader and cron expressions.

Extends tests/system/test_runbook_loader.py and tests/unit/test_schedule.py (which fuzz dict documents and structured
five-field expressions) with TOML *text* written from random values, every key of a real runbook replaced by
random values, raw bytes, and cron expressions built from free tokens (aliases, `N seconds`, `$`, time zones).
Each test runs a fixed number of examples and says how many it tried in the terminal summary.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cronctl.errors import RunbookError, ScheduleError
from cronctl.runbook.loader import load_runbook, parse_runbook
from cronctl.schedule import Schedule
from fuzzing import examples

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
TRIED: Counter[str] = Counter()
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class _Summary:
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if TRIED:
            terminalreporter.write_sep("-", "fuzz cases tried (runbook loader, cron)")
            for name, count in sorted(TRIED.items()):
                terminalreporter.write_line(f"{name}: {count}")


@pytest.fixture(scope="module", autouse=True)
def _count_report(request: pytest.FixtureRequest) -> Iterator[None]:
    manager = request.config.pluginmanager
    if not manager.has_plugin("cronctl-fuzz-loader"):
        manager.register(_Summary(), "cronctl-fuzz-loader")
    yield


# ---------------------------------------------------------------- a small TOML writer for random values

_KEY_CHARS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=8)


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return _toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then one [table] per top-level table (values inline)."""
    lines = [f"{_toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{_toml_key(key)}]")
            lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "${X}",
            "${DATABASE_URL:-}",
            "30s",
            "-5m",
            "0",
            "1e309s",
            "* * * * *",
            "61 * * * *",
            "@reboot",
            "@hourly",
            "5 seconds",
            "0 12 $ * *",
            "https://x.test/${A",
            "${}",
            "$${A}",
            "status == ",
            "not",
            'a.b.c > "x"',
            "(?P<",
            "[",
            "\\",
            "UTC",
            "Mars/Olympus",
            "SELECT 1; SELECT 2",
            "%(x)s",
            "bearer",
            "hmac",
            "redis",
            "table",
            "advisory",
            "pg_cron",
        ]
    ),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY_CHARS, inner, max_size=4),
    max_leaves=12,
)


def _real_runbooks() -> list[dict[str, Any]]:
    return [tomllib.loads(path.read_text()) for path in sorted(RUNBOOKS.glob("*.toml"))]


REAL = _real_runbooks()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a parsed TOML document, tables and leaves alike."""
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found += _paths(value, (*prefix, index))
    return found


def _must_be_clean(call: Any) -> None:
    try:
        call()
        TRIED["runbook: ... of which loaded without error"] += 1
    except RunbookError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message
        assert "Traceback" not in message


# ---------------------------------------------------------------- properties


@settings(FUZZ, max_examples=examples(400))
@given(st.data())
def _replace_any_value(data: st.DataObject) -> None:
    TRIED["runbook: one value of a real runbook replaced"] += 1
    index = data.draw(st.integers(min_value=0, max_value=len(REAL) - 1))
    doc = copy.deepcopy(REAL[index])
    path = data.draw(st.sampled_from(_paths(doc)))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "sibling"]))
    if action == "replace":
        parent[path[-1]] = data.draw(VALUES)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(_KEY_CHARS)] = data.draw(VALUES)
    _must_be_clean(lambda: parse_runbook(doc, Path("fuzz.toml"), data.draw(st.sampled_from([None, "local"]))))


def test_replacing_any_value_of_a_real_runbook() -> None:
    before = TRIED["runbook: one value of a real runbook replaced"]
    _replace_any_value()
    assert TRIED["runbook: one value of a real runbook replaced"] - before >= examples(400) // 2


@settings(FUZZ, max_examples=examples(250))
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "runbook",
                "jobs",
                "connection",
                "profiles",
                "run_logs",
                "lock_tables",
                "health",
                "backlogs",
                "queries",
                "secrets_table",
                "exit_condition",
                "failure_modes",
                "failure_groups",
            ]
        )
        | _KEY_CHARS,
        VALUES,
        max_size=6,
    )
)
def _toml_text(doc: dict[str, Any]) -> None:
    TRIED["runbook: random TOML text through load_runbook"] += 1
    text = toml_document(doc)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assume(False)  # the writer above is simple; documents it cannot express are not the loader's concern
    path = _TMP / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    _must_be_clean(lambda: load_runbook(path))


_TMP = Path(".")


def test_random_toml_text(tmp_path: Path) -> None:
    global _TMP
    _TMP = tmp_path
    before = TRIED["runbook: random TOML text through load_runbook"]
    _toml_text()
    assert TRIED["runbook: random TOML text through load_runbook"] - before >= examples(250) // 2


@settings(FUZZ, max_examples=examples(200))
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def _raw_bytes(raw: bytes) -> None:
    TRIED["runbook: raw bytes"] += 1
    path = _TMP / "raw.toml"
    path.write_bytes(raw)
    _must_be_clean(lambda: load_runbook(path))


def test_raw_bytes(tmp_path: Path) -> None:
    global _TMP
    _TMP = tmp_path
    before = TRIED["runbook: raw bytes"]
    _raw_bytes()
    assert TRIED["runbook: raw bytes"] - before >= examples(200) // 2


# ---------------------------------------------------------------- cron expressions from free tokens

_TOKENS = st.sampled_from(
    [
        "*",
        "*/",
        "/",
        ",",
        "-",
        "$",
        "L",
        "W",
        "#",
        "?",
        "0",
        "1",
        "5",
        "7",
        "12",
        "15",
        "23",
        "29",
        "30",
        "31",
        "59",
        "60",
        "61",
        "99",
        "JAN",
        "mon",
        "SUN",
        "fri-mon",
    ]
)
_FIELD = st.lists(_TOKENS, min_size=1, max_size=4).map("".join)
EXPRESSIONS = st.one_of(
    st.lists(_FIELD, min_size=1, max_size=7).map(" ".join),
    st.sampled_from(
        [
            "@hourly",
            "@daily",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "@reboot",
            "@every 5m",
            "@",
            "",
            " ",
            "0 12 $ * *",
            "0 0 30 2 *",
            "0 0 31 4 *",
            "0 0 29 2 *",
        ]
    ),
    st.integers(min_value=-3, max_value=90).map(lambda n: f"{n} seconds"),
    st.integers(min_value=0, max_value=70).map(lambda n: f"{n} second"),
    st.text(max_size=20),
)
ZONES = st.sampled_from(
    [
        "UTC",
        "GMT",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Seoul",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/St_Johns",
        "Nowhere/City",
        "",
        "utc",
        "../etc/passwd",
    ]
)
MOMENTS = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2080, 1, 1), timezones=st.just(UTC))


@settings(FUZZ, max_examples=examples(500))
@given(EXPRESSIONS, ZONES, MOMENTS)
def _cron_property(expression: str, zone: str, moment: datetime) -> None:
    TRIED["cron: free-token expressions and zones"] += 1
    try:
        schedule = Schedule.parse(expression, zone)
    except ScheduleError as exc:
        # Line breaks only where the message quotes the expression itself (the CLI folds them into one line).
        assert str(exc) and str(exc).count("\n") <= expression.count("\n")
        return
    TRIED["cron: ... of which parsed and checked"] += 1
    assert isinstance(schedule.describe(), str)
    following = schedule.next_run(moment)
    assert following is not None and following > moment
    before = schedule.previous_run(following)
    assert before is not None and before <= moment < following
    assert schedule.next_run(before) == following
    window = schedule.runs_between(moment, following + timedelta(days=2), cap=5)
    assert window[0] == following and window == sorted(set(window))
    assert window == schedule.next_runs(moment, len(window))
    assert schedule.typical_interval(moment) > 0


def test_cron_expressions() -> None:
    before = TRIED["cron: free-token expressions and zones"]
    parsed = TRIED["cron: ... of which parsed and checked"]
    _cron_property()
    assert TRIED["cron: free-token expressions and zones"] - before >= examples(500) // 2
    # Properties exercised: about one drawn expression in ten parses; a floor well below that never flakes.
    assert TRIED["cron: ... of which parsed and checked"] - parsed >= examples(500) // 25


@settings(FUZZ, max_examples=examples(200))
@given(
    st.sampled_from(
        [
            "* * * * *",
            "*/7 * * * *",
            "0 */5 * * *",
            "30 2 * * 1-5",
            "0 0 1 * *",
            "15 3 $ * *",
            "20 seconds",
            "45 seconds",
            "@daily",
        ]
    ),
    ZONES.filter(lambda z: "/" in z and "." not in z and z != "Nowhere/City"),
    MOMENTS,
    st.integers(min_value=1, max_value=6),
)
def _previous_runs_mirror_next_runs(expression: str, zone: str, moment: datetime, count: int) -> None:
    TRIED["cron: previous_runs mirror next_runs"] += 1
    schedule = Schedule.parse(expression, zone)
    forward = schedule.next_runs(moment, count)
    assert len(forward) == count
    back = schedule.previous_runs(forward[-1], count - 1)
    assert list(reversed(back)) == forward[:-1]


def test_previous_runs_mirror_next_runs() -> None:
    before = TRIED["cron: previous_runs mirror next_runs"]
    _previous_runs_mirror_next_runs()
    assert TRIED["cron: previous_runs mirror next_runs"] - before >= examples(200) // 2
