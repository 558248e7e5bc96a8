"""Load and validate a runbook TOML file; every error names the file, the key and the reason.

Which keys a table takes and which words a closed vocabulary allows come from the model (runbook/schema.py reads
them off its dataclass fields); this module reads each value, checks it and builds the model's objects.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from cronctl.durations import parse_duration
from cronctl.errors import RunbookError, ScheduleError
from cronctl.runbook.model import (
    AUTH_KINDS,
    THRESHOLD_MAX,
    AuthSpec,
    BacklogSpec,
    ConnectionSpec,
    DispatchSpec,
    ExitCondition,
    FailureGroupSpec,
    FailureMode,
    HealthSpec,
    HistorySpec,
    JobDefaults,
    JobSpec,
    LockSpec,
    LockTableSpec,
    NotifySpec,
    Profile,
    QuerySpec,
    Runbook,
    RunLogSpec,
    SecretsTableSpec,
    SuccessRule,
)
from cronctl.runbook.schema import (
    Vocabulary,
    default,
    has_vocabulary,
    is_env_name,
    key_vocabulary,
    keys,
    longest_duration,
    toml_type,
    vocabulary,
)
from cronctl.sources.external import names as outside_history_names
from cronctl.sources.external import sections as outside_history_sections
from cronctl.sources.external import source as outside_history
from cronctl.userfiles import read_bounded

T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_PG_TIMEOUT_MAX = 24 * 86400.0  # PostgreSQL's timeouts are int milliseconds: at most 24.8 days
MAX_RUNBOOK_BYTES = 4 * 1024 * 1024  # a runbook is a page of TOML; a bigger file is refused, not read


class _Table:
    """A TOML table being read: tracks its key path and rejects keys nobody asked for."""

    def __init__(self, data: dict[str, Any], where: str, file: Path) -> None:
        self.data = data
        self.where = where
        self.file = file

    def error(self, key: str | None, reason: str) -> RunbookError:
        path = f"{self.where}.{key}" if key and self.where else (key or self.where or "(top level)")
        return RunbookError(f"{self.file}: {path}: {reason}".replace("\r", "\\r").replace("\n", "\\n"))

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
                raise self.error(key, f"unknown key{hint}")

    def _get(self, key: str, kind: type | tuple[type, ...], kind_name: str, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise self.error(key, "required key is missing")
            return None
        value = self.data[key]
        # bool is an int in Python; a number field must not accept `true`.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, f"expected {kind_name}, got boolean")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {kind_name}, got {toml_type(value)}")
        return value

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self._get(key, str, "a string", required)
        return default if value is None else value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, bool, "true or false", False)
        return default if value is None else bool(value)

    def integer(self, key: str, default: int | None = None) -> Any:
        value = self._get(key, int, "an integer", False)
        return default if value is None else value

    def number(self, key: str, default: float | None = None) -> Any:
        value = self._get(key, (int, float), "a number", False)
        if value is None:
            return default
        try:
            number = float(value)
        except OverflowError:
            raise self.error(key, "number is too large") from None
        if math.isnan(number):
            raise self.error(key, "expected a number, got nan")
        return number

    def duration(self, key: str, default: float | None = None) -> Any:
        value = self._get(key, (str, int, float), 'a duration like "30s", "5m", "2h"', False)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def str_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, (list, str), "a list of strings", False)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        for item in items:
            if not isinstance(item, str):
                raise self.error(key, f"expected a list of strings, found {toml_type(item)}")
        return tuple(items)

    def int_list(self, key: str) -> tuple[int, ...]:
        value = self._get(key, (list, int), "an integer or a list of integers", False)
        if value is None:
            return ()
        items = [value] if isinstance(value, int) else value
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int):
                raise self.error(key, f"expected integers, found {toml_type(item)}")
        return tuple(items)

    def str_map(self, key: str) -> dict[str, str]:
        value = self._get(key, dict, "a table of strings", False)
        if value is None:
            return {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise self.error(f"{key}.{k}", f"expected a string, got {toml_type(v)}")
        return dict(value)

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        value = self._get(key, dict, "a table", required)
        if value is None:
            return None
        return _Table(value, f"{self.where}.{key}" if self.where else key, self.file)

    def tables(self, key: str) -> dict[str, _Table]:
        """A table of named sub-tables, e.g. [jobs.<name>]."""
        outer = self.table(key)
        if outer is None:
            return {}
        result: dict[str, _Table] = {}
        for name, value in outer.data.items():
            if not isinstance(value, dict):
                raise outer.error(name, f"expected a table, got {toml_type(value)}")
            if not _NAME.match(name):
                raise outer.error(name, "names may use letters, digits, '-', '_' and '.' only")
            result[name] = _Table(value, f"{outer.where}.{name}", self.file)
        return result

    def array_of_tables(self, key: str) -> list[_Table]:
        value = self._get(key, list, "an array of tables ([[...]])", False)
        if value is None:
            return []
        result = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{key}[{index}]", f"expected a table, got {toml_type(item)}")
            result.append(_Table(item, f"{self.where + '.' if self.where else ''}{key}[{index}]", self.file))
        return result

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> Any:
        value = self.text(key, default)
        options = list(choices)
        if value is not None and value not in options:
            raise self.error(key, f"'{value}' is not one of: {', '.join(options)}{_suggest(value, options)}")
        return value

    def word(self, key: str, spec: type, default_value: str | None = None, extra: Iterable[str] = ()) -> Any:
        """A word of the field's closed vocabulary (model metadata); missing: `default_value`, else the field's."""
        value = self.text(key, default(spec, key) if default_value is None else default_value)
        if value is not None:
            self.check_word(key, value, vocabulary(spec, key), extra)
        return value

    def check_word(self, key: str, value: str, words: Vocabulary, extra: Iterable[str] = ()) -> None:
        problem = words.problem(value, extra)
        if problem is not None:
            raise self.error(key, problem)

    def identifier(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.text(key, default, required=required)
        if value is not None and not _IDENTIFIER.match(value):
            raise self.error(key, f"'{value}' is not a plain SQL identifier")
        return value

    def env_name(self, key: str, default: str | None = None) -> Any:
        value = self.text(key, default)
        if value is not None and not _ENV_NAME.match(value):
            raise self.error(key, f"'{value}' is not an environment variable name")
        return value


def load_runbook(path: Path, profile: str | None = None) -> Runbook:
    """Read, parse and validate one runbook file."""
    try:
        raw = read_bounded(path, MAX_RUNBOOK_BYTES)
    except FileNotFoundError:
        raise RunbookError(f"runbook not found: {path}") from None
    except IsADirectoryError:
        raise RunbookError(f"runbook path is a directory: {path}") from None
    except OSError as exc:
        raise RunbookError(f"cannot read runbook {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunbookError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunbookError(f"{path}: TOML syntax error: {exc}") from None
    return parse_runbook(data, path, profile)


def parse_runbook(data: dict[str, Any], path: Path, profile: str | None = None) -> Runbook:
    top = _Table(data, "", path)
    _check_top_keys(top)
    meta = top.table("runbook", required=True)
    assert meta is not None
    meta.check_keys(keys(Runbook, "runbook"))
    name = meta.text("name", required=True)

    run_logs = {n: _run_log(n, t) for n, t in top.tables("run_logs").items()}
    lock_tables = {n: _lock_table(n, t) for n, t in top.tables("lock_tables").items()}
    health = {n: _health(n, t) for n, t in top.tables("health").items()}
    defaults = _defaults(top.table("defaults"))
    jobs = {n: _job(n, t, run_logs, lock_tables, health, defaults) for n, t in top.tables("jobs").items()}
    if not jobs:
        raise top.error("jobs", "a runbook needs at least one [jobs.<name>] table")
    profiles = {n: _profile(n, t) for n, t in top.tables("profiles").items()}
    if profile is not None and profile not in profiles:
        known = ", ".join(profiles) or "none defined"
        raise RunbookError(f"{path}: profile '{profile}' is not defined (profiles: {known})")

    backlogs = {n: _backlog(n, t, jobs) for n, t in top.tables("backlogs").items()}
    queries = {n: _query(n, t) for n, t in top.tables("queries").items()}
    groups = tuple(_failure_group(t) for t in top.array_of_tables("failure_groups"))
    modes = tuple(_failure_mode(t, jobs, groups) for t in top.array_of_tables("failure_modes"))
    secrets_tbl = top.table("secrets_table")
    exit_tbl = top.table("exit_condition")
    exit_condition = _exit_condition(exit_tbl, backlogs) if exit_tbl else ExitCondition()
    notify_tbl = top.table("notify")
    vendors = _vendor_sections(top)
    _check_outside_histories(jobs, top, vendors)
    return Runbook(
        name=name,
        path=path,
        description=meta.text("description", ""),
        connection=_connection(top.table("connection")),
        jobs=jobs,
        run_logs=run_logs,
        lock_tables=lock_tables,
        health=health,
        backlogs=backlogs,
        queries=queries,
        failure_modes=modes,
        failure_groups=groups,
        secrets_table=_secrets_table(secrets_tbl) if secrets_tbl else None,
        exit_condition=exit_condition,
        profiles=profiles,
        profile=profile,
        defaults=defaults,
        notify=_notify(notify_tbl) if notify_tbl else None,
        vendors=vendors,
    )


def _check_top_keys(top: _Table) -> None:
    """The top level takes the model's tables and the `[<name>]` table of each history source that has one; a
    source is imported only when the runbook writes its name (all of them only to list them in an error)."""
    own = keys(Runbook)
    for key in top.data:
        if key not in own and _section_spec(key) is None:
            top.check_keys([*own, *outside_history_sections()])


def _section_spec(name: str) -> type | None:
    """The dataclass of the history source `name`'s runbook table, None when there is no such source or table."""
    return outside_history(name).section if name in outside_history_names() else None


