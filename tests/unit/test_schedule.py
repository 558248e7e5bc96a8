"""Schedules: aliases, pg_cron's `N seconds` and `$`, time zones across DST, invalid input, and fire-time laws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cronctl.errors import ScheduleError
from cronctl.schedule import ALIASES, NeverFiresError, Schedule
from fuzzing import examples


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alias", "after", "expected"),
    [
        ("@hourly", utc(2024, 5, 1, 10, 15), utc(2024, 5, 1, 11, 0)),
        ("@daily", utc(2024, 5, 1, 10, 15), utc(2024, 5, 2, 0, 0)),
        ("@midnight", utc(2024, 5, 1, 10, 15), utc(2024, 5, 2, 0, 0)),
        ("@weekly", utc(2024, 5, 1, 10, 15), utc(2024, 5, 5, 0, 0)),  # next Sunday
        ("@monthly", utc(2024, 5, 1, 10, 15), utc(2024, 6, 1, 0, 0)),
        ("@yearly", utc(2024, 5, 1, 10, 15), utc(2025, 1, 1, 0, 0)),
        ("@annually", utc(2024, 5, 1, 10, 15), utc(2025, 1, 1, 0, 0)),
    ],
)
def test_aliases(alias: str, after: datetime, expected: datetime) -> None:
    schedule = Schedule.parse(alias)
    assert schedule.next_run(after) == expected
    assert schedule.cron == ALIASES[alias.lower()]


def test_reboot_never_fires_and_unknown_aliases_are_errors() -> None:
    # pg_cron accepts @reboot (it runs when the scheduler starts); there is no fire time to judge runs against.
    with pytest.raises(NeverFiresError, match="scheduler starts"):
        Schedule.parse("@reboot")
    with pytest.raises(ScheduleError, match="unknown schedule alias"):
        Schedule.parse("@fortnightly")
    # pg_cron compares alias names case-sensitively.
    with pytest.raises(ScheduleError, match="lower-case"):
        Schedule.parse("@DAILY")


def test_seconds_interval() -> None:
    schedule = Schedule.parse("30 seconds")
    assert schedule.every_seconds == 30 and schedule.min_pg_cron_version == "1.5"
    assert schedule.next_runs(utc(2024, 5, 1, 10, 0, 10), 3) == [
        utc(2024, 5, 1, 10, 0, 30),
        utc(2024, 5, 1, 10, 1, 0),
        utc(2024, 5, 1, 10, 1, 30),
    ]
    assert schedule.previous_runs(utc(2024, 5, 1, 10, 0, 30), 2) == [
        utc(2024, 5, 1, 10, 0, 0),
        utc(2024, 5, 1, 9, 59, 30),
    ]
    assert schedule.typical_interval(utc(2024, 5, 1)) == 30.0
    assert schedule.describe() == "Every 30 seconds"
    assert Schedule.parse("1 second").describe() == "Every second"
    assert Schedule.parse("5 SECONDS").every_seconds == 5  # pg_cron lower-cases before reading
    assert Schedule.parse("1 seconds").every_seconds == 1


@pytest.mark.parametrize("expr", ["5s", "10 sec", "10 secs", "30seconds x"])
def test_seconds_need_the_word_second(expr: str) -> None:
    with pytest.raises(ScheduleError, match="second"):
        Schedule.parse(expr)


@pytest.mark.parametrize("expr", ["0 seconds", "60 seconds", "90 seconds"])
def test_seconds_out_of_range(expr: str) -> None:
    with pytest.raises(ScheduleError, match="1 to 59"):
        Schedule.parse(expr)


def test_last_day_of_month() -> None:
    schedule = Schedule.parse("0 12 $ * *")
    assert schedule.min_pg_cron_version == "1.6"
    assert schedule.next_runs(utc(2024, 1, 31, 13), 3) == [
        utc(2024, 2, 29, 12),
        utc(2024, 3, 31, 12),
        utc(2024, 4, 30, 12),
    ]
    assert schedule.previous_run(utc(2023, 3, 1)) == utc(2023, 2, 28, 12)


def test_plain_five_fields_need_no_particular_version() -> None:
    assert Schedule.parse("*/5 * * * *").min_pg_cron_version is None


def test_time_zone_follows_daylight_saving() -> None:
    schedule = Schedule.parse("0 9 * * *", "Europe/Berlin")
    # Berlin moves from UTC+1 to UTC+2 on 2024-03-31.
    assert schedule.next_runs(utc(2024, 3, 29, 12), 3) == [
        utc(2024, 3, 30, 8),
        utc(2024, 3, 31, 7),
        utc(2024, 4, 1, 7),
    ]
    assert all(run.tzinfo == UTC for run in schedule.next_runs(utc(2024, 3, 29, 12), 3))
    assert "Europe/Berlin" in schedule.describe()


def test_time_zone_dst_gap_and_overlap_follow_pg_cron() -> None:
    """pg_cron checks every real minute against the fields in cron.timezone (ShouldRunTask with pg_localtime):
    a local time skipped by the spring gap never fires, and one repeated in the autumn overlap fires twice."""
    berlin = ZoneInfo("Europe/Berlin")
    # 02:30 does not exist on 2024-03-31 in Berlin, and exists twice on 2024-10-27.
    schedule = Schedule.parse("30 2 * * *", "Europe/Berlin")
    spring = schedule.runs_between(utc(2024, 3, 29), utc(2024, 4, 2))
    assert [run.astimezone(berlin).day for run in spring] == [29, 30, 1]
    autumn = schedule.runs_between(utc(2024, 10, 25), utc(2024, 10, 29))
    assert autumn == [utc(2024, 10, 25, 0, 30), utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30),
                      utc(2024, 10, 27, 1, 30), utc(2024, 10, 28, 1, 30)]  # fmt: skip
    assert all(run.astimezone(berlin).strftime("%H:%M") == "02:30" for run in spring + autumn)


def test_new_york_previous_runs_cross_dst() -> None:
    schedule = Schedule.parse("0 0 * * *", "America/New_York")
    assert schedule.previous_runs(utc(2024, 11, 4, 12), 2) == [utc(2024, 11, 4, 5), utc(2024, 11, 3, 4)]


def test_typical_interval_and_runs_between() -> None:
    schedule = Schedule.parse("*/15 * * * *")
    assert schedule.typical_interval(utc(2024, 1, 1)) == 900.0
    assert len(schedule.runs_between(utc(2024, 1, 1), utc(2024, 1, 2))) == 96
    assert len(schedule.runs_between(utc(2024, 1, 1), utc(2024, 1, 2), cap=10)) == 10


def test_naive_datetimes_count_as_utc() -> None:
    schedule = Schedule.parse("0 * * * *")
    assert schedule.next_run(datetime(2024, 1, 1, 10, 30)) == utc(2024, 1, 1, 11)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "empty"),
        ("* * * *", "expected 5 fields"),
        ("61 * * * *", "invalid cron expression"),
        ("* 24 * * *", "invalid cron expression"),
        ("* * 0 * *", "invalid cron expression"),
        ("* * * 13 *", "invalid cron expression"),
        ("* * * * 8", "invalid cron expression"),
        ("a b c d e", "invalid cron expression"),
        ("*/0 * * * *", "invalid cron expression"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 * * 5-1", "never fires"),
        ("L * * * *", "invalid cron expression"),
        ("0 0 L * *", "invalid cron expression"),
        ("0 0 LW * *", "invalid cron expression"),
        ("0 0 * * 5L", "invalid cron expression"),
        ("0 0 15W * *", "invalid cron expression"),
        ("0 0 ? * *", "invalid cron expression"),
        ("5/15 * * * *", "needs a range"),
        ("10 sec", "second"),
    ],
)
def test_invalid_expressions(expr: str, fragment: str) -> None:
    with pytest.raises(ScheduleError, match=fragment):
        Schedule.parse(expr)


def test_unknown_time_zone() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        Schedule.parse("* * * * *", "Mars/Olympus")


# ---------------------------------------------------------------- properties


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    """One cron field: mostly in range, sometimes out of range, in every syntax Vixie cron has."""
    n = st.integers(min_value=low - 2, max_value=high + 2)
    step = st.integers(min_value=0, max_value=high + 2)
    return st.one_of(
        st.just("*"),
        n.map(str),
        st.tuples(n, n).map(lambda t: f"{t[0]}-{t[1]}"),
        step.map(lambda s: f"*/{s}"),
        st.tuples(n, n, step).map(lambda t: f"{t[0]}-{t[1]}/{t[2]}"),
        st.lists(n, min_size=2, max_size=4).map(lambda xs: ",".join(map(str, xs))),
    )


def _valid_field(low: int, high: int) -> st.SearchStrategy[str]:
    """One cron field that Vixie cron accepts: values in range, steps within the field."""
    n = st.integers(min_value=low, max_value=high)
    step = st.integers(min_value=1, max_value=high)
    return st.one_of(
        st.just("*"),
        n.map(str),
        st.tuples(n, n).map(lambda t: f"{min(t)}-{max(t)}"),
        step.map(lambda s: f"*/{s}"),
        st.lists(n, min_size=2, max_size=4).map(lambda xs: ",".join(map(str, xs))),
    )


VALID_EXPRESSIONS = st.tuples(
    _valid_field(0, 59), _valid_field(0, 23), _valid_field(1, 28), _valid_field(1, 12), _valid_field(0, 7)
).map(" ".join)

EXPRESSIONS = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 7)).map(" ".join)
MOMENTS = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


@settings(max_examples=examples(400), deadline=None)
@given(EXPRESSIONS)
def test_any_expression_parses_or_raises_schedule_error(expr: str) -> None:
    try:
        schedule = Schedule.parse(expr)
    except ScheduleError as exc:
        assert expr in str(exc) or "never fires" in str(exc)
        return
    assert schedule.cron is not None
    schedule.describe()


@settings(max_examples=examples(300), deadline=None)
@given(VALID_EXPRESSIONS, MOMENTS, st.sampled_from(["UTC", "Australia/Lord_Howe", "Europe/Berlin"]))
@example("0 */5 * * *", datetime(2020, 4, 4, tzinfo=UTC), "Australia/Lord_Howe")
def test_previous_and_next_are_consistent(expr: str, moment: datetime, tz: str) -> None:
    try:
        schedule = Schedule.parse(expr, tz)
    except ScheduleError:
        assume(False)
        return
    following = schedule.next_run(moment)
    assert following is not None and following > moment
    before = schedule.previous_run(following)
    # No fire time lies strictly between `moment` and `following`, so the one before `following` is at or
    # before `moment`, and the next after it is `following` again.
    assert before is not None and before < following
    assert before <= moment
    assert schedule.next_run(before) == following


@settings(max_examples=examples(150), deadline=None)
@given(
    st.sampled_from(["0 9 * * *", "30 2 * * *", "*/20 * * * *", "0 0 1 * *", "15 3 * * 0"]),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Seoul", "Australia/Lord_Howe", "UTC"]),
    MOMENTS,
)
def test_zoned_runs_are_increasing_and_match_the_local_fields(expr: str, tz: str, moment: datetime) -> None:
    schedule = Schedule.parse(expr, tz)
    runs = schedule.next_runs(moment, 5)
    assert runs == sorted(runs) and len(set(runs)) == 5 and runs[0] > moment
    minute = expr.split()[0]
    local_minutes = {run.astimezone(ZoneInfo(tz)).minute for run in runs}
    if minute.isdigit():
        assert local_minutes <= {int(minute), (int(minute) + 30) % 60, 0}  # DST shifts of 30 min (Lord Howe)


def _check_seconds_interval(seconds: int, moment: datetime) -> None:
    schedule = Schedule.parse(f"{seconds} seconds")
    runs = schedule.next_runs(moment, 3)
    assert runs[0] > moment and runs[0] - moment <= timedelta(seconds=seconds)
    assert runs[1] - runs[0] == runs[2] - runs[1] == timedelta(seconds=seconds)
    previous = schedule.previous_run(runs[0])
    assert previous is not None and previous <= moment < runs[0]


@settings(max_examples=examples(100), deadline=None)
@given(st.sampled_from([s for s in range(1, 60) if 60 % s == 0]), MOMENTS)
def test_seconds_intervals_step_evenly(seconds: int, moment: datetime) -> None:
    _check_seconds_interval(seconds, moment)


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(min_value=1, max_value=59), MOMENTS)
def test_seconds_intervals_that_do_not_divide_a_minute(seconds: int, moment: datetime) -> None:
    _check_seconds_interval(seconds, moment)


def test_step_larger_than_the_field_selects_its_first_value() -> None:
    # pg_cron accepts */61: the step walks past the end of the field after the first value.
    schedule = Schedule.parse("*/61 * * * *")
    assert schedule.next_runs(utc(2024, 1, 1, 0, 30), 2) == [utc(2024, 1, 1, 1), utc(2024, 1, 1, 2)]
    assert Schedule.parse("0 */100 * * *").next_runs(utc(2024, 1, 1, 0, 30), 1) == [utc(2024, 1, 2)]


def test_six_fields_fire_once_a_minute_and_nth_weekday_is_ignored() -> None:
    every = Schedule.parse("* * * * * *")
    assert every.next_runs(utc(2024, 1, 1), 2) == [utc(2024, 1, 1, 0, 1), utc(2024, 1, 1, 0, 2)]
    assert "ignores the rest" in every.ignored[0]
    monday = Schedule.parse("0 0 * * 1#2")
    assert monday.describe() == "At 00:00 on Monday (UTC)"
    assert monday.next_runs(utc(2024, 1, 1, 1), 2) == [utc(2024, 1, 8), utc(2024, 1, 15)]
    assert "#2" in monday.ignored[0]


def test_lord_howe_previous_and_next_agree() -> None:
    """Found by test_previous_and_next_are_consistent: cronsim skipped 05:00 local after Lord Howe's half-hour
    autumn shift (2020-04-05 02:00 -> 01:30), so the next run after 13:00 UTC disagreed with the previous one."""
    schedule = Schedule.parse("0 */5 * * *", "Australia/Lord_Howe")
    start = utc(2020, 4, 4)
    expected = [utc(2020, 4, 4, 4), utc(2020, 4, 4, 9), utc(2020, 4, 4, 13), utc(2020, 4, 4, 18, 30),
                utc(2020, 4, 4, 23, 30), utc(2020, 4, 5, 4, 30)]  # fmt: skip
    assert schedule.next_runs(start, 6) == expected
    for quarter in range(4 * 48):
        moment = start + timedelta(minutes=15 * quarter)
        following = schedule.next_run(moment)
        before = schedule.previous_run(following)  # type: ignore[arg-type]
        assert before is not None and before <= moment and schedule.next_run(before) == following
