"""Schedules exactly as pg_cron reads them (DESIGN.md §3).

One table says, for each expression, whether pg_cron 1.4, 1.5 and 1.6 accept it (1.4 measured against the
sandbox's real pg_cron 1.4.2: test_real_pg_cron_agrees schedules every row in it), and what it means where
pg_cron reads it differently from other crons. Next fire times are compared with a second evaluator
(cronsim) wherever both read the expression the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cronsim import CronSim

from cronctl.errors import ScheduleError
from cronctl.schedule import NeverFiresError, Schedule, compatibility, explain_expression, parse_entry

A, R = True, False
# expression, accepted by (1.4, 1.5, 1.6)
TABLE: list[tuple[str, tuple[bool, bool, bool]]] = [
    ("* * * * *", (A, A, A)),
    ("*/5 * * * *", (A, A, A)),
    ("0 2 * * *", (A, A, A)),
    ("0 9 * * 1-5", (A, A, A)),
    ("30 6 1 * *", (A, A, A)),
    ("0 0 1 1 *", (A, A, A)),
    ("15,45 8-18 * * mon-fri", (A, A, A)),
    ("0 0 * JAN-MAR SUN", (A, A, A)),
    ("0 0 * jan mon", (A, A, A)),
    ("0 12 * * 7", (A, A, A)),
    ("0 12 * * 0-7", (A, A, A)),
    ("10-20/5 * * * *", (A, A, A)),
    ("*/5,10 * * * *", (A, A, A)),
    ("0 0 1-31/2 * *", (A, A, A)),
    ("1,2,3 * * * *", (A, A, A)),
    ("  1 2 3 4 5 ", (A, A, A)),
    ("@hourly", (A, A, A)),
    ("@daily", (A, A, A)),
    ("@midnight", (A, A, A)),
    ("@weekly", (A, A, A)),
    ("@monthly", (A, A, A)),
    ("@yearly", (A, A, A)),
    ("@annually", (A, A, A)),
    ("@reboot", (A, A, A)),  # never fires on a schedule
    ("@daily extra", (A, A, A)),  # the rest is ignored
    ("*/61 * * * *", (A, A, A)),  # only minute 0
    ("* */100 * * *", (A, A, A)),
    ("0-59/61 * * * *", (A, A, A)),
    ("* * * * * *", (A, A, A)),  # six fields: the sixth is ignored, once a minute
    ("* * * * * * *", (A, A, A)),
    ("5 * * * * foo", (A, A, A)),
    ("0 0 * * 5-1", (A, A, A)),  # a reversed range selects nothing: never fires
    ("59-0 * * * *", (A, A, A)),
    ("2-1/3 * * * *", (A, A, A)),
    ("0 0 31 2 *", (A, A, A)),  # valid, never fires
    ("0 0 30 2 *", (A, A, A)),
    ("0 0 * * 1#2", (A, A, A)),  # #n ignored: every Monday
    ("0 0 * * 1#6", (A, A, A)),
    ("* * * * 3!", (A, A, A)),  # trailing punctuation skipped
    ("*% * * * *", (A, A, A)),
    ("L * * * *", (R, R, R)),
    ("0 0 L * *", (R, R, R)),
    ("0 0 LW * *", (R, R, R)),
    ("0 0 * * 5L", (R, R, R)),
    ("0 0 15W * *", (R, R, R)),
    ("0 0 ? * *", (R, R, R)),
    ("5/15 * * * *", (R, R, R)),
    ("10 sec", (R, R, R)),
    ("30seconds x", (R, R, R)),
    ("@DAILY", (R, R, R)),
    ("@every 5m", (R, R, R)),
    ("* * * *", (R, R, R)),
    ("", (R, R, R)),
    ("a b c d e", (R, R, R)),
    ("60 * * * *", (R, R, R)),
    ("0 24 * * *", (R, R, R)),
    ("0 0 0 * *", (R, R, R)),
    ("0 0 32 * *", (R, R, R)),
    ("0 0 * 0 *", (R, R, R)),
    ("0 0 * 13 *", (R, R, R)),
    ("0 0 * * 8", (R, R, R)),
    ("*/0 * * * *", (R, R, R)),
    ("-1 * * * *", (R, R, R)),
    ("1-/2 * * * *", (R, R, R)),
    ("0 0 * * #2", (R, R, R)),
    ("* * * * 3x", (R, R, R)),
    ("0 0 * january *", (R, R, R)),
    ("30 seconds", (R, A, A)),
    ("1 second", (R, A, A)),
    ("59 seconds", (R, A, A)),
    ("5 SECONDS", (R, A, A)),
    (" 30 seconds ", (R, A, A)),
    ("30seconds", (R, A, A)),
    ("0 seconds", (R, R, R)),
    ("60 seconds", (R, R, R)),
    ("0 12 $ * *", (R, R, A)),
]


def test_the_table_is_large_enough() -> None:
    assert len(TABLE) >= 60
    assert len({expr for expr, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("expression", "accepted"), TABLE)
def test_parser_verdict_per_version(expression: str, accepted: tuple[bool, bool, bool]) -> None:
    assert tuple(v.accepted for v in compatibility(expression)) == accepted


@pytest.mark.parametrize(("expression", "accepted"), TABLE)
def test_explain_and_loader_follow_the_newest_parser(expression: str, accepted: tuple[bool, bool, bool]) -> None:
    if accepted[2]:
        _, meaning, fires = explain_expression(expression)
        assert meaning
        try:
            Schedule.parse(expression)
        except NeverFiresError:
            assert not fires
        else:
            assert fires
    else:
        with pytest.raises(ScheduleError):
            explain_expression(expression)
        with pytest.raises(ScheduleError) as caught:
            Schedule.parse(expression)
        assert not isinstance(caught.value, NeverFiresError)


def test_what_pg_cron_makes_of_its_quirks() -> None:
    assert explain_expression("0 0 * * 1#2")[1] == "At 00:00 on Monday"
    assert explain_expression("* * * * * *")[1] == "Every minute"
    assert explain_expression("*/61 * * * *")[1] == "Every hour, on the hour"
    assert not explain_expression("0 0 * * 5-1")[2]
    assert not explain_expression("0 0 31 2 *")[2]
    assert not explain_expression("@reboot")[2]
    assert parse_entry("0 12 $ * *").last_dom
    # Day of month and day of week: either one when neither starts with '*', both when one does.
    either = Schedule.parse("0 0 13 * 5")
    both = Schedule.parse("0 0 */13 * 5")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert either.next_runs(start, 3) == [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 12, tzinfo=UTC),
                                          datetime(2024, 1, 13, tzinfo=UTC)]  # fmt: skip
    assert both.next_run(start) == datetime(2024, 3, 1, tzinfo=UTC)  # the first Friday on day 1, 14 or 27


def _version(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'").fetchone()
    assert row is not None
    return "1.4" if str(row[0]).startswith("1.4") else ("1.5" if str(row[0]).startswith("1.5") else "1.6")


@pytest.mark.slow
def test_real_pg_cron_agrees(clean_db: str) -> None:
    """Every expression of the table scheduled in the sandbox's real pg_cron: accepted exactly when the
    parser port says so."""
    disagreements = []
    with psycopg.connect(clean_db, autocommit=True) as conn:
        index = ["1.4", "1.5", "1.6"].index(_version(conn))
        for expression, accepted in TABLE:
            try:
                with conn.transaction():
                    conn.execute("SELECT cron.schedule('parity', %s, 'SELECT 1')", [expression])
                    raise _Rollback
            except _Rollback:
                real = True
            except psycopg.errors.InvalidParameterValue:
                real = False
            if real != accepted[index]:
                disagreements.append((expression, real))
            ours = compatibility(expression)[index].accepted
            if ours != real:
                disagreements.append((expression, f"ours {ours}"))
    assert disagreements == []


class _Rollback(Exception):
    pass


# Expressions that both pg_cron and cronsim read the same way (no reversed ranges, no #n, five fields).
SAME_MEANING = [
    "* * * * *",
    "*/7 * * * *",
    "0 2 * * *",
    "0 9 * * 1-5",
    "30 6 1 * *",
    "15,45 8-18 * * *",
    "0 0 1,15 * *",
    "0 0 13 * 5",
    "0 12 * * 0",
    "0 12 * * 7",
    "10-20/5 3 * * *",
    "0 0 29 2 *",
    "0 */5 * * *",
    "5 4 * jan,jul *",
]


@pytest.mark.parametrize("expression", SAME_MEANING)
def test_next_fire_times_match_a_second_evaluator(expression: str) -> None:
    ours = Schedule.parse(expression)
    for start in (datetime(2024, 2, 27, 23, 59, tzinfo=UTC), datetime(2023, 12, 31, 12, 0, tzinfo=UTC)):
        theirs = CronSim(expression, start)
        expected = [next(theirs) for _ in range(20)]
        assert ours.next_runs(start, 20) == expected
        back = CronSim(expression, expected[-1] + timedelta(seconds=1), reverse=True)
        assert list(reversed(ours.previous_runs(expected[-1] + timedelta(seconds=1), 20))) == list(
            reversed([next(back) for _ in range(20)])
        )
