"""Job locks in their three homes: a lock table, PostgreSQL advisory locks, Redis keys.

Reads return `Lock` records. Changes are compare-and-delete: they name the exact lock that was read, so a
lock re-acquired in between is never removed (the caller is told it was skipped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cronctl.errors import CronctlError, SourceUnavailable, UsageError
from cronctl.records import Lock, Run
from cronctl.runbook.model import JobSpec, LockTableSpec, Runbook

TABLE_ROW_LIMIT = 1000
REDIS_SCAN_LIMIT = 200
REDIS_TIMEOUT = 2.0
# Deletes the key only if it still holds the value that was read; ARGV[2] = '1' also requires that it still
# has no expiry (a lock re-acquired with SET NX EX has one), which guards locks whose value is always "1".
REDIS_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] and (ARGV[2] ~= '1' or redis.call('PTTL', KEYS[1]) == -1) then
  return redis.call('DEL', KEYS[1])
else
  return 0
end
"""


@dataclass
class BackendRead:
    """What one backend answered: its locks, or why it could not be read."""

    backend: str  # table:<name> | advisory | redis
    locks: list[Lock] = field(default_factory=list)
    error: str | None = None


# --- lock table -------------------------------------------------------------------------------------------


def _table_identifiers(spec: LockTableSpec) -> dict[str, Any]:
    from psycopg import sql

    expires: Any = (
        sql.SQL("{}::timestamptz").format(sql.Identifier(spec.expires_column))
        if spec.expires_column
        else sql.SQL("NULL::timestamptz")
    )
    return {
        "table": sql.Identifier(spec.schema, spec.table),
        "name": sql.Identifier(spec.name_column),
        "holder": sql.Identifier(spec.holder_column),
        "acquired": sql.Identifier(spec.acquired_column),
        "expires": expires,
    }


def table_jobs(runbook: Runbook, table: str) -> dict[str, str]:
    """Lock key -> job name for the jobs whose lock lives in lock table `table`."""
    return {
        job.lock.key: job.name
        for job in runbook.jobs.values()
        if job.lock is not None and job.lock.backend == "table" and job.lock.table == table
    }


def table_query(spec: LockTableSpec) -> tuple[Any, dict[str, Any]]:
    """The lock-table listing, for a caller that batches statements (triage) or runs it alone."""
    from psycopg import sql

    from cronctl.queries import load

    return sql.SQL(load("locks_table_list")).format(**_table_identifiers(spec)), {"limit": TABLE_ROW_LIMIT}


def parse_table(rows: Sequence[Sequence[Any]], spec: LockTableSpec, jobs_by_key: Mapping[str, str]) -> list[Lock]:
    """Every row of the lock table (they are few); rows of jobs not in the runbook keep their key as name."""
    return [
        Lock(
            name=jobs_by_key.get(key, key),
            backend="table",
            key=key,
            holder=holder,
            acquired_at=acquired,
            expires_at=expires,
            detail={"table": spec.name, "relation": f"{spec.schema}.{spec.table}", "known": key in jobs_by_key},
        )
        for key, holder, acquired, expires in rows
    ]


def read_table(conn: Any, spec: LockTableSpec, jobs_by_key: Mapping[str, str]) -> list[Lock]:
    from cronctl.db import guarded

    query, params = table_query(spec)
    with guarded(f"lock table {spec.schema}.{spec.table}"):
        rows = conn.execute(query, params).fetchall()
    return parse_table(rows, spec, jobs_by_key)


def table_delete(spec: LockTableSpec, lock: Lock) -> tuple[Any, dict[str, Any]]:
    """The compare-and-delete statement for exactly this row, and its parameters."""
    from psycopg import sql

    from cronctl.queries import load

    statement = sql.SQL(load("locks_table_delete")).format(**_table_identifiers(spec))
    params = {
        "name": lock.key,
        "holder": lock.holder,
        "acquired_at": lock.acquired_at,
        "expires_at": lock.expires_at,
    }
    return statement, params


