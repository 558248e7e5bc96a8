"""`cronctl triage` reads every lock backend through the registry (cronctl.sources.locks): a backend added as one
file shows up in triage without touching triage. A backend whose reads are database statements goes in triage's
one data batch (no extra round trip, its lock wait within the batch's shared budget); any other is read through
its own `read` after it. Real `cronctl` subprocesses against the sandbox PostgreSQL; the two extra backends are
modules in a temporary directory, registered before the runbook model takes the registry's names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_runner import run_cli
from redis_server import redis_url  # noqa: F401  (fixture)

STATEMENT_TIMEOUT_S = 1.0
MARGIN_S = 4.0  # Python start-up and imports on a busy 2-core machine

# A backend that keeps locks as rows of the application's own table: its read is a statement, so it batches.
MEMO_BACKEND = """
from cronctl.records import Lock
from cronctl.sources.locks.base import LockStatement, run_statements


class MemoBackend:
    name = "memo"
    removal = "delete"
    recheck_timing = "first"

    def statements(self, runbook, query):
        if not query.jobs:
            return []
        jobs = {job.lock.key: job.name for job in query.jobs}

        def parse(rows):
            return [Lock(name=jobs.get(k, k), backend="memo", key=k, holder=h, acquired_at=t) for k, h, t in rows]

        query_text = "SELECT key, holder, taken_at FROM memo_locks ORDER BY key"
        return [LockStatement("memo", query_text, {}, "memo locks", parse)]

    def read(self, sources, query):
        return run_statements(sources, self.statements(sources.runbook, query))

    def plan(self, sources, lock):
        return f"DELETE FROM memo_locks WHERE key = '{lock.key}'"

    def clear(self, sources, lock, recheck):
        return False


BACKEND = MemoBackend()
"""
# A backend outside the database (a JSON file named by LOCK_FILE): read through its own `read`.
FILE_BACKEND = """
import json
from datetime import datetime
from pathlib import Path

from cronctl.errors import SourceUnavailable
from cronctl.records import Lock
from cronctl.sources.locks.base import read_into


class FileBackend:
    name = "file"
    removal = "delete"
    recheck_timing = "first"

    def read(self, sources, query):
        if not query.jobs:
            return []

        def locks():
            path = sources.env.get("LOCK_FILE")
            if path is None:
                raise SourceUnavailable("file locks: LOCK_FILE is not set")
            held = json.loads(Path(path).read_text())
            return [
                Lock(name=job.name, backend="file", key=job.lock.key, holder=held[job.lock.key]["holder"],
                     acquired_at=datetime.fromisoformat(held[job.lock.key]["at"]))
                for job in query.jobs
                if job.lock.key in held
            ]

        return [read_into("file", locks)]

    def plan(self, sources, lock):
        return f"remove {lock.key} from $LOCK_FILE"

    def clear(self, sources, lock, recheck):
        return False


BACKEND = FileBackend()
"""
LAUNCH = """
import sys
sys.path.insert(0, {folder!r})
from cronctl.sources import locks
locks.REGISTRY.update(memo="memo_locks", file="file_locks")
from cronctl.cli.main import main
sys.argv = ["cronctl", *sys.argv[1:]]
main()
"""
RUNBOOK = f"""
[runbook]
name = "lock-registry"

[connection]
database_url = "${{DATABASE_URL}}"
statement_timeout = "{STATEMENT_TIMEOUT_S}s"

[lock_tables.job_lock]
table = "job_lock"

[jobs.tick]
schedule = "* * * * *"
history = {{ pg_cron = "tick" }}
lock = {{ backend = "memo", key = "tick" }}

[jobs.export]
url = "http://127.0.0.1:9/export"
schedule = "0 * * * *"
lock = {{ backend = "file", key = "export" }}

[jobs.sync]
schedule = "*/5 * * * *"
history = {{ pg_cron = "sync" }}
lock = {{ backend = "table", table = "job_lock", key = "sync" }}

[jobs.report]
schedule = "0 3 * * *"
history = {{ pg_cron = "report" }}
lock = {{ backend = "advisory", key = "424242" }}
"""
SCHEMA = """
CREATE TABLE memo_locks (key text PRIMARY KEY, holder text, taken_at timestamptz);
INSERT INTO memo_locks VALUES ('tick', 'memo-worker', now() - interval '2 hours');
CREATE TABLE job_lock (job_name text PRIMARY KEY, locked_by text, locked_at timestamptz,
                       lock_expires_at timestamptz);
