"""Locks kept as Redis keys (`SET key value NX [EX n]`), at `connection.redis_url`.

The `redis` package is optional (`cronctl[redis]`): it is imported only inside this module's functions. Each
key's value, PTTL and idle time are read; a clear is a Lua compare-and-delete of the value that was read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cronctl.errors import SourceUnavailable, UsageError
from cronctl.records import BackendRead, Lock
from cronctl.runbook.model import Runbook
from cronctl.sources.locks.base import LockBackend, LockQuery, LockSources, Recheck, Removal, read_into, recheck_first

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


def _client(sources: LockSources) -> Any:
    """The command's one Redis client, at `connection.redis_url` (its password masked in all output)."""

    def connect() -> Any:
        where = f"connection.redis_url in {sources.runbook.path}"
        url = sources.env.resolve(sources.runbook.connection.redis_url, where)
        if not url:
            raise SourceUnavailable("REDIS_URL is not set (connection.redis_url); export it or add it to .env")
        from cronctl import redact

        redact.register_env("REDIS_URL", url)  # masks a password inside the URL
        return redis_connect(url)

    return sources.handle("redis", connect)


class RedisBackend:
    name = "redis"
    removal: Removal = "delete"
    recheck_timing = "first"  # Redis cannot join a database transaction

    def read(self, sources: LockSources, query: LockQuery) -> list[BackendRead]:
        if not query.jobs:
            return []  # no job keeps its lock here
        asked = {job.name for job in query.jobs}
        keys = {job: key for job, key in redis_keys(sources.runbook).items() if job in asked}
        return [read_into("redis", lambda: read_redis(_client(sources), keys, query.now))]

    def plan(self, sources: LockSources, lock: Lock) -> str:
        return redis_dry_run(lock)

    def clear(self, sources: LockSources, lock: Lock, recheck: Recheck | None) -> bool:
        # Redis cannot join a database transaction: re-read the runs, then the atomic compare-and-delete.
        recheck_first(sources, recheck)
        return delete_redis_lock(_client(sources), lock)


BACKEND: LockBackend = RedisBackend()