class StillInUse(Exception):
    """The re-check inside the clear's transaction found the job's run in progress; nothing was deleted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Called inside the clear's transaction, on its connection: why the lock must stay after all, or None.
Recheck = Callable[[Any], "str | None"]


def delete_table_lock(conn: Any, spec: LockTableSpec, lock: Lock, recheck: Recheck | None = None) -> bool:
    """Delete the row if it is still exactly as read; False when it changed or is gone.

    With `recheck`, the job's runs are read again inside the same transaction, after the delete (which keeps
    the row locked, so no run can take it over meanwhile) and before the commit: when a run is found in
    progress the transaction is rolled back, the row stays, and StillInUse says why."""
    from cronctl.db import guarded

    statement, params = table_delete(spec, lock)
    with guarded(f"clear lock '{lock.key}' in {spec.schema}.{spec.table}"), conn.transaction():
        deleted = conn.execute(statement, params).fetchall()
        if len(deleted) == 1 and recheck is not None:
            why = recheck(conn)
            if why is not None:
                raise StillInUse(why)  # leaves the transaction: rolled back, the row is back
    return len(deleted) == 1


def render_statement(conn: Any, statement: Any, params: Mapping[str, Any]) -> str:
    """The statement with its values inlined, for --dry-run (values are lock names and times, not secrets)."""
    from psycopg import sql

    text: str = statement.as_string(conn)
    for name, value in params.items():
        literal = sql.Literal(value.isoformat() if isinstance(value, datetime) else value).as_string(conn)
        text = text.replace(f"%({name})s", literal)
    return " ".join(line.strip() for line in text.splitlines() if not line.strip().startswith("--"))


# --- advisory locks ---------------------------------------------------------------------------------------


def advisory_ids(key: str) -> tuple[int, int, int]:
    """pg_locks (classid, objid, objsubid) for a runbook key: "N" is one bigint, "a:b" two int4."""
    if ":" in key:
        first, second = (int(part) for part in key.split(":", 1))
        return first & 0xFFFFFFFF, second & 0xFFFFFFFF, 2
    value = int(key) & 0xFFFFFFFFFFFFFFFF
    return value >> 32, value & 0xFFFFFFFF, 1


def advisory_jobs(runbook: Runbook) -> dict[tuple[int, int, int], tuple[str, str]]:
    return {
        advisory_ids(job.lock.key): (job.name, job.lock.key)
        for job in runbook.jobs.values()
        if job.lock is not None and job.lock.backend == "advisory"
    }


def read_advisory(conn: Any, jobs: Mapping[tuple[int, int, int], tuple[str, str]]) -> list[Lock]:
    """Granted advisory locks whose key the runbook maps to a job, with their holder session."""
    from cronctl.db import guarded
    from cronctl.queries import load

    with guarded("advisory locks (pg_locks)"):
        rows = conn.execute(load("locks_advisory_list")).fetchall()
    return parse_advisory(rows, jobs)


def parse_advisory(rows: Sequence[Sequence[Any]], jobs: Mapping[tuple[int, int, int], tuple[str, str]]) -> list[Lock]:
    """Lock records from `locks_advisory_list` rows, keeping only keys the runbook maps to a job."""
    locks: list[Lock] = []
    for row in rows:
        (
            classid,
            objid,
            objsubid,
            pid,
            mode,
            found,
            app,
            client,
            user,
            state,
            backend_start,
            xact_start,
            state_change,
        ) = row
        mapped = jobs.get((classid, objid, objsubid))
        if mapped is None:
            continue
        job, key = mapped
        where = f" from {client}" if client else ""
        locks.append(
            Lock(
                name=job,
                backend="advisory",
                key=key,
                holder=f"pid {pid} ({app or 'unnamed'}{where})" if pid is not None else "prepared transaction",
                acquired_at=xact_start or backend_start,
                detail={
                    "pid": pid,
                    "mode": mode,
                    "backend_found": bool(found),
                    "application_name": app,
                    "client_addr": client,
                    "usename": user,
                    "state": state,
                    "backend_start": backend_start,
                    "xact_start": xact_start,
                    "state_change": state_change,
                    "ids": (classid, objid, objsubid),
                },
            )
        )
    return locks


def terminate_holder(conn: Any, lock: Lock) -> bool:
    """pg_terminate_backend on the holder, only if that same session still holds that key."""
    from cronctl.db import guarded
    from cronctl.queries import load

    classid, objid, objsubid = lock.detail["ids"]
    params = {
        "pid": lock.detail["pid"],
        "backend_start": lock.detail.get("backend_start"),
        "classid": classid,
        "objid": objid,
        "objsubid": objsubid,
    }
    with guarded(f"terminate pid {lock.detail['pid']}"):
        row = conn.execute(load("locks_advisory_terminate"), params).fetchone()
    return bool(row and row[0])


# --- Redis ------------------------------------------------------------------------------------------------


def redis_keys(runbook: Runbook) -> dict[str, str]:
    """Job -> Redis key (or glob pattern); `{job}` in the runbook key stands for the job name."""
    return {
        job.name: job.lock.key.replace("{job}", job.name)
        for job in runbook.jobs.values()
        if job.lock is not None and job.lock.backend == "redis"
    }


def describe_redis(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError:
        return "(unparseable Redis URL)"


def redis_connect(url: str, timeout: float = REDIS_TIMEOUT) -> Any:
    """A client that has answered PING; short socket timeouts and no retries, so nothing hangs."""
    try:
        import redis
    except ImportError:
        raise SourceUnavailable("the redis package is not installed: install cronctl[redis]") from None
    target = describe_redis(url)
    try:
        client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=None, retry_on_error=[]
        )
        client.ping()
        # Redis 7.2+: our reads must not reset a key's idle time, which is how its age is told.
        with contextlib.suppress(redis.ResponseError):
            client.execute_command("CLIENT", "NO-TOUCH", "ON")
    except ValueError as exc:
        raise UsageError(f"invalid Redis URL: {exc}") from None
    except redis.RedisError as exc:
        raise SourceUnavailable(f"cannot reach Redis at {target}: {_redis_reason(exc)}") from None
    return client


def _redis_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _matching_keys(client: Any, pattern: str) -> list[bytes]:
    if not any(ch in pattern for ch in "*?["):
        return [pattern.encode()]
    keys: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=100):
        keys.append(key)
        if len(keys) >= REDIS_SCAN_LIMIT:
            break
    return sorted(keys)


def read_redis(client: Any, keys: Mapping[str, str], now: datetime) -> list[Lock]:
    """Each job's key(s): value, PTTL and idle time (read before GET, which would reset it)."""
    import redis

    locks: list[Lock] = []
    try:
        for job, pattern in keys.items():
            for key in _matching_keys(client, pattern):
                pipe = client.pipeline(transaction=False)
                pipe.object("idletime", key)
                pipe.object("encoding", key)
                pipe.pttl(key)
                pipe.get(key)
                idle, encoding, ttl, value = pipe.execute(raise_on_error=False)
                if not isinstance(ttl, int) or ttl == -2:
                    continue  # no such key: no lock
                if encoding in (b"int", "int"):
                    # Small integers ("1") share one object, so its idle time is every such key's: unknown.
                    idle = None
                lock = _redis_lock(job, key, idle, ttl, value, now)
                locks.append(lock)
    except redis.RedisError as exc:
        raise SourceUnavailable(f"Redis: {_redis_reason(exc)}") from None
    return locks


