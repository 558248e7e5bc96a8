"""Redis locks (seed 001's `SET cron:<job>:lock 1 NX EX 300`) against a real redis-server."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli
from cronctl.errors import SourceUnavailable
from cronctl.evaluate.locks import judge
from cronctl.runbook.loader import load_runbook
from cronctl.sources.locks.redis import delete_redis_lock, read_redis, redis_connect, redis_keys
from cronctl_sandbox.cluster import free_port
from redis_server import redis_url  # noqa: F401  (fixture)

redis = pytest.importorskip("redis")

RUNBOOK = """
[runbook]
name = "ads-platform"

[connection]
redis_url = "${REDIS_URL:-}"

[lock_tables.job_lock]
table = "job_lock"

[jobs.refresh-tokens]
url = "http://127.0.0.1:9/api/cron/refresh-tokens"
timeout = "60s"
[jobs.refresh-tokens.lock]
backend = "redis"
key = "cron:{job}:lock"
margin = "1m"
# The seed's route: SET cron:refresh-tokens:lock 1 NX EX 300.
ttl = "5m"

[jobs.cleanup]
url = "http://127.0.0.1:9/api/cron/cleanup"
timeout = "60s"
[jobs.cleanup.lock]
backend = "redis"
key = "cron:{job}:lock"

