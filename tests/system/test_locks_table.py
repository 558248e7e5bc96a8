"""`cronctl locks` against a real lock table (seed 003's job_lock) in the sandbox PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.evaluate.locks import judge
from cronctl.runbook.loader import load_runbook
from cronctl.sources.locks.table import delete_table_lock, read_table, table_jobs

RUNBOOK = """
[runbook]
name = "enrolment"

[lock_tables.job_lock]
table = "job_lock"

[run_logs.run_log]
table = "run_log"
job_column = "job"
[run_logs.run_log.statuses]
running = ["RUNNING"]
succeeded = ["SUCCESS"]
failed = ["FAILED"]

[jobs.enrolment-sync]
url = "http://127.0.0.1:9/jobs/enrolment-sync"
timeout = "60s"
[jobs.enrolment-sync.lock]
backend = "table"
margin = "5m"

[jobs.grade-sync]
url = "http://127.0.0.1:9/jobs/grade-sync"
timeout = "60s"
[jobs.grade-sync.lock]
backend = "table"
margin = "1m"

[jobs.busy-sync]
url = "http://127.0.0.1:9/jobs/busy-sync"
timeout = "60s"
[jobs.busy-sync.history]
run_log = "run_log"
[jobs.busy-sync.lock]
backend = "table"

# Seed 003's shape: a 5-minute budget, runs in run_log, the lock in job_lock.
[jobs.roster-sync]
url = "http://127.0.0.1:9/jobs/roster-sync"
timeout = "5m"
history = { run_log = "run_log" }
lock = { backend = "table", margin = "5m" }

[jobs.grade-export]
url = "http://127.0.0.1:9/jobs/grade-export"
timeout = "5m"
history = { run_log = "run_log" }
lock = { backend = "table", margin = "5m" }

# A pg_cron job running SQL that takes a job_lock row; pg_cron's job_pid says which backend runs it.
[jobs.pg-export]
scheduler = "pg_cron"
timeout = "5m"
history = { pg_cron = "pg-export" }
lock = { backend = "table", margin = "5m" }
"""

SCHEMA = """
CREATE TABLE job_lock (
  job_name text PRIMARY KEY,
  locked_by text,
  locked_at timestamptz NOT NULL,
  lock_expires_at timestamptz
);
CREATE TABLE run_log (id bigserial PRIMARY KEY, job text, status text, started_at timestamptz,
                      finished_at timestamptz);