def _vendor_sections(top: _Table) -> dict[str, object]:
    """Each history source's `[<name>]` table the runbook writes, read into the dataclass the source declares."""
    found: dict[str, object] = {}
    for name in outside_history_names():
        t = top.table(name)
        if t is not None:
            spec = _section_spec(name)
            assert spec is not None  # `_check_top_keys` let no other table through
            found[name] = _section(t, spec)
    return found


def _section(t: _Table, spec: type) -> object:
    """A table read by its dataclass alone (a history source's `[<name>]`): see `_section_value`."""
    t.check_keys(keys(spec))
    hints = typing.get_type_hints(spec)
    return spec(**{f.name: _section_value(t, spec, f, hints[f.name]) for f in dataclasses.fields(spec)})


def _section_value(t: _Table, spec: type, f: dataclasses.Field[Any], hint: Any) -> Any:
    """A deadline (`duration()`), an environment variable's name (`env_name()`), a word of the field's vocabulary
    (`one_of`) or a string, required when the field has no default."""
    fallback = default(spec, f.name)
    at_most = longest_duration(spec, f.name)
    if at_most is not None:
        return _positive(t, f.name, fallback, at_most)
    if is_env_name(spec, f.name):
        return t.env_name(f.name, fallback)
    if has_vocabulary(spec, f.name):
        return t.word(f.name, spec)
    if hint not in (str, str | None):
        raise TypeError(f"{spec.__name__}.{f.name}: a table read by its dataclass holds strings, not {hint}")
    required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    return t.text(f.name, fallback, required=required)


