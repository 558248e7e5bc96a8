"""`cronctl triage --watch` in a real pseudo-terminal (issue 14, pexpect): it redraws in place with Rich Live, shows
what changed since the last refresh, and ends cleanly, at the runbook's exit condition or on Ctrl-C, with the
cursor restored, no traceback and the last snapshot printed normally.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.slow  # each test waits for the watch to refresh

pexpect = pytest.importorskip("pexpect")

CRONCTL = shutil.which("cronctl", path=str(Path(sys.executable).parent)) or "cronctl"
RUNBOOK = """
[runbook]
name = "watched"
[connection]
statement_timeout = "2s"
[jobs.g]
schedule = "0 0 1 1 *"
url = "http://127.0.0.1:9/g"
history = { pg_cron = true }
scheduler = "pg_cron"
[exit_condition]
consecutive_ok = 3
"""
SHOW_CURSOR = "\x1b[?25h"
HIDE_CURSOR = "\x1b[?25l"
ERASE_LINE = "\x1b[2K"  # Rich Live rewrites its lines in place: erase, cursor up, draw again


def _job(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT cron.schedule('g', '0 0 1 1 *', 'SELECT 1')").fetchone()
        assert row is not None
        return int(row[0])


def _run(dsn: str, jobid: int, status: str, message: str, seconds_ago: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
            " return_message, start_time, end_time)"
            " VALUES (%s, nextval('cron.runid_seq'), 1, current_database(), current_user, 'SELECT 1', %s, %s,"
            " now() - make_interval(secs => %s), now() - make_interval(secs => %s) + interval '0.2 second')",
            [jobid, status, message, seconds_ago, seconds_ago],
        )


def _spawn(dsn: str, tmp_path: Path, *args: str) -> pexpect.spawn:
    path = tmp_path / "watched.toml"
    path.write_text(RUNBOOK)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update({"DATABASE_URL": dsn, "NO_COLOR": "1", "TERM": "xterm-256color"})
    child = pexpect.spawn(
        CRONCTL,
        ["triage", "-r", str(path), "--watch", *args],
        env=env,
        dimensions=(70, 110),
        encoding="utf-8",
        timeout=30,
    )
    child.logfile_read = (tmp_path / "pty.log").open("w", encoding="utf-8")
    return child


def test_watch_redraws_in_place_shows_changes_and_ends_at_the_exit_condition(clean_db: str, tmp_path: Path) -> None:
    jobid = _job(clean_db)
    for ago in (50, 40):
        _run(clean_db, jobid, "failed", 'ERROR:  relation "outbox" does not exist', ago)
    child = _spawn(clean_db, tmp_path, "--interval", "0.5")
    child.expect("watch: refresh 1 at")
    child.expect("failing")
    child.expect("waiting for: g 0/3 ok in a row")
    # The job recovers while the watch is running: three good runs, newer than the failures.
    for ago in (6, 4, 2):
        _run(clean_db, jobid, "succeeded", "1 row", ago)
    child.expect("Changed since the last refresh")
    child.expect(pexpect.EOF)
    child.close()
    out = child.before or ""
    # The last snapshot's status decides the exit code, as without --watch: the failures are still in the window.
    assert child.exitstatus in (0, 1), out[-2000:]
    assert "watch ended after" in out and "the exit condition holds" in out
    log = (tmp_path / "pty.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    # Several refreshes, each drawn over the one before (erase line, cursor up), not appended below it.
    assert log.count("watch: refresh ") >= 2
    assert ERASE_LINE in log and ("\x1b[1A" in log or "\x1b[A" in log), "the live view was appended, not redrawn"
    assert SHOW_CURSOR in log[log.rindex(HIDE_CURSOR) :], "the cursor was left hidden"


def test_watch_shows_what_changed_between_refreshes(clean_db: str, tmp_path: Path) -> None:
    jobid = _job(clean_db)
    _run(clean_db, jobid, "failed", "connection failed", 30)
    child = _spawn(clean_db, tmp_path, "--interval", "0.5")
    child.expect("watch: refresh 1 at")
    child.expect("first refresh: changes are shown from the next one on")
    child.expect("watch: refresh 2 at")
    child.expect("no change since the last refresh")
    _run(clean_db, jobid, "succeeded", "1 row", 1)
    # The job's state moves: the change table names it, with the old and the new state.
    child.expect("Changed since the last refresh")
    child.expect(r"│ g +│[^\n]*✗ failing[^\n]*│[^\n]*✓ ok")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert "Traceback" not in (child.before or "")


def test_ctrl_c_ends_the_watch_cleanly(clean_db: str, tmp_path: Path) -> None:
    jobid = _job(clean_db)
    _run(clean_db, jobid, "failed", "connection failed", 20)
    child = _spawn(clean_db, tmp_path, "--interval", "0.5")
    child.expect("watch: refresh 2 at")
    started = time.monotonic()
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    out = child.before or ""
    assert time.monotonic() - started < 10
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    assert "stopped by Ctrl-C" in out
    assert "triage: watched" in out and "failing" in out  # the last snapshot, printed normally
    log = (tmp_path / "pty.log").read_text(encoding="utf-8")
    assert SHOW_CURSOR in log[log.rindex(HIDE_CURSOR) :], "the cursor was left hidden"
    assert child.exitstatus == 2  # the last snapshot's status (crit: a failing job), as without --watch