"""


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "runbook.toml"
    path.write_text(RUNBOOK)
    return path


@pytest.fixture
def db(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CRONCTL_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return clean_db


def sql(dsn: str, statement: str, params: object = None) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def seed_locks(dsn: str) -> None:
    sql(
        dsn,
        """
        INSERT INTO job_lock VALUES
          ('enrolment-sync', 'worker-dead', now() - interval '2 hours', now() + interval '1 day'),
          ('grade-sync', 'worker-2', now() - interval '10 seconds', now() + interval '5 minutes'),
          ('busy-sync', 'worker-3', now() - interval '10 minutes', NULL),
          ('old-job', 'worker-9', now() - interval '3 days', now() - interval '2 days');
        -- busy-sync's run is slow, not dead: its lock is older than timeout + margin, and the newest rows are
        -- runs the lock refused.
        INSERT INTO run_log (job, status, started_at, finished_at) VALUES
          ('busy-sync', 'RUNNING', now() - interval '10 minutes', NULL),
          ('busy-sync', 'FAILED', now() - interval '5 minutes', now() - interval '5 minutes'),
          ('busy-sync', 'FAILED', now() - interval '1 minute', now() - interval '1 minute');
    """,
    )


def run(runbook: Path, dsn: str, *args: str) -> tuple[int, dict[str, object], str]:
    result = run_cli("locks", *args, "-r", str(runbook), "-f", "json", env={"DATABASE_URL": dsn})
    data = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, data, result.stderr


def by_name(data: dict[str, object], key: str = "locks") -> dict[str, dict[str, object]]:
    return {item["name"]: item for item in data[key]}  # type: ignore[index, attr-defined]


def test_list_judges_stale_and_live_rows(runbook: Path, db: str) -> None:
    seed_locks(db)
    code, data, _ = run(runbook, db)
    assert code == 1
    locks = by_name(data)
    assert set(locks) == {"enrolment-sync", "grade-sync", "busy-sync", "old-job"}
    assert locks["enrolment-sync"]["state"] == "stale"
    assert "timeout 1m + margin 5m" in str(locks["enrolment-sync"]["reason"])
    assert locks["enrolment-sync"]["holder"] == "worker-dead"
    assert 7100 < float(locks["enrolment-sync"]["age_seconds"]) < 7300  # type: ignore[arg-type]
    assert locks["grade-sync"]["state"] == "held" and locks["grade-sync"]["stale"] is False
    assert locks["busy-sync"]["state"] == "held"
    assert "RUNNING for 10m" in str(locks["busy-sync"]["reason"])
    assert "started when the lock was taken" in str(locks["busy-sync"]["reason"])
    assert locks["old-job"]["state"] == "expired"
    assert set(locks["enrolment-sync"]) >= {
        "name",
        "backend",
        "holder",
        "acquired_at",
        "expires_at",
        "age_seconds",
        "stale",
        "state",
        "reason",
    }

    code, data, _ = run(runbook, db, "--stale")
    assert code == 1
    assert set(by_name(data)) == {"enrolment-sync", "old-job"}

    table = run_cli("locks", "-r", str(runbook), env={"DATABASE_URL": db})
    assert "enrolment-sync" in table.stdout and "stale" in table.stdout and "worker-dead" in table.stdout


def test_clear_all_stale_removes_only_stale_rows(runbook: Path, db: str, tmp_path: Path) -> None:
    seed_locks(db)
    code, data, _ = run(runbook, db, "clear", "--all-stale", "--dry-run")
    assert code == 1
    assert {item["name"] for item in data["would_clear"]} == {"enrolment-sync", "old-job"}  # type: ignore[attr-defined]
    statements = [item["statement"] for item in data["would_clear"]]  # type: ignore[attr-defined]
    assert all("DELETE FROM" in s and "IS NOT DISTINCT FROM" in s for s in statements)
    assert len(sql(db, "SELECT * FROM job_lock")) == 4

    code, data, _ = run(runbook, db, "clear", "--all-stale", "--yes")
    assert code == 0, data
    assert {item["name"] for item in data["cleared"]} == {"enrolment-sync", "old-job"}  # type: ignore[attr-defined]
    assert data["skipped"] == []
    left = {row[0] for row in sql(db, "SELECT job_name FROM job_lock")}
    assert left == {"grade-sync", "busy-sync"}

    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    cleared = [a for a in audit if a["result"] == "cleared"]
    assert {a["target"] for a in cleared} == {"table:enrolment-sync", "table:old-job"}
    assert all(a["action"] == "locks.clear" and not a["dry_run"] for a in cleared)

    code, data, _ = run(runbook, db)
    assert code == 0


def test_clear_one_job_refuses_a_live_lock_without_force(runbook: Path, db: str) -> None:
    seed_locks(db)
    code, data, _ = run(runbook, db, "clear", "grade-sync", "--yes")
    assert code == 0
    assert data["cleared"] == []
    assert "--force" in data["skipped"][0]["reason"]  # type: ignore[index]
    assert sql(db, "SELECT 1 FROM job_lock WHERE job_name = 'grade-sync'")

    # Without a terminal, --force needs --yes too.
    result = run_cli("locks", "clear", "grade-sync", "--force", "-r", str(runbook), env={"DATABASE_URL": db})
    assert result.exit_code == 5
    assert sql(db, "SELECT 1 FROM job_lock WHERE job_name = 'grade-sync'")

    code, data, _ = run(runbook, db, "clear", "grade-sync", "--force", "--yes")
    assert code == 0
    assert [item["name"] for item in data["cleared"]] == ["grade-sync"]  # type: ignore[attr-defined]
    assert not sql(db, "SELECT 1 FROM job_lock WHERE job_name = 'grade-sync'")


def test_usage_errors(runbook: Path, db: str) -> None:
    for args in (
        ["clear"],
        ["clear", "enrolment-sync", "--all-stale"],
        ["clear", "--all-stale", "--force"],
        ["clear", "enrolmnt-sync"],
    ):
        result = run_cli("locks", *args, "-r", str(runbook), env={"DATABASE_URL": db})
        assert result.exit_code == 2, (args, result.output)
    result = run_cli("locks", "clear", "enrolmnt-sync", "-r", str(runbook), env={"DATABASE_URL": db})
    assert "did you mean 'enrolment-sync'" in result.stderr


def test_lock_reacquired_between_listing_and_clearing_is_skipped(runbook: Path, db: str) -> None:
    seed_locks(db)
    book = load_runbook(runbook)
    spec = book.lock_tables["job_lock"]
    now = datetime.now(UTC)
    with psycopg.connect(db, autocommit=True) as conn:
        seen = {lock.name: lock for lock in read_table(conn, spec, table_jobs(book, "job_lock"))}
        lock = seen["enrolment-sync"]
        assert judge(lock, book.jobs["enrolment-sync"], now).state == "stale"
        # The job starts again between the listing and the clear.
        conn.execute(
            "UPDATE job_lock SET locked_by = 'worker-new', locked_at = now(), "
            "lock_expires_at = now() + interval '5 minutes' WHERE job_name = 'enrolment-sync'"
        )
        assert delete_table_lock(conn, spec, lock) is False
        # The same holder name re-acquiring later is still a different lock (acquired time differs).
        expired = seen["old-job"]
        conn.execute("UPDATE job_lock SET locked_at = now() WHERE job_name = 'old-job'")
        assert delete_table_lock(conn, spec, expired) is False
    rows = dict(sql(db, "SELECT job_name, locked_by FROM job_lock"))  # type: ignore[arg-type]
    assert rows["enrolment-sync"] == "worker-new"
    assert "old-job" in rows


ACQUIRE = """
INSERT INTO job_lock (job_name, locked_by, locked_at, lock_expires_at)
VALUES (%(job)s, %(holder)s, clock_timestamp(), clock_timestamp() + interval '5 minutes')
ON CONFLICT (job_name) DO UPDATE
   SET locked_by = EXCLUDED.locked_by, locked_at = EXCLUDED.locked_at, lock_expires_at = EXCLUDED.lock_expires_at
 WHERE job_lock.lock_expires_at < clock_timestamp()