def _check_outside_histories(jobs: dict[str, JobSpec], top: _Table, vendors: dict[str, object]) -> None:
    """Each history source outside the database a job selects needs what it reads from (a workflow, a project)."""
    for name, job in jobs.items():
        for source in job.history.external:
            problem = outside_history(source).problem(job, vendors.get(source))
            if problem is not None:
                raise RunbookError(f"{top.file}: jobs.{name}.history: {problem}")


def _connection(t: _Table | None) -> ConnectionSpec:
    if t is None:
        return ConnectionSpec()
    t.check_keys(keys(ConnectionSpec))
    default = ConnectionSpec()
    return ConnectionSpec(
        database_url=t.text("database_url", default.database_url),
        redis_url=t.text("redis_url", default.redis_url),
        statement_timeout=_positive(t, "statement_timeout", default.statement_timeout, _PG_TIMEOUT_MAX),
        connect_timeout=_positive(t, "connect_timeout", default.connect_timeout, _PG_TIMEOUT_MAX),
    )


def _positive(t: _Table, key: str, default: float, maximum: float | None = None) -> float:
    value: float = t.duration(key, default)
    if value <= 0:
        raise t.error(key, "must be greater than zero")
    if maximum is not None and value > maximum:
        raise t.error(key, f"must be at most {maximum / 86400:g}d")
    return value