def _redis_lock(job: str, key: bytes, idle: Any, ttl: int, value: Any, now: datetime) -> Lock:
    raw = value if isinstance(value, bytes) else None
    shown = raw.decode("utf-8", "replace") if raw is not None else "(not a string key)"
    return Lock(
        name=job,
        backend="redis",
        key=key.decode("utf-8", "replace"),
        holder=shown[:80],
        expires_at=now + timedelta(milliseconds=ttl) if ttl >= 0 else None,
        detail={
            "ttl_ms": ttl,
            "idle_seconds": idle if isinstance(idle, int) else None,
            "raw_key": key,
            "raw_value": raw,
        },
    )


def delete_redis_lock(client: Any, lock: Lock) -> bool:
    """Run the compare-and-delete script with the value that was read; False when the key changed."""
    import redis

    raw = lock.detail.get("raw_value")
    if raw is None:
        return False
    persistent = "1" if lock.detail.get("ttl_ms") == -1 else "0"
    try:
        deleted = client.eval(REDIS_COMPARE_AND_DELETE, 1, lock.detail["raw_key"], raw, persistent)
    except redis.RedisError as exc:
        raise SourceUnavailable(f"clear Redis key {lock.key}: {_redis_reason(exc)}") from None
    return bool(deleted)


def redis_dry_run(lock: Lock) -> str:
    value = lock.holder or ""
    guard = " and only while it has no expiry" if lock.detail.get("ttl_ms") == -1 else ""
    return f"EVAL <compare-and-delete> 1 {lock.key} {value!r}  (deletes only if the value is still {value!r}{guard})"