RETURNING locked_by
"""


@pytest.mark.slow
def test_concurrent_reacquire_race_never_loses_a_live_lock(runbook: Path, db: str) -> None:
    """Cleaners and re-acquiring jobs race on the same rows many times; every lock a job got survives."""
    book = load_runbook(runbook)
    spec = book.lock_tables["job_lock"]
    rounds, pairs = 40, 6
    jobs = [f"race-{i}" for i in range(pairs)]
    outcomes = {"cleared": 0, "skipped": 0}
    lost: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def pair(job: str) -> None:
        try:
            with psycopg.connect(db, autocommit=True) as cleaner, psycopg.connect(db, autocommit=True) as worker:
                for n in range(rounds):
                    cleaner.execute("DELETE FROM job_lock WHERE job_name = %s", [job])
                    cleaner.execute(
                        "INSERT INTO job_lock VALUES (%s, 'crashed', now() - interval '1 hour', "
                        "now() - interval '30 minutes')",
                        [job],
                    )
                    seen = [lk for lk in read_table(cleaner, spec, {}) if lk.key == job]
                    assert judge(seen[0], None, datetime.now(UTC)).stale
                    start = threading.Barrier(2)
                    got: list[object] = []

                    def acquire(
                        holder: str = f"{job}-run-{n}",
                        start: threading.Barrier = start,
                        got: list[object] = got,
                    ) -> None:
                        start.wait()
                        row = worker.execute(ACQUIRE, {"job": job, "holder": holder}).fetchone()
                        got.append(row[0] if row else None)

                    t = threading.Thread(target=acquire)
                    t.start()
                    start.wait()
                    deleted = delete_table_lock(cleaner, spec, seen[0])
                    t.join()
                    holder_now = cleaner.execute("SELECT locked_by FROM job_lock WHERE job_name = %s", [job]).fetchall()
                    with guard:
                        outcomes["cleared" if deleted else "skipped"] += 1
                        if got[0] is not None and (not holder_now or holder_now[0][0] != got[0]):
                            lost.append(f"{job} round {n}: acquired {got[0]}, now {holder_now}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pair, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert lost == []
    assert outcomes["cleared"] + outcomes["skipped"] == rounds * pairs
    # Every round the job got its lock (the stale row was either taken over or deleted first).
    assert sql(db, "SELECT count(*) FROM job_lock WHERE locked_by LIKE 'race-%%'")[0][0] == pairs


def test_read_only_role_lists_but_clear_is_refused(runbook: Path, db: str, read_only_role: str) -> None:
    seed_locks(db)
    sql(db, "GRANT SELECT ON job_lock, run_log TO cronctl_ro")
    code, data, _ = run(runbook, read_only_role)
    assert code == 1
    assert by_name(data)["old-job"]["state"] == "expired"

    result = run_cli("locks", "clear", "--all-stale", "--yes", "-r", str(runbook), env={"DATABASE_URL": read_only_role})
    assert result.exit_code == 4, result.output
    assert "permission denied" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        result.stderr.strip().splitlines()[-1]
    ]
    assert len(sql(db, "SELECT * FROM job_lock")) == 4


def test_missing_lock_table_says_why(runbook: Path, clean_db: str) -> None:
    code, data, _stderr = run(runbook, clean_db)
    assert code == 3
    backends = data["backends"]
    assert backends[0]["backend"] == "table:job_lock"  # type: ignore[index]
    assert backends[0]["state"] == "error"  # type: ignore[index]
    assert "job_lock" in backends[0]["message"] and "does not exist" in backends[0]["message"]  # type: ignore[index]

    result = run_cli("locks", "clear", "enrolment-sync", "--yes", "-r", str(runbook), env={"DATABASE_URL": clean_db})
    assert result.exit_code == 3
    assert "does not exist" in result.stderr


# ---------------------------------------------------------------- a live lock beside a crashed one (issue 11)

INCIDENT = """
-- roster-sync: run 1042 is still working (12 minutes, past timeout + margin but a slow run is not a dead one);
-- the newest rows are the runs its lock refused. The lock must survive `clear --all-stale`.
INSERT INTO run_log (id, job, status, started_at, finished_at) VALUES
  (1041, 'roster-sync', 'SUCCESS', now() - interval '72 minutes', now() - interval '71 minutes'),
  (1042, 'roster-sync', 'RUNNING', now() - interval '12 minutes', NULL),
  (1043, 'roster-sync', 'FAILED', now() - interval '8 minutes', now() - interval '8 minutes'),
  (1044, 'roster-sync', 'FAILED', now() - interval '4 minutes', now() - interval '4 minutes'),
  (1045, 'roster-sync', 'FAILED', now() - interval '1 minute', now() - interval '1 minute');