def _profile(name: str, t: _Table) -> Profile:
    t.check_keys(keys(Profile))
    return Profile(name=name, vars=t.str_map("vars"), env_file=t.text("env_file"))


def _auth(t: _Table | None) -> AuthSpec:
    from cronctl.auth import scheme

    if t is None:
        return AuthSpec()
    t.check_keys(keys(AuthSpec))
    kind = t.text("kind", "none")
    if kind not in AUTH_KINDS:
        raise t.error("kind", f"'{kind}' is not one of: {', '.join(AUTH_KINDS)}{_suggest(kind, AUTH_KINDS)}")
    found = scheme(kind)
    spec = found.with_defaults(
        AuthSpec(
            kind=kind,
            secret_env=t.env_name("secret_env"),
            header=t.text("header"),
            apikey_env=t.env_name("apikey_env"),
            template=t.text("template", "{timestamp}.{body}"),
            encoding=t.word("encoding", AuthSpec),
            prefix=t.text("prefix", ""),
            timestamp_header=t.text("timestamp_header"),
        )
    )
    problem = found.validate(spec)
    if problem is not None:
        raise t.error(problem.key, problem.message)
    return spec


def _success(t: _Table | None) -> SuccessRule:
    if t is None:
        return SuccessRule()
    t.check_keys(keys(SuccessRule))
    from cronctl.predicates import PredicateError, parse_predicate

    for key in ("require", "skipped"):
        for text in t.str_list(key):
            try:
                parse_predicate(text)
            except PredicateError as exc:
                raise t.error(key, str(exc)) from None
    for code in t.int_list("status"):
        if not 100 <= code <= 599:
            raise t.error("status", f"{code} is not an HTTP status code")
    return SuccessRule(
        status=t.int_list("status"),
        require=t.str_list("require"),
        skipped=t.str_list("skipped"),
        summary=t.text("summary"),
    )


def _history(
    t: _Table | None, job: str, run_logs: dict[str, RunLogSpec], health: dict[str, HealthSpec], url: str | None
) -> HistorySpec:
    if t is None:
        return HistorySpec()
    t.check_keys(keys(HistorySpec))
    pg_cron_value = t.data.get("pg_cron")
    if isinstance(pg_cron_value, bool):
        pg_cron = job if pg_cron_value else None
    else:
        pg_cron = t.text("pg_cron")
    run_log = t.text("run_log")
    if run_log is not None and run_log not in run_logs:
        raise t.error("run_log", f"'{run_log}' is not defined under [run_logs]{_suggest(run_log, run_logs)}")
    health_name = t.text("health")
    if health_name is not None and health_name not in health:
        raise t.error("health", f"'{health_name}' is not defined under [health]{_suggest(health_name, health)}")
    return HistorySpec(
        pg_cron=pg_cron,
        pg_net=t.flag("pg_net", False),
        run_log=run_log,
        run_log_key=t.text("run_log_key", job if run_log and run_logs[run_log].job_column else None),
        health=health_name,
        outside=_outside_histories(t, url),
    )


