"""The layout's own rules, checked with the readability checks the width tests share (tests/readability.py)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from cronctl.output.layout import column_widths, plain_table, rich_overhead, wrap_text
from cronctl.output.render import render
from cronctl.output.report import Item, Items, Mark, Report, Table
from cronctl.output.times import clock, relative, when
from readability import (
    _render,
    assert_readable,
    ellipses,
    lines_with,
    too_wide,
)


def test_wrapping_never_breaks_at_a_hyphen() -> None:
    lines = wrap_text("last 5 run(s) failed: job_lock active: sync-enrolments locked by worker-3:912", 30)
    assert all(len(line) <= 30 for line in lines)
    assert any("sync-enrolments" in line for line in lines) and any("worker-3:912" in line for line in lines)


def test_a_table_too_wide_for_its_values_has_no_layout() -> None:
    headers = ["job", "state", "last run"]
    rows = [["scheduled-dispatcher", "✗ failing", "2026-12-01 21:22Z, 3 min ago"]]
    assert column_widths(headers, rows, (), 200, rich_overhead(3)) == [20, 9, 28]
    assert column_widths(headers, rows, (), 50, rich_overhead(3)) is None


def test_free_text_columns_wrap_and_the_others_stay_whole() -> None:
    headers = ["job", "why"]
    rows = [["dispatch-messages", "last 25 run(s) failed: unauthorized " * 3]]
    widths = column_widths(headers, rows, (1,), 60, 2)
    assert widths is not None and widths[0] == len("dispatch-messages") and sum(widths) <= 58
    lines = plain_table(headers, rows, widths)
    assert lines[1].startswith("dispatch-messages") and all(len(line) <= 60 for line in lines)


def test_a_wide_table_becomes_blocks_below_its_width(monkeypatch: object) -> None:
    row = ["scheduled-dispatcher", Mark("failing", "crit"), "2026-12-01 21:22Z, 3 min ago", 25, "unauthorized"]
    report = Report(data={}, sections=[Table(["job", "state", "last run", "fails", "why"], [row], wrap=(4,))])
    for fmt in ("table", "plain"):
        wide = _render(report, fmt, 200, monkeypatch)
        narrow = _render(report, fmt, 40, monkeypatch)
        assert lines_with(wide, "scheduled-dispatcher", "failing", "21:22Z", "25")  # one row
        assert lines_with(narrow, "scheduled-dispatcher", "✗", "failing")  # the block's head
        assert lines_with(narrow, "last run", "2026-12-01", "21:22Z,", "3 min ago")
        assert not too_wide(narrow, 40) and not ellipses(narrow)


def test_findings_read_top_down_at_80_columns(monkeypatch: object) -> None:
    action = "Check leftover locks (`cronctl locks`, query 3-7); clear the lock only if it is stale, then retry"
    item = Item("crit", "sync-enrolments: Run refused", [("why", "A crashed run left its lock"), ("do", action)],
                ["cronctl locks clear sync-enrolments"])  # fmt: skip
    report = Report(data={}, sections=[Items([item], title="Findings")])
    for fmt in ("table", "plain", "markdown"):
        out = _render(report, fmt, 80, monkeypatch)
        assert_readable(out, 80 if fmt != "markdown" else 10_000, paragraphs=[action],
                        commands=["cronctl locks clear sync-enrolments"], where=fmt)  # fmt: skip
        assert out.index("Run refused") < out.index("A crashed run") < out.index("clear the lock")


def test_markdown_stays_within_its_limit_and_says_what_it_left_out() -> None:
    items = [Item("crit", f"job-{n}: symptom", [("do", "x" * 300)]) for n in range(30)]
    report = Report(data={}, sections=[Items(items, title="Findings"), Table(["a"], [["b"]], title="Jobs")],
                    markdown_limit=4000, markdown_more="`cronctl triage --full`")  # fmt: skip
    out = io.StringIO()
    render(report, "markdown", out)
    text = out.getvalue()
    assert len(text) <= 4000
    assert "1. **✗ crit · job-0: symptom**" in text
    assert "more in Findings" in text and "Jobs" in text.splitlines()[-1] and "--full" in text


def test_times_are_absolute_to_the_minute_and_relative() -> None:
    now = datetime(2026, 12, 1, 21, 25, 10, tzinfo=UTC)
    assert when(datetime(2026, 12, 1, 21, 22, 5, tzinfo=UTC), now) == "21:22Z, 3 min ago"
    assert when(datetime(2026, 12, 1, 21, 40, tzinfo=UTC), now) == "21:40Z, in 15 min"
    assert clock(datetime(2026, 11, 28, 2, 0, tzinfo=UTC), now) == "2026-11-28 02:00Z"
    assert relative(datetime(2026, 11, 28, 2, 0, tzinfo=UTC), now) == "3d19h ago"


def test_one_severity_vocabulary_in_every_command() -> None:
    from cronctl.output.report import mark

    assert str(mark("fail", "doctor", show="severity")) == "✗ crit"
    assert str(mark("failing", "job")) == "✗ failing"
    assert str(mark("error", "trigger", show="both")) == "✗ crit (error)"
    assert str(mark("error", "check")) == "? error"
    assert str(mark("skip", "doctor", show="severity")) == "? unknown"
    assert str(mark("stale", "lock")) == "! stale"
    assert str(mark("pass", "doctor", show="severity")) == str(mark("ok", "check")) == "✓ ok"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_keeps_the_symbols_and_drops_the_colours(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    row = ["dispatch-messages", Mark("failing", "crit")]
    report = Report(data={}, sections=[Table(["job", "state"], [row])], headline="CRITICAL: 1 job", tone="crit")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = _Terminal()
    render(report, "table", coloured)
    assert "\x1b[1;31m" in coloured.getvalue() or "\x1b[31m" in coloured.getvalue()  # red for crit
    monkeypatch.setenv("NO_COLOR", "1")
    plain = _Terminal()
    render(report, "table", plain)
    text = plain.getvalue()
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", text), "a colour was written despite NO_COLOR"
    assert "✗ failing" in text and "✗ CRITICAL: 1 job" in text