[jobs.enrolment-sync]
url = "http://127.0.0.1:9/jobs/enrolment-sync"
[jobs.enrolment-sync.lock]
backend = "table"
"""


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = redis.Redis.from_url(redis_url)
    c.flushdb()
    return c


@pytest.fixture
def runbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRONCTL_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    path = tmp_path / "runbook.toml"
    path.write_text(RUNBOOK)
    return path


def cli(runbook: Path, env: dict[str, str | None], *args: str) -> tuple[int, dict[str, object]]:
    result = run_cli("locks", *args, "-r", str(runbook), "-f", "json", env=env)
    return result.exit_code, json.loads(result.stdout)


def names(data: dict[str, object], key: str = "locks") -> dict[str, dict[str, object]]:
    return {item["name"]: item for item in data[key]}  # type: ignore[attr-defined, index]


def test_expiring_and_non_expiring_keys(
    runbook: Path,
    client: redis.Redis,
    redis_url: str,
    clean_db: str,
) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE job_lock (job_name text PRIMARY KEY, locked_by text, locked_at timestamptz, "
            "lock_expires_at timestamptz)"
        )
    client.set("cron:refresh-tokens:lock", "1", nx=True, ex=300)
    client.set("cron:cleanup:lock", "worker-7")  # a crash between SET (without EX) and DEL: never goes away
    env = {"DATABASE_URL": clean_db, "REDIS_URL": redis_url}
    # A fresh key without expiry is not yet stale (it may belong to a run that just started).
    code, data = cli(runbook, env)
    locks = names(data)
    assert code == 0
    assert locks["refresh-tokens"]["state"] == "held"
    assert "expires by itself" in str(locks["refresh-tokens"]["reason"])
    assert (
        0
        < (datetime.fromisoformat(str(locks["refresh-tokens"]["expires_at"])) - datetime.now(UTC)).total_seconds()
        <= 300
    )
    assert locks["cleanup"]["state"] == "held"
    assert "no expiry" in str(locks["cleanup"]["reason"])

    # Make the persistent key look old: restore it with an idle time past timeout + margin.
    dump = client.dump("cron:cleanup:lock")
    client.restore("cron:cleanup:lock", 0, dump, replace=True, idletime=3600)
    code, data = cli(runbook, env)
    assert names(data)["cleanup"]["state"] == "stale", names(data)["cleanup"]["reason"]
    assert code == 1
    assert names(data)["cleanup"]["age_seconds"] >= 3600  # type: ignore[operator]

    # Redis before 7.2 resets the idle time on every read, ours included: age the key again.
    client.restore("cron:cleanup:lock", 0, dump, replace=True, idletime=3600)
    code, data = cli(runbook, env, "clear", "--all-stale", "--yes")
    assert code == 0
    assert [item["name"] for item in data["cleared"]] == ["cleanup"]  # type: ignore[attr-defined]
    assert client.exists("cron:cleanup:lock") == 0
    assert client.exists("cron:refresh-tokens:lock") == 1


def test_compare_and_delete_skips_a_reacquired_key(runbook: Path, client: redis.Redis, redis_url: str) -> None:
    book = load_runbook(runbook)
    conn = redis_connect(redis_url)
    now = datetime.now(UTC)
    for value in (b"1", b"worker-a"):
        client.set("cron:cleanup:lock", value)
        seen = next(lk for lk in read_redis(conn, redis_keys(book), now) if lk.name == "cleanup")
        # Cleared by someone else, and the job starts again before our clear runs.
        client.delete("cron:cleanup:lock")
        client.set("cron:cleanup:lock", b"1" if value == b"1" else b"worker-b", nx=True, ex=300)
        assert delete_redis_lock(conn, seen) is False
        assert client.exists("cron:cleanup:lock") == 1
    client.set("cron:cleanup:lock", b"worker-a")
    seen = next(lk for lk in read_redis(conn, redis_keys(book), now) if lk.name == "cleanup")
    assert delete_redis_lock(conn, seen) is True
    assert client.exists("cron:cleanup:lock") == 0


@pytest.mark.slow
def test_concurrent_reacquire_race_never_loses_a_live_key(runbook: Path, client: redis.Redis, redis_url: str) -> None:
    book = load_runbook(runbook)
    job = book.jobs["cleanup"]
    rounds, pairs = 50, 6
    lost: list[str] = []
    errors: list[BaseException] = []

    def pair(i: int) -> None:
        key = f"cron:race-{i}:lock"
        try:
            cleaner = redis_connect(redis_url)
            worker = redis.Redis.from_url(redis_url)
            for n in range(rounds):
                worker.set(key, "1")
                seen = read_redis(cleaner, {"cleanup": key}, datetime.now(UTC))[0]
                verdict = judge(seen, job, datetime.now(UTC))
                assert verdict.lock.detail["ttl_ms"] == -1
                start = threading.Barrier(2)
                got: list[bool] = []

                def acquire(start: threading.Barrier = start, got: list[bool] = got) -> None:
                    start.wait()
                    worker.delete(key)  # the previous run's own cleanup, racing the operator
                    got.append(bool(worker.set(key, "1", nx=True, ex=300)))

                t = threading.Thread(target=acquire)
                t.start()
                start.wait()
                delete_redis_lock(cleaner, seen)
                t.join()
                if got[0] and worker.pttl(key) <= 0:
                    lost.append(f"{key} round {n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pair, args=(i,)) for i in range(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert lost == []


def test_unreachable_redis_degrades_only_its_backend(runbook: Path, clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE job_lock (job_name text PRIMARY KEY, locked_by text, locked_at timestamptz, "
            "lock_expires_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO job_lock VALUES ('enrolment-sync', 'w1', now() - interval '1 day', now() - interval '1 hour')"
        )
    dead = f"redis://127.0.0.1:{free_port()}/0"
    code, data = cli(runbook, {"DATABASE_URL": clean_db, "REDIS_URL": dead})
    assert code == 1
    assert names(data)["enrolment-sync"]["state"] == "expired"
    backends = {b["backend"]: b for b in data["backends"]}  # type: ignore[attr-defined]
    assert backends["redis"]["state"] == "error"
    assert "cannot reach Redis at 127.0.0.1" in backends["redis"]["message"]
    assert backends["table:job_lock"]["state"] == "ok"

    code, data = cli(runbook, {"DATABASE_URL": clean_db, "REDIS_URL": None})
    assert "REDIS_URL is not set" in {b["backend"]: b for b in data["backends"]}["redis"]["message"]  # type: ignore[attr-defined]


def test_missing_redis_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(SourceUnavailable, match=r"install cronctl\[redis\]"):
        redis_connect("redis://127.0.0.1:1/0")


def test_persistent_small_integer_value_needs_force_without_history(
    runbook: Path,
    client: redis.Redis,
    redis_url: str,
    clean_db: str,
) -> None:
    client.set("cron:cleanup:lock", "1")  # seed 001's value; Redis cannot tell how old it is
    env = {"DATABASE_URL": clean_db, "REDIS_URL": redis_url}
    code, data = cli(runbook, env, "clear", "cleanup", "--yes")
    assert code == 0
    assert data["cleared"] == []
    assert "--force" in data["skipped"][0]["reason"]  # type: ignore[index]
    assert client.exists("cron:cleanup:lock") == 1
    code, data = cli(runbook, env, "clear", "cleanup", "--force", "--yes")
    assert [item["name"] for item in data["cleared"]] == ["cleanup"]  # type: ignore[attr-defined]
    assert client.exists("cron:cleanup:lock") == 0


def test_key_without_ttl_when_the_lock_should_expire_is_suspicious(
    runbook: Path, client: redis.Redis, redis_url: str, clean_db: str
) -> None:
    """The runbook says refresh-tokens' lock is taken with EX 300; a key without TTL contradicts it."""
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE job_lock (job_name text PRIMARY KEY, locked_by text, locked_at timestamptz, "
            "lock_expires_at timestamptz)"
        )
    env = {"DATABASE_URL": clean_db, "REDIS_URL": redis_url}
    client.set("cron:refresh-tokens:lock", "worker-1")  # SET without EX: never released by itself
    client.set("cron:cleanup:lock", "worker-2")  # cleanup declares no TTL: nothing to contradict
    code, data = cli(runbook, env)
    locks = names(data)
    assert code == 0  # young: still held, but said to be suspicious
    assert locks["refresh-tokens"]["state"] == "held"
    assert locks["refresh-tokens"]["suspicious"] is True
    assert "expires 5m after it is taken, but the key has no TTL" in str(locks["refresh-tokens"]["note"])
    assert locks["cleanup"]["suspicious"] is False and locks["cleanup"]["note"] is None
    table = run_cli("locks", "-r", str(runbook), env=env)
    assert "suspicious" in table.stdout + table.stderr

    client.set("cron:refresh-tokens:lock", "1", ex=300)
    code, data = cli(runbook, env)
    assert names(data)["refresh-tokens"]["suspicious"] is False