def _outside_histories(t: _Table, url: str | None) -> dict[str, str | bool]:
    """`history = { <source> = ... }` for each source outside the database, read by the source itself (imported
    only when the job names it); a source that selects nothing (`false`) is left out."""
    found: dict[str, str | bool] = {}
    for name in outside_history_names():
        if name not in t.data:
            continue
        try:
            selected = outside_history(name).select(t.data[name], url)
        except ValueError as exc:
            raise t.error(name, str(exc)) from None
        if selected is not None:
            found[name] = selected
    return found


def _lock(t: _Table | None, job: str, lock_tables: dict[str, LockTableSpec]) -> LockSpec | None:
    if t is None:
        return None
    t.check_keys(keys(LockSpec))
    backend = t.word("backend", LockSpec)
    if backend is None:
        backends = vocabulary(LockSpec, "backend").words
        raise t.error("backend", f"required key is missing (one of: {', '.join(backends)})")
    key_value = t.data.get("key", job)
    if isinstance(key_value, bool) or not isinstance(key_value, (str, int)):
        raise t.error("key", "expected a string or an integer")
    key = str(key_value)
    table = t.text("table")
    if backend == "table":
        if table is None:
            if len(lock_tables) != 1:
                raise t.error("table", "name the [lock_tables.<name>] entry this lock lives in")
            table = next(iter(lock_tables))
        if table not in lock_tables:
            raise t.error("table", f"'{table}' is not defined under [lock_tables]{_suggest(table, lock_tables)}")
    if backend == "advisory" and not re.fullmatch(r"-?\d+(:-?\d+)?", key):
        raise t.error("key", "an advisory lock key is a bigint or 'classid:objid'")
    ttl = t.duration("ttl")
    if ttl is not None and backend != "redis":
        raise t.error("ttl", "only a Redis lock has a TTL (a lock table has its own expires_column)")
    return LockSpec(backend=backend, key=key, table=table, margin=t.duration("margin", 300.0), ttl=ttl)


def _dispatch(t: _Table | None) -> DispatchSpec | None:
    if t is None:
        return None
    t.check_keys(keys(DispatchSpec))
    repo = t.text("repo", required=True)
    # A single ${VAR} may hold the whole `owner/name` (GitHub Actions' GITHUB_REPOSITORY does).
    whole_reference = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}", repo)
    if not whole_reference and not re.fullmatch(r"[\w.${}:-]+/[\w.${}:-]+", repo):
        raise t.error("repo", f"'{repo}' is not 'owner/name'")
    return DispatchSpec(
        repo=repo,
        workflow=t.text("workflow", required=True),
        ref=t.text("ref", "main"),
        token_env=t.env_name("token_env", "GITHUB_TOKEN"),
        api_url=t.text("api_url", "https://api.github.com"),
        inputs=t.str_map("inputs"),
    )


def _threshold(t: _Table, key: str, default: int) -> int:
    value: int = t.integer(key, default)
    if not 1 <= value <= THRESHOLD_MAX:
        raise t.error(key, f"must be between 1 and {THRESHOLD_MAX} (runs in a row), got {value}")
    return value


def _defaults(t: _Table | None) -> JobDefaults:
    """`[defaults]`: runbook-wide values of keys each job may set itself."""
    if t is None:
        return JobDefaults()
    t.check_keys(keys(JobDefaults))
    return JobDefaults(fail_after=_threshold(t, "fail_after", 1), recover_after=_threshold(t, "recover_after", 1))