-- grade-export: run 1017 crashed four hours ago; its row stays RUNNING, its lock stays behind (expired 30
-- minutes after it was taken, which the worker ignores), and every later run is refused.
INSERT INTO run_log (id, job, status, started_at, finished_at) VALUES
  (1016, 'grade-export', 'SUCCESS', now() - interval '5 hours', now() - interval '299 minutes'),
  (1017, 'grade-export', 'RUNNING', now() - interval '4 hours', NULL),
  (1018, 'grade-export', 'FAILED', now() - interval '3 hours', now() - interval '3 hours'),
  (1019, 'grade-export', 'FAILED', now() - interval '2 hours', now() - interval '2 hours'),
  (1020, 'grade-export', 'FAILED', now() - interval '1 hour', now() - interval '1 hour');
INSERT INTO job_lock VALUES
  ('roster-sync', 'worker-a:311', now() - interval '12 minutes' + interval '1 second', NULL),
  ('grade-export', 'worker-7f3c:4121', now() - interval '4 hours' + interval '1 second',
   now() - interval '4 hours' + interval '30 minutes');
"""


def test_clear_all_stale_keeps_the_live_lock_and_clears_the_crashed_one(runbook: Path, db: str) -> None:
    sql(db, INCIDENT)
    code, data, _ = run(runbook, db)
    assert code == 1
    locks = by_name(data)
    assert locks["roster-sync"]["state"] == "held", locks["roster-sync"]["reason"]
    assert "run 1042 (run_log) RUNNING for 12m" in str(locks["roster-sync"]["reason"])
    assert locks["grade-export"]["state"] == "expired"
    reason = str(locks["grade-export"]["reason"])
    assert "run 1017 (run_log) left RUNNING" in reason and "the run that took it crashed" in reason
    assert "newest: run 1020 (run_log) failed" in reason
    assert locks["grade-export"]["suspicious"] is False and locks["grade-export"]["note"] is None

    code, data, _ = run(runbook, db, "clear", "--all-stale", "--yes")
    assert code == 0, data
    assert [item["name"] for item in data["cleared"]] == ["grade-export"]  # type: ignore[attr-defined]
    left = dict(sql(db, "SELECT job_name, locked_by FROM job_lock"))  # type: ignore[arg-type]
    assert left == {"roster-sync": "worker-a:311"}


def test_clear_rechecks_the_runs_inside_its_transaction(
    runbook: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run starts while the operator reads the confirmation (after the judgement, before the delete): the
    re-check inside the delete's transaction finds it, the delete is rolled back and the lock stays."""
    from cronctl.cli.common import Invocation
    from cronctl.services import locks as service

    sql(db, INCIDENT)
    monkeypatch.setenv("DATABASE_URL", db)
    inv = Invocation(runbook_path=runbook, env_file=None, profile=None, format="json", debug=False)
    questions: list[str] = []

    def confirm_while_a_run_starts(question: str) -> bool:
        questions.append(question)
        # The worker's next run of grade-export starts and logs itself (committed, in its own session).
        sql(db, "INSERT INTO run_log (id, job, status, started_at) VALUES (1021, 'grade-export', 'RUNNING', now())")
        return True

    report = service.clear(inv, None, force=False, terminate=False, dry_run=False, confirm=confirm_while_a_run_starts)
    assert questions == ["Clear 1 lock(s) listed above?"]
    assert report.data["cleared"] == []
    [skipped] = report.data["skipped"]
    assert skipped["name"] == "grade-export" and skipped["state"] == "held"
    assert "re-checked just before clearing" in skipped["reason"]
    assert "run 1021 (run_log) RUNNING" in skipped["reason"]
    assert report.exit_code == 0  # nothing stale remains: the lock is held again
    assert {row[0] for row in sql(db, "SELECT job_name FROM job_lock")} == {"roster-sync", "grade-export"}


