"""`cronctl silence` (issue 16 item 2): where a silence is kept, what triage does with it, expiry, audit, refusals.

Against the sandbox cluster: a failing enrolment-sync (seed 003, three 502s in a row) is silenced through the CLI
exactly as an operator would, and triage is run again. Pure parts (which problem a silence covers, the overall
status with silences) are plain unit tests with a fixed time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_runner import run_cli
from corpus.builder import Builder
from corpus.systems import Enrolment
from cronctl.evaluate.findings import Finding
from cronctl.evaluate.health import JobFacts, judge
from cronctl.evaluate.silences import Silenced, active
from cronctl.evaluate.triage import PlatformCheck, overall_silenced
from cronctl.records import Run, Silence
from cronctl.runbook.model import JobSpec

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
RUNBOOK = str(RUNBOOKS / "enrolment-sync.toml")
NOW = datetime(2026, 11, 30, 10, 7, tzinfo=UTC)
BAD = "LMS request failed: HTTP 502 Bad Gateway"


def silence(job: str | None, *, start: datetime = NOW - timedelta(minutes=5), hours: float = 2.0, **kw: Any) -> Silence:
    values: dict[str, Any] = {"id": "t1", "runbook": "rb", "author": "mina@laptop", "reason": "INC-1"}
    values.setdefault("store", "database")
    values.update(kw)
    return Silence(job=job, created_at=start, until=start + timedelta(hours=hours), **values)


# ---------------------------------------------------------------- pure


def test_a_silence_applies_between_its_creation_and_its_expiry() -> None:
    s = silence("a")
    assert s.active(NOW) and not s.active(s.until) and not s.active(s.created_at - timedelta(seconds=1))
    assert active([s, silence("b", start=NOW - timedelta(hours=3))], NOW) == [s]  # the expired one vanished


def test_a_job_silence_covers_that_job_and_all_covers_everything() -> None:
    quiet = Silenced.at([silence("a")], NOW)
    assert quiet.for_job("a") is not None and quiet.for_job("b") is None and quiet.for_job(None) is None
    assert quiet.jobs(["a"]) is not None and quiet.jobs(["a", "b"]) is None
    everything = Silenced.at([silence(None)], NOW)
    assert everything.for_job("b") is not None and everything.for_job(None) is not None


def _failing(name: str) -> Any:
    spec = JobSpec(name=name, schedule="0 * * * *", timeout=60.0)
    runs = [
        Run(job=name, source="run_log", status="failed", started_at=NOW.replace(minute=0) - timedelta(hours=h),
            finished_at=NOW.replace(minute=0) - timedelta(hours=h) + timedelta(seconds=3), message=BAD)
        for h in range(3)
    ]  # fmt: skip
    return judge(spec, runs, JobFacts(), NOW)


def test_a_silenced_failing_job_counts_as_if_absent() -> None:
    a, b = _failing("a"), _failing("b")
    finding = Finding("crit", "a", "5xx", "upstream", "wait", "job a; group HTTP_5XX")
    status, reasons, muted = overall_silenced([a], [], [], [], [finding], silenced=Silenced.at([silence("a")], NOW))
    assert (status, reasons) == ("ok", [])
    assert any("a failing" in m and "silenced until" in m for m in muted)
    status, reasons, _ = overall_silenced([a, b], [], [], [], [finding], silenced=Silenced.at([silence("a")], NOW))
    assert status == "crit" and reasons == ["b failing"]
    # Expired: counts again.
    expired = Silenced.at([silence("a", start=NOW - timedelta(hours=3))], NOW)
    assert overall_silenced([a], [], [], [], [finding], silenced=expired)[0] == "crit"


def test_all_silences_system_wide_checks_too() -> None:
    check = PlatformCheck("scheduler", "crit", "no pg_cron scheduler backend")
    assert overall_silenced([], [], [], [check], [])[0] == "crit"
    status, _, muted = overall_silenced([], [], [], [check], [], silenced=Silenced.at([silence(None)], NOW))
    assert status == "ok" and muted
    # A job's silence does not hide a system-wide check.
    assert overall_silenced([], [], [], [check], [], silenced=Silenced.at([silence("a")], NOW))[0] == "crit"


# ---------------------------------------------------------------- against the sandbox


@pytest.fixture
def state(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {
        "CRONCTL_STATE_DIR": str(tmp_path / "state"),
        "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl"),
        "WORKER_URL": "http://127.0.0.1:9",  # the runbook's one variable (nothing is fired here)
    }


def _failing_enrolment(dsn: str) -> None:
    """seed 003: the hourly sync failed with 502 at its last three calls (judged live: now is the clock)."""
    now = datetime.now(UTC)
    with psycopg.connect(dsn, autocommit=True) as conn:
        b = Builder(conn, now, live=True)
        e = Enrolment(b)
        broke = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
        e.hourly(now - timedelta(days=2), status=lambda t: e.failed(t, BAD, 3) if t >= broke else None)
        e.write()
        e.alerts()
        b.finish()


def cli(dsn: str, env: dict[str, str], *args: str) -> Any:
    return run_cli(*args, "-r", RUNBOOK, env={"DATABASE_URL": dsn, **env})


def triage(dsn: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = cli(dsn, env, "triage", "-f", "json")
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def _audit(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["CRONCTL_AUDIT_FILE"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_silence_in_the_database_marks_the_job_and_keeps_it_out_of_the_exit_code(
    clean_db: str, state: dict[str, str]
) -> None:
    _failing_enrolment(clean_db)
    code, before = triage(clean_db, state)
    assert before["status"] == "crit" and code == 2
    assert before["jobs"][0]["silenced"] is None and before["silences"] == []

    result = cli(clean_db, state, "silence", "enrolment-sync", "--for", "2h", "--reason", "LMS outage, INC-7",
                 "--yes", "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert added["store"] == "database" and added["why_local"] is None
    assert added["silence"]["job"] == "enrolment-sync" and added["silence"]["reason"] == "LMS outage, INC-7"
    with psycopg.connect(clean_db) as conn:
        rows = conn.execute("SELECT runbook, job, author, reason, until - created_at FROM cronctl.silences").fetchall()
    assert rows == [("enrolment-sync", "enrolment-sync", added["silence"]["author"], "LMS outage, INC-7",
                     timedelta(hours=2))]  # fmt: skip

    code, after = triage(clean_db, state)
    job = after["jobs"][0]
    assert job["state"] == "failing"  # still judged, and said
    assert job["silenced"]["reason"] == "LMS outage, INC-7" and job["silenced"]["store"] == "database"
    assert after["status"] == "ok" and code == 0, (after["reasons"], after["checks"])  # as if the job were absent
    assert any("enrolment-sync failing" in r for r in after["silenced_reasons"])
    assert all(f["silenced"] for f in after["findings"] if f["job"] == "enrolment-sync")
    human = cli(clean_db, state, "triage")
    assert human.exit_code == 0 and "silenced" in human.stdout

    listed = json.loads(cli(clean_db, state, "silence", "list", "-f", "json").stdout)
    assert [(s["job"], s["store"]) for s in listed["silences"]] == [("enrolment-sync", "database")]
    assert listed["stores"]["database"]["state"] == "ok"

    # A second silence of the job replaces the first.
    again = cli(clean_db, state, "silence", "enrolment-sync", "--for", "30m", "--reason", "shorter", "--yes", "-f",
                "json")  # fmt: skip
    assert again.exit_code == 0 and len(json.loads(again.stdout)["replaced"]) == 1
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT reason FROM cronctl.silences").fetchall() == [("shorter",)]

    cleared = cli(clean_db, state, "silence", "clear", "enrolment-sync", "--yes", "-f", "json")
    assert cleared.exit_code == 0 and len(json.loads(cleared.stdout)["cleared"]) == 1
    code, last = triage(clean_db, state)
    assert last["status"] == "crit" and code == 2 and last["jobs"][0]["silenced"] is None
    actions = [(r["action"], r["result"]) for r in _audit(state)]
    assert ("silence.add", "pending") in actions and ("silence.add", "ok") in actions
    assert ("silence.clear", "ok") in actions


def test_dry_run_changes_nothing_and_shows_the_sql(clean_db: str, state: dict[str, str]) -> None:
    result = cli(clean_db, state, "silence", "--all", "--for", "1h", "--reason", "maintenance", "--dry-run", "-f",
                 "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] and data["store"] == "database"
    assert any("CREATE TABLE IF NOT EXISTS cronctl.silences" in q for q in data["sql"])
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT to_regclass('cronctl.silences')").fetchone() == (None,)
    assert [r["result"] for r in _audit(state)] == ["dry-run"]
    assert not (Path(state["CRONCTL_STATE_DIR"]) / "silences").exists()


def test_a_read_only_role_keeps_its_silence_locally_and_says_so(
    clean_db: str, read_only_role: str, state: dict[str, str]
) -> None:
    _failing_enrolment(clean_db)
    refused = cli(read_only_role, state, "silence", "enrolment-sync", "--for", "1h", "--reason", "x", "--yes",
                  "--store", "database")  # fmt: skip
    assert refused.exit_code == 4, refused.output
    assert "read-only" in refused.stderr and "nothing changed" in refused.stderr

    result = cli(read_only_role, state, "silence", "enrolment-sync", "--for", "1h", "--reason", "LMS outage", "--yes",
                 "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["store"] == "local" and "read-only" in data["why_local"]
    assert Path(data["where"].split("local state file ", 1)[1].split(" (", 1)[0]).is_file()
    human = cli(read_only_role, state, "silence", "enrolment-sync", "--for", "1h", "--reason", "again", "--yes")
    assert "only this user" in human.stdout.lower() or "only this user" in human.output.lower()

    code, seen = triage(read_only_role, state)
    assert seen["jobs"][0]["silenced"]["store"] == "local" and seen["status"] == "ok" and code == 0
    listed = json.loads(cli(read_only_role, state, "silence", "list", "-f", "json").stdout)
    assert [s["store"] for s in listed["silences"]] == ["local"]
    assert listed["stores"]["database"]["state"] == "not_installed"
    # Another operator (a different state dir) does not see a local silence.
    other = {**state, "CRONCTL_STATE_DIR": state["CRONCTL_STATE_DIR"] + "-other"}
    assert triage(read_only_role, other)[1]["status"] == "crit"


def test_clearing_database_silences_needs_a_role_that_may_delete(
    clean_db: str, read_only_role: str, state: dict[str, str]
) -> None:
    assert cli(clean_db, state, "silence", "--all", "--for", "1h", "--reason", "m", "--yes").exit_code == 0
    refused = cli(read_only_role, state, "silence", "clear", "--all", "--yes")
    assert refused.exit_code == 4, refused.output
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT count(*) FROM cronctl.silences").fetchone() == (1,)
    seen = json.loads(cli(read_only_role, state, "silence", "list", "-f", "json").stdout)
    assert [s["all"] for s in seen["silences"]] == [True]  # readable by every role (SELECT granted to PUBLIC)


def test_expired_silences_vanish_by_themselves(clean_db: str, state: dict[str, str]) -> None:
    assert cli(clean_db, state, "silence", "--all", "--for", "1h", "--reason", "m", "--yes").exit_code == 0
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("UPDATE cronctl.silences SET created_at = now() - interval '3 hours',"
                     " until = now() - interval '1 hour'")  # fmt: skip
    assert json.loads(cli(clean_db, state, "silence", "list", "-f", "json").stdout)["silences"] == []
    assert cli(clean_db, state, "silence", "enrolment-sync", "--for", "1h", "--reason", "n", "--yes").exit_code == 0
    with psycopg.connect(clean_db) as conn:  # the next write removed the expired row
        assert conn.execute("SELECT job FROM cronctl.silences").fetchall() == [("enrolment-sync",)]
    # Locally too: an expired entry is not listed and is dropped by the next write.
    local = {**state}
    path = Path(local["CRONCTL_STATE_DIR"]) / "silences" / "enrolment-sync.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "silences": [
        {"id": "local-old", "job": "enrolment-sync", "created_at": "2026-01-01T00:00:00Z",
         "until": "2026-01-01T01:00:00Z", "author": "x", "reason": "old"}]}))  # fmt: skip
    listed = json.loads(cli(clean_db, local, "silence", "list", "-f", "json").stdout)
    assert [s["store"] for s in listed["silences"]] == ["database"]
    assert cli(clean_db, local, "silence", "--all", "--for", "1h", "--reason", "n", "--yes", "--store",
               "local").exit_code == 0  # fmt: skip
    kept = json.loads(path.read_text())["silences"]
    assert [s["job"] for s in kept] == [None]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["silence", "no-such-job", "--for", "1h", "--reason", "x", "--yes"], 2, "no job named"),
        (["silence", "enrolment-sync", "--for", "1h", "--yes"], 2, "--reason"),
        (["silence", "enrolment-sync", "--reason", "x", "--yes"], 2, "--for"),
        (["silence", "enrolment-sync", "--for", "0s", "--reason", "x", "--yes"], 2, "--for"),
        (["silence", "enrolment-sync", "--for", "60d", "--reason", "x", "--yes"], 2, 'expect = "disabled"'),
        (["silence", "enrolment-sync", "--for", "1h", "--reason", "   ", "--yes"], 2, "--reason"),
        (["silence", "--for", "1h", "--reason", "x", "--yes"], 2, "--all"),
        (["silence", "enrolment-sync", "--all", "--for", "1h", "--reason", "x"], 2, "not both"),
        (["silence", "enrolment-sync", "--for", "1h", "--reason", "x", "--store", "cloud"], 2, "--store"),
        (["silence", "enrolment-sync", "--for", "1h", "--reason", "x"], 5, "--yes"),
        (["silence", "clear"], 2, "--all"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    clean_db: str, state: dict[str, str], args: list[str], code: int, words: str
) -> None:
    result = cli(clean_db, state, *args)
    assert result.exit_code == code, result.output
    assert words in result.stderr and "Traceback" not in result.output
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT to_regclass('cronctl.silences')").fetchone() == (None,)


def test_a_silence_of_another_runbook_does_not_apply(clean_db: str, state: dict[str, str]) -> None:
    _failing_enrolment(clean_db)
    assert cli(clean_db, state, "silence", "enrolment-sync", "--for", "1h", "--reason", "x", "--yes").exit_code == 0
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("UPDATE cronctl.silences SET runbook = 'some-other-system'")
    assert triage(clean_db, state)[1]["status"] == "crit"