def _job(
    name: str,
    t: _Table,
    run_logs: dict[str, RunLogSpec],
    lock_tables: dict[str, LockTableSpec],
    health: dict[str, HealthSpec],
    defaults: JobDefaults | None = None,
) -> JobSpec:
    t.check_keys(keys(JobSpec))
    defaults = defaults or JobDefaults()
    schedule = t.text("schedule")
    timezone = t.text("timezone", "UTC")
    fired_by = t.data.get("scheduler")
    if fired_by in ("github", "vercel") and timezone.upper() not in ("UTC", "ETC/UTC"):
        # Both read their cron expressions in UTC, whatever the repository or project says: judging the job's
        # slots in another zone would report runs missed that were never due.
        platform = "GitHub Actions" if fired_by == "github" else "Vercel cron"
        raise t.error("timezone", f"{platform} runs schedules in UTC: write the schedule in UTC and drop timezone")
    if schedule is not None:
        from cronctl.schedule import NeverFiresError, Schedule

        try:
            Schedule.parse(schedule, timezone)
        except NeverFiresError:
            pass  # pg_cron accepts it (`@reboot`, `0 0 31 2 *`): valid, and `explain` says it never fires
        except ScheduleError as exc:
            raise t.error("schedule", str(exc)) from None
    method = t.text("method", default(JobSpec, "method")).upper()
    t.check_word("method", method, vocabulary(JobSpec, "method"))
    url = t.text("url")
    dispatch = _dispatch(t.table("dispatch"))
    history = _history(t.table("history"), name, run_logs, health, url)
    if url is None and dispatch is None:
        _check_sql_job(t, history)
    if url is not None and not re.match(r"^(https?://|\$\{)", url):
        raise t.error("url", f"'{url}' must start with http:// or https:// (or a ${{VAR}} reference)")
    if "body" in t.data and not isinstance(t.data["body"], (dict, list)):
        raise t.error("body", "expected a table (the JSON object sent) or an array")
    timeout = _positive(t, "timeout", 30.0)
    return JobSpec(
        name=name,
        description=t.text("description", ""),
        schedule=schedule,
        timezone=timezone,
        method=method,
        url=url,
        headers=t.str_map("headers"),
        body=t.data.get("body"),
        timeout=timeout,
        env=_env_names(t, "env"),
        auth=_auth(t.table("auth")),
        success=_success(t.table("success")),
        history=history,
        lock=_lock(t.table("lock"), name, lock_tables),
        dispatch=dispatch,
        idempotent=t.flag("idempotent", False),
        confirm=t.flag("confirm", True),
        grace=t.duration("grace"),
        trigger_type_field=t.text("trigger_type_field"),
        idempotency_header=t.text("idempotency_header"),
        scheduler=t.word("scheduler", JobSpec, "pg_cron" if history.pg_cron else "external"),
        fail_after=_threshold(t, "fail_after", defaults.fail_after),
        recover_after=_threshold(t, "recover_after", defaults.recover_after),
        expect=t.word("expect", JobSpec),
    )


# Keys that only describe an HTTP request; on a job without url or [dispatch] they point at a forgotten url.
_REQUEST_KEYS = ("method", "headers", "body", "auth", "success", "trigger_type_field", "idempotency_header")


def _check_sql_job(t: _Table, history: HistorySpec) -> None:
    """A job without url and [dispatch] is SQL that pg_cron runs: it must name its cron.job and send no request."""
    if history.pg_cron is None:
        raise t.error(
            "url",
            "a job needs a url, a [dispatch] table to fire it through GitHub, or history.pg_cron naming the "
            "cron.job whose SQL it runs",
        )
    for key in _REQUEST_KEYS:
        if key in t.data:
            raise t.error(
                key,
                "describes an HTTP request, but the job has no url: a job with only history.pg_cron runs SQL "
                "inside the database (add the url, or remove this key)",
            )
    scheduler = t.data.get("scheduler", "pg_cron")
    if scheduler != "pg_cron" and scheduler in vocabulary(JobSpec, "scheduler").words:
        raise t.error("scheduler", f"'{scheduler}' cannot run SQL inside the database; a job without url is pg_cron's")


def _env_names(t: _Table, key: str) -> tuple[str, ...]:
    names = t.str_list(key)
    for item in names:
        if not _ENV_NAME.match(item):
            raise t.error(key, f"'{item}' is not an environment variable name")
    return names