# --- history: is a run in progress? -----------------------------------------------------------------------


def has_history(job: JobSpec) -> bool:
    return job.history.has_any or job.scheduler == "pg_cron"


def running_jobs(conn: Any, runbook: Runbook, env: Any, jobs: list[JobSpec]) -> tuple[set[str], dict[str, str]]:
    """Jobs whose latest runs show one in progress, and jobs whose history could not be read (job → why)."""
    from cronctl.sources.history import collect_history

    running: set[str] = set()
    unverified: dict[str, str] = {}
    for job in jobs:
        if not has_history(job):
            continue  # nothing records its runs: nothing shows one in progress
        result = collect_history(conn, runbook, env, job, limit=3)
        if any(run.status == "running" for run in result.runs):
            running.add(job.name)
        elif not any(s.state == "ok" for s in result.sources):
            reasons = "; ".join(s.message or s.state for s in result.sources)
            unverified[job.name] = reasons or "no source answered"
    return running, unverified


LOCK_HISTORY_LIMIT = 500  # runs read per job for a lock verdict, back to when the lock was taken
BACKEND_REUSE_SLACK = timedelta(seconds=60)


def lock_history(
    conn: Any,
    runbook: Runbook,
    env: Any,
    jobs: Sequence[JobSpec],
    since: Mapping[str, datetime | None],
    limit: int = LOCK_HISTORY_LIMIT,
) -> tuple[dict[str, list[Run]], dict[str, str]]:
    """Each job's runs from every history source, back to `since[job]` (see evaluate.locks.history_since),
    and the jobs whose history could not be fully read (job → why): a source that failed, or more than
    `limit` runs since then (so the run that took the lock may not be among them)."""
    from cronctl.sources.history import collect_history

    runs_by_job: dict[str, list[Run]] = {}
    unverified: dict[str, str] = {}
    for job in jobs:
        if not has_history(job):
            continue  # nothing records its runs: nothing shows one in progress
        start = since.get(job.name)
        result = collect_history(conn, runbook, env, job, limit=limit, since=start)
        try:
            runs_by_job[job.name] = mark_backends(conn, result.runs)
        except CronctlError:
            runs_by_job[job.name] = result.runs  # liveness unknown: judged by age, as without pg_cron's pids
        failed = [f"{s.name}: {s.message or s.state}" for s in result.sources if s.state == "error"]
        if failed:
            unverified[job.name] = "; ".join(failed)
        elif not any(s.state == "ok" for s in result.sources):
            unverified[job.name] = "; ".join(s.message or s.state for s in result.sources) or "no source answered"
        elif len(result.runs) >= limit:
            back_to = f"since {start.isoformat(timespec='seconds')}" if start is not None else "in its history"
            unverified[job.name] = (
                f"it has more than {limit} runs {back_to}; the run that took the lock may not be among those read"
            )
    return runs_by_job, unverified