INSERT INTO job_lock VALUES ('sync', 'worker-1', now() - interval '2 hours', now() - interval '1 hour');
"""


@pytest.fixture
def setup(clean_db: str, tmp_path: Path) -> dict[str, Any]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for name in ("tick", "sync", "report"):
            conn.execute("SELECT cron.schedule(%s, '* * * * *', 'SELECT 1')", [name])
    folder = tmp_path / "backends"
    folder.mkdir()
    (folder / "memo_locks.py").write_text(MEMO_BACKEND)
    (folder / "file_locks.py").write_text(FILE_BACKEND)
    lock_file = tmp_path / "locks.json"
    lock_file.write_text(json.dumps({"export": {"holder": "laptop-7", "at": "2020-01-01T00:00:00+00:00"}}))
    runbook = tmp_path / "registry.toml"
    runbook.write_text(RUNBOOK)
    return {"dsn": clean_db, "folder": str(folder), "runbook": str(runbook), "lock_file": str(lock_file)}


def _triage(
    setup: dict[str, Any], *args: str, lock_file: bool = True
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "DATABASE_URL": setup["dsn"], "NO_COLOR": "1", "CRONCTL_STATE_DIR": setup["folder"]}
    env.pop("LOCK_FILE", None)
    if lock_file:
        env["LOCK_FILE"] = setup["lock_file"]
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH.format(folder=setup["folder"]), "triage", "-r", setup["runbook"], *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - began


class Advisory:
    """Holds advisory lock 424242 from another session, idle, as a run that crashed mid-way would leave it."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def __enter__(self) -> Advisory:
        self.conn.execute("SELECT pg_advisory_lock(424242)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def test_every_registered_backend_shows_up_in_triage(setup: dict[str, Any]) -> None:
    with Advisory(setup["dsn"]):
        done, _ = _triage(setup, "-f", "json")
    assert "Traceback" not in done.stderr, done.stderr
    data = json.loads(done.stdout)
    locks = {lock["backend"]: lock for lock in data["locks"]}
    assert set(locks) == {"memo", "file", "table", "advisory"}, data["locks"]
    assert (locks["memo"]["name"], locks["memo"]["holder"]) == ("tick", "memo-worker")
    assert (locks["file"]["name"], locks["file"]["holder"]) == ("export", "laptop-7")
    assert locks["table"]["name"] == "sync" and locks["advisory"]["name"] == "report"
    # Judged by the same rules as in `cronctl locks`: an old lock nothing says is in use is stale; a lock whose
    # job has no readable history is never stale by age alone.
    assert locks["memo"]["stale"] and locks["table"]["stale"]
    assert not locks["file"]["stale"], locks["file"]
    # The database's lock reads, the new backend's included, went in the one data batch.
    assert data["round_trips"] == 2
    assert not [c for c in data["checks"] if c["name"] == "locks"]


def test_a_backend_that_cannot_be_read_is_one_line_and_the_others_answer(setup: dict[str, Any]) -> None:
    done, _ = _triage(setup, "-f", "json", lock_file=False)
    data = json.loads(done.stdout)
    assert {lock["backend"] for lock in data["locks"]} == {"memo", "table"}
    errors = [c["detail"] for c in data["checks"] if c["name"] == "locks"]
    assert errors == ["file locks: LOCK_FILE is not set"], data["checks"]
    assert "Traceback" not in done.stderr


class TableLock:
    """Holds ACCESS EXCLUSIVE on a table from another session until released."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
            self.locked.set()
            self.release.wait(30)

    def __enter__(self) -> TableLock:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


@pytest.mark.parametrize("table", ["memo_locks", "job_lock"])
def test_a_locked_lock_table_costs_a_share_of_the_one_budget(setup: dict[str, Any], table: str) -> None:
    with TableLock(setup["dsn"], table):
        done, elapsed = _triage(setup, "-f", "json")
    assert elapsed < STATEMENT_TIMEOUT_S + MARGIN_S, elapsed
    data = json.loads(done.stdout)
    errors = [c["detail"] for c in data["checks"] if c["name"] == "locks"]
    # Given up after its share of the batch's lock-wait budget (lock_timeout), not after a statement timeout.
    assert len(errors) == 1 and "waited too long for a lock" in errors[0], data["checks"]
    backend = "memo" if table == "memo_locks" else "table"
    assert backend not in {lock["backend"] for lock in data["locks"]}
    assert {"file"} <= {lock["backend"] for lock in data["locks"]}  # the others still answered
    assert {job["name"] for job in data["jobs"]} == {"tick", "export", "sync", "report"}


# ---------------------------------------------------------------- Redis, read after the batch through its backend

REDIS_RUNBOOK = """
[runbook]
name = "redis-triage"

[connection]
database_url = "${DATABASE_URL}"
redis_url = "${REDIS_URL}"

[jobs.cleanup]
url = "http://127.0.0.1:9/api/cron/cleanup"
schedule = "*/10 * * * *"
lock = { backend = "redis", key = "cron:{job}:lock" }

[jobs.refresh]
url = "http://127.0.0.1:9/api/cron/refresh"
schedule = "*/10 * * * *"
lock = { backend = "redis", key = "cron:{job}:lock" }
"""


def test_redis_locks_show_up_in_triage_and_follow_its_job_filter(clean_db: str, redis_url: str, tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(redis_url)
    client.set("cron:cleanup:lock", "worker-a")
    client.set("cron:refresh:lock", "worker-b", ex=300)
    path = tmp_path / "redis.toml"
    path.write_text(REDIS_RUNBOOK)
    env = {"DATABASE_URL": clean_db, "REDIS_URL": redis_url, "CRONCTL_STATE_DIR": str(tmp_path / "state")}
    data = json.loads(run_cli("triage", "-r", str(path), "-f", "json", env=env).stdout)
    assert {(lk["name"], lk["backend"], lk["holder"]) for lk in data["locks"]} == {
        ("cleanup", "redis", "worker-a"),
        ("refresh", "redis", "worker-b"),
    }
    one = json.loads(run_cli("triage", "-r", str(path), "-f", "json", "--job", "refresh", env=env).stdout)
    assert [lk["name"] for lk in one["locks"]] == ["refresh"]
    gone = json.loads(run_cli("triage", "-r", str(path), "-f", "json", env={**env, "REDIS_URL": None}).stdout)
    assert gone["locks"] == [] and [c["name"] for c in gone["checks"] if c["name"] == "locks"] == ["locks"]