def _run_log(name: str, t: _Table) -> RunLogSpec:
    t.check_keys(keys(RunLogSpec))
    statuses_tbl = t.table("statuses")
    statuses: dict[str, str] = {}
    if statuses_tbl is not None:
        run_statuses = key_vocabulary(RunLogSpec, "statuses").words
        statuses_tbl.check_keys(run_statuses)
        for normalised in run_statuses:
            for raw in statuses_tbl.str_list(normalised):
                statuses[raw] = normalised
    extra = t.str_map("extra_columns")
    for label, column in extra.items():
        if not _IDENTIFIER.match(column):
            raise t.error(f"extra_columns.{label}", f"'{column}' is not a plain SQL identifier")
    return RunLogSpec(
        name=name,
        table=t.identifier("table", required=True),
        schema=t.identifier("schema", "public"),
        id_column=t.identifier("id_column", "id"),
        job_column=t.identifier("job_column"),
        started_column=t.identifier("started_column", "started_at"),
        finished_column=t.identifier("finished_column", "finished_at"),
        status_column=t.identifier("status_column", "status"),
        message_column=t.identifier("message_column"),
        records_column=t.identifier("records_column"),
        extra_columns=extra,
        statuses=statuses,
        order_column=t.identifier("order_column"),
    )


def _lock_table(name: str, t: _Table) -> LockTableSpec:
    t.check_keys(keys(LockTableSpec))
    return LockTableSpec(
        name=name,
        table=t.identifier("table", required=True),
        schema=t.identifier("schema", "public"),
        name_column=t.identifier("name_column", "job_name"),
        holder_column=t.identifier("holder_column", "locked_by"),
        acquired_column=t.identifier("acquired_column", "locked_at"),
        expires_column=t.identifier("expires_column", "lock_expires_at"),
    )


def _health(name: str, t: _Table) -> HealthSpec:
    t.check_keys(keys(HealthSpec))
    return HealthSpec(
        name=name,
        url=t.text("url", required=True),
        auth=_auth(t.table("auth")),
        timeout=_positive(t, "timeout", 10.0),
    )


def _backlog(name: str, t: _Table, jobs: dict[str, JobSpec]) -> BacklogSpec:
    t.check_keys(keys(BacklogSpec))
    job = _job_ref(t, "job", jobs)
    warn = t.number("warn", 1.0)
    crit = t.number("crit")
    if crit is not None and crit < warn:
        raise t.error("crit", f"crit ({crit:g}) is below warn ({warn:g})")
    return BacklogSpec(
        name=name,
        sql=_sql(t, "sql"),
        description=t.text("description", ""),
        warn=warn,
        crit=crit,
        job=job,
    )


def _sql(t: _Table, key: str) -> str:
    sql: str = t.text(key, required=True).strip().rstrip(";").strip()
    if not sql:
        raise t.error(key, "empty SQL")
    if ";" in _strip_sql_literals(sql):
        raise t.error(key, "one statement only (found ';')")
    return sql


def _strip_sql_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _query(name: str, t: _Table) -> QuerySpec:
    t.check_keys(keys(QuerySpec))
    params = t.str_map("params")
    for param, kind in params.items():
        t.check_word(f"params.{param}", kind, vocabulary(QuerySpec, "params"))
    sql = _sql(t, "sql")
    for param in params:
        if f"%({param})s" not in sql:
            raise t.error(f"params.{param}", f"the SQL never uses %({param})s")
    defaults_tbl = t.table("defaults")
    defaults = dict(defaults_tbl.data) if defaults_tbl else {}
    for key in defaults:
        if key not in params:
            raise t.error(f"defaults.{key}", "no such parameter under params")
    return QuerySpec(name=name, sql=sql, description=t.text("description", ""), params=params, defaults=defaults)


def _job_ref(t: _Table, key: str, jobs: dict[str, JobSpec]) -> str | None:
    job: str | None = t.text(key)
    if job is not None and job not in jobs:
        raise t.error(key, f"no job named '{job}'{_suggest(job, jobs)}")
    return job