def mark_backends(conn: Any, runs: list[Run]) -> list[Run]:
    """pg_cron runs in a non-final state, with `detail["backend_alive"]`: False when their job_pid is no
    connected backend (or a newer one reuses it), True when that same backend is still connected, unset when
    this role cannot tell (pg_stat_activity hides other users' backend_start)."""
    from dataclasses import replace

    from cronctl.db import guarded
    from cronctl.queries import load

    pending = [
        r for r in runs
        if r.source == "pg_cron" and r.status == "running" and "backend_alive" not in r.detail
        and isinstance(r.detail.get("job_pid"), int)
    ]  # fmt: skip
    if not pending:
        return runs
    pids = sorted({int(r.detail["job_pid"]) for r in pending})
    with guarded("pg_stat_activity (backends of pg_cron runs)"), conn.transaction():
        rows = conn.execute(load("locks_run_backends"), {"pids": pids}).fetchall()
    started = {int(pid): backend_start for pid, backend_start in rows}
    pending_ids = {id(r) for r in pending}
    marked: list[Run] = []
    for run in runs:
        if id(run) in pending_ids:
            pid = int(run.detail["job_pid"])
            alive: bool | None
            if pid not in started:
                alive = False
            elif started[pid] is None or run.started_at is None:
                alive = None
            else:
                alive = started[pid] <= run.started_at + BACKEND_REUSE_SLACK
            if alive is not None:
                run = replace(run, detail={**run.detail, "backend_alive": alive})
        marked.append(run)
    return marked


# --- all backends -----------------------------------------------------------------------------------------


class LockSources:
    """The database and Redis connections the locks commands use, opened on first need.

    A connection that fails to open is remembered as that backend's error; the other backends still answer.
    """

    def __init__(self, runbook: Runbook, env: Any, connect_db: Any) -> None:
        self.runbook = runbook
        self.env = env
        self._connect_db = connect_db
        self._db: Any = None
        self._redis: Any = None

    def db(self) -> Any:
        if self._db is None:
            self._db = self._connect_db()
        return self._db

    def redis(self) -> Any:
        if self._redis is None:
            where = f"connection.redis_url in {self.runbook.path}"
            url = self.env.resolve(self.runbook.connection.redis_url, where)
            if not url:
                raise SourceUnavailable("REDIS_URL is not set (connection.redis_url); export it or add it to .env")
            from cronctl import redact

            redact.register_env("REDIS_URL", url)  # masks a password inside the URL
            self._redis = redis_connect(url)
        return self._redis

    def read(self, now: datetime, job: str | None = None) -> list[BackendRead]:
        """Every backend the runbook declares (only those `job` uses, when given)."""
        from cronctl.errors import CronctlError

        lock_of = {j.name: j.lock for j in self.runbook.jobs.values() if j.lock is not None}
        wanted = {job: lock_of[job]} if job is not None and job in lock_of else ({} if job else lock_of)
        reads: list[BackendRead] = []
        tables = [
            t
            for t in self.runbook.lock_tables.values()
            if job is None or any(s.backend == "table" and s.table == t.name for s in wanted.values())
        ]
        for spec in tables:
            read = BackendRead(f"table:{spec.name}")
            try:
                read.locks = self._read_table(spec)
            except CronctlError as exc:
                read.error = exc.message
            reads.append(read)
        if any(s.backend == "advisory" for s in wanted.values()):
            read = BackendRead("advisory")
            try:
                read.locks = self._in_transaction(lambda: read_advisory(self.db(), advisory_jobs(self.runbook)))
            except CronctlError as exc:
                read.error = exc.message
            reads.append(read)
        if any(s.backend == "redis" for s in wanted.values()):
            read = BackendRead("redis")
            try:
                read.locks = read_redis(self.redis(), redis_keys(self.runbook), now)
            except CronctlError as exc:
                read.error = exc.message
            reads.append(read)
        if job is not None:
            for r in reads:
                r.locks = [lock for lock in r.locks if lock.name == job]
        return reads

    def _read_table(self, spec: LockTableSpec) -> list[Lock]:
        return self._in_transaction(lambda: read_table(self.db(), spec, table_jobs(self.runbook, spec.name)))

    def _in_transaction(self, body: Any) -> list[Lock]:
        conn = self.db()
        with conn.transaction():
            result: list[Lock] = body()
        return result

    def close(self) -> None:
        for handle in (self._db, self._redis):
            if handle is not None:
                # Closing is best effort: the command's result is already known.
                with contextlib.suppress(Exception):
                    handle.close()
        self._db = self._redis = None