def test_recheck_rolls_back_a_delete_when_a_run_appears(runbook: Path, db: str) -> None:
    """The same at the source level: the row is deleted, the re-check runs in that transaction, the row is back."""
    from cronctl.sources.locks.base import StillInUse

    sql(db, INCIDENT)
    book = load_runbook(runbook)
    spec = book.lock_tables["job_lock"]
    with psycopg.connect(db, autocommit=True) as conn:
        lock = next(lk for lk in read_table(conn, spec, table_jobs(book, "job_lock")) if lk.name == "grade-export")
        seen_inside: list[int] = []

        def recheck(tx: psycopg.Connection[tuple[int]]) -> str | None:
            row = tx.execute("SELECT count(*) FROM job_lock WHERE job_name = 'grade-export'").fetchone()
            seen_inside.append(row[0] if row else -1)
            return "run 1021 (run_log) RUNNING"

        with pytest.raises(StillInUse, match="run 1021"):
            delete_table_lock(conn, spec, lock, recheck=recheck)
        assert seen_inside == [0]  # the re-check ran after the delete, inside its transaction
        assert delete_table_lock(conn, spec, lock, recheck=lambda tx: None) is True
    assert {row[0] for row in sql(db, "SELECT job_name FROM job_lock")} == {"roster-sync"}


def test_dry_run_says_the_runs_are_read_again(runbook: Path, db: str) -> None:
    sql(db, INCIDENT)
    code, data, _ = run(runbook, db, "clear", "--all-stale", "--dry-run")
    assert code == 1
    [planned] = data["would_clear"]  # type: ignore[misc]
    assert planned["name"] == "grade-export"
    assert "in the same transaction, the job's runs are read again" in planned["statement"]


def test_pg_cron_run_whose_backend_is_gone_does_not_hold_the_lock(runbook: Path, db: str) -> None:
    """A pg_cron run left 'sending' (pg_cron never sweeps those) whose job_pid is no connected backend runs no
    more; the same run in a backend that is still connected keeps the lock held, however old."""
    with psycopg.connect(db, autocommit=True) as worker:  # stands for the backend pg_cron runs the job in
        live_pid = worker.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        dead_pid = sql(db, "SELECT pg_backend_pid()")[0][0]  # that session has ended
        sql(db, "SELECT cron.schedule('pg-export', '0 0 31 2 *', 'SELECT 1')")  # valid, never fires
        sql(
            db,
            """
            INSERT INTO cron.job_run_details
              (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
            SELECT jobid, %s, current_database(), current_user, command, 'sending', NULL,
                   now() - interval '15 minutes', NULL
              FROM cron.job WHERE jobname = 'pg-export'
            """,
            [dead_pid],
        )
        sql(db, "INSERT INTO job_lock VALUES ('pg-export', 'pg_cron', now() - interval '15 minutes', NULL)")
        code, data, _ = run(runbook, db)
        assert code == 1
        lock = by_name(data)["pg-export"]
        assert lock["state"] == "stale", lock["reason"]
        assert "(pg_cron) sending since" in str(lock["reason"])
        assert f"its backend (pid {dead_pid}) is gone" in str(lock["reason"])

        sql(db, "UPDATE cron.job_run_details SET job_pid = %s, start_time = now() - interval '1 second'", [live_pid])
        sql(db, "UPDATE job_lock SET locked_at = now() - interval '2 hours' WHERE job_name = 'pg-export'")
        code, data, _ = run(runbook, db)
        assert code == 0
        lock = by_name(data)["pg-export"]
        assert lock["state"] == "held", lock["reason"]
        assert f"its backend (pid {live_pid}) is still connected" in str(lock["reason"])