def _failure_mode(t: _Table, jobs: dict[str, JobSpec], groups: tuple[FailureGroupSpec, ...] = ()) -> FailureMode:
    t.check_keys(keys(FailureMode))
    message = t.text("message")
    if message is not None:
        _regex(t, "message", message)
    mode = FailureMode(
        symptom=t.text("symptom", required=True),
        cause=t.text("cause", required=True),
        action=t.text("action", required=True),
        severity=t.word("severity", FailureMode),
        job=_job_ref(t, "job", jobs),
        group=t.word("group", FailureMode, extra=[g.name for g in groups]),
        state=t.word("state", FailureMode),
        verdict=t.word("verdict", FailureMode),
        http_status=t.integer("http_status"),
        message=message,
        check=t.text("check"),
    )
    if not any((mode.group, mode.state, mode.verdict, mode.http_status, mode.message, mode.check)):
        raise t.error(None, "say when this applies: one of group, state, verdict, http_status, message, check")
    return mode


def _failure_group(t: _Table) -> FailureGroupSpec:
    t.check_keys(keys(FailureGroupSpec))
    name = t.text("name", required=True)
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        raise t.error("name", "group names are UPPER_SNAKE_CASE")
    pattern = t.text("pattern")
    if pattern is not None:
        _regex(t, "pattern", pattern)
    status = t.int_list("status")
    if pattern is None and not status:
        raise t.error(None, "a failure group needs a pattern or status codes")
    return FailureGroupSpec(name=name, pattern=pattern, status=status)


def _regex(t: _Table, key: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise t.error(key, f"invalid regular expression: {exc}") from None


def _notify(t: _Table) -> NotifySpec:
    """`[notify]`: `url` (a `${VAR}` template: the URL is a secret), `kind` slack | webhook, `timeout`."""
    t.check_keys(keys(NotifySpec))
    url = t.text("url", required=True)
    assert url is not None
    if not url.strip():
        raise t.error("url", "must not be empty")
    if "${" not in url:
        raise t.error("url", "write the webhook URL as ${VAR} and set VAR in the environment or .env "
                      "(the URL carries a token; the value was left out)")  # fmt: skip
    kind = t.word("kind", NotifySpec)
    return NotifySpec(url=url, kind=kind, timeout=_positive(t, "timeout", 10.0, 300.0))


def _secrets_table(t: _Table) -> SecretsTableSpec:
    t.check_keys(keys(SecretsTableSpec))
    d = SecretsTableSpec()
    return SecretsTableSpec(
        table=t.identifier("table", d.table),
        schema=t.identifier("schema", d.schema),
        key_column=t.identifier("key_column", d.key_column),
        value_column=t.identifier("value_column", d.value_column),
        updated_column=t.identifier("updated_column", d.updated_column),
        description_column=t.identifier("description_column", d.description_column),
        placeholder_prefix=t.text("placeholder_prefix", d.placeholder_prefix),
        rotate_function=t.identifier("rotate_function", d.rotate_function),
    )


def _exit_condition(t: _Table, backlogs: dict[str, BacklogSpec]) -> ExitCondition:
    t.check_keys(keys(ExitCondition))
    count = t.integer("consecutive_ok", 3)
    if count < 1:
        raise t.error("consecutive_ok", "must be at least 1")
    clear = t.str_list("backlogs_clear")
    for name in clear:
        if name not in backlogs:
            raise t.error("backlogs_clear", f"no backlog named '{name}'{_suggest(name, backlogs)}")
    return ExitCondition(consecutive_ok=count, backlogs_clear=clear)


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def suggest(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    return _suggest(name, known)


def find_job(runbook: Runbook, name: str) -> JobSpec:
    from cronctl.errors import UnknownJobError

    job = runbook.jobs.get(name)
    if job is None:
        known = ", ".join(runbook.jobs)
        hint = _suggest(name, runbook.jobs)
        raise UnknownJobError(f"no job named '{name}' in {runbook.path}{hint or f' (jobs: {known})'}")
    return job
