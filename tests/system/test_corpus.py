"""The incident corpus (issue 11 item 10, DESIGN.md §5): every incident of tests/corpus/incidents.py is loaded into
a fresh database and judged by `cronctl triage -r <runbook> -f json --at <now>`, exactly as an on-call engineer
would run it; every job's state, every lock's state, the first finding and (where declared) the overall status are
compared with the incident's expected verdict.

Run it alone with `pytest tests/system/test_corpus.py` (or `-m corpus`); skip it with `-m "not corpus"`. The summary
"corpus: N/M verdicts right" and every wrong verdict are printed at the end of the run.

Incidents with a fixed `now` are judged with `--at` (history as of that time). LIVE incidents are built around the
clock and judged without `--at`, because what they test is present tense: a scheduler that is not running now, a
pg_net worker that picks nothing up now, Redis TTLs, the health endpoint's answer now.

History outside the database is served by the sandbox's stand-ins of GitHub's, Vercel's and Supabase's APIs
(corpus.vendors), fresh for each incident; the incident's runbook copy points at them. An incident of a system
without a database (`cluster = "none"`, seed 001) is triaged with DATABASE_URL unset, as its users would run it.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_runner import run_cli
from conftest import reset_database, resets
from corpus.builder import Builder, at, ensure_role, grant_read, iso
from corpus.incidents import INCIDENTS, Incident, by_id
from corpus.loading import RESULTS, SEEN, Builds, Built, corpus_params
from corpus.vendors import Vendors
from cronctl_sandbox.cluster import PgCluster
from vendor_guard import no_vendor_api  # noqa: F401  (autouse: no real vendor API, whatever the environment holds)

pytestmark = pytest.mark.corpus

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
ROLE_PASSWORD = "corpus-role-password"
# role kind -> (role name, BYPASSRLS); neither gets USAGE on schema net.
CUSTOM_ROLES = {"reader_no_net": ("corpus_reader", False), "auditor_no_net": ("corpus_auditor", True)}

# ---------------------------------------------------------------- loading and judging one incident


def _runbook(case: Incident, tmp_path: Path, built: dict[str, dict[str, str]] | None = None) -> Path:
    """The shipped runbook, or a copy with the incident's edits (`[section] key = value`) and those its build made
    (`built`: the Builder's, e.g. a vendor's `api_url` pointing at its stand-in)."""
    path = RUNBOOKS / f"{case.system}.toml"
    edits: dict[str, dict[str, str]] = {}
    for source in (built or {}, case.runbook_edits):
        for section, values in source.items():
            edits.setdefault(section, {}).update(values)
    if not edits:
        return path
    text = path.read_text()
    for section, values in edits.items():
        header = re.search(rf"^\[{re.escape(section)}\]\s*$", text, re.MULTILINE)
        assert header, f"{path.name} has no [{section}]"
        end = re.search(r"^\[", text[header.end() :], re.MULTILINE)
        stop = header.end() + (end.start() if end else len(text) - header.end())
        body = text[header.end() : stop]
        for key, value in values.items():
            line = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
            body = line.sub(f"{key} = {value}", body) if line.search(body) else f"\n{key} = {value}{body}"
        text = text[: header.end()] + body + text[stop:]
    copy = tmp_path / path.name
    copy.write_text(text)
    return copy


def _role_dsn(case: Incident, request: pytest.FixtureRequest, cluster: PgCluster, su: psycopg.Connection[Any]) -> str:
    if case.role == "superuser":
        return cluster.superuser_dsn
    if case.role == "read_only":
        dsn: str = request.getfixturevalue("read_only_role")
        return dsn
    name, bypass = CUSTOM_ROLES[case.role]
    ensure_role(su, name, ROLE_PASSWORD, bypassrls=bypass)
    grant_read(su, name, ["public", "cron"])
    return cluster.dsn(user=name, password=ROLE_PASSWORD)


def load(case: Incident, request: pytest.FixtureRequest) -> Built:
    """The incident, built (or as the previous test of this incident built it: `corpus_builds`)."""
    builds: Builds = request.getfixturevalue("corpus_builds")
    return builds.get(case, lambda vendors: _build(case, request, vendors))


def _build(case: Incident, request: pytest.FixtureRequest, vendors: Vendors) -> Built:
    """Build the incident into a freshly reset database (or, for a system without one, only its outside state)."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    state = tmp_path / "cronctl-state"  # ETag caches, local silences: this incident's
    redis_client = None
    url = None
    if case.system == "ads-platform-vercel":
        import redis

        url = request.getfixturevalue("corpus_redis_url")
        redis_client = redis.Redis.from_url(url)
    now = datetime.now(UTC) if case.live else at(case.now or "")
    dsn: str | None = None
    if case.cluster == "none":
        assert case.role == "superuser", "an incident without a database has no role"
        b = Builder(None, now, live=case.live, redis=redis_client, vendors=vendors)
        b.redis_url = url
        patch = case.build(b) or {}
        b.finish()
    else:
        cluster: PgCluster = (
            request.getfixturevalue("no_scheduler_cluster")
            if case.cluster == "no_scheduler"
            else request.getfixturevalue("pg_cluster")
        )
        if case.role == "read_only":
            request.getfixturevalue("read_only_role")  # its default privileges cover the tables built below
        reset_database(cluster.superuser_dsn)
        with psycopg.connect(cluster.superuser_dsn, autocommit=True, connect_timeout=10) as conn:
            b = Builder(conn, now, live=case.live, redis=redis_client, vendors=vendors)
            b.redis_url = url
            if case.system == "metrics-collectors":
                b.health = request.getfixturevalue("health_endpoint")
            with conn.transaction():
                patch = case.build(b) or {}
                b.finish()
            dsn = _role_dsn(case, request, cluster, conn)
    b.env.setdefault("CRONCTL_STATE_DIR", str(state))
    runbook = _runbook(case, tmp_path, b.runbook_edits)
    return Built(case.id, b, dsn, now, patch, runbook, vendors, resets())


def _triage(case: Incident, built: Built) -> tuple[dict[str, Any] | None, str]:
    args = ["triage", "-r", str(built.runbook), "-f", "json"]
    if not case.live:
        args += ["--at", iso(built.now)]
    with _keeping_judged(built):
        result = run_cli(*args, env={"DATABASE_URL": built.dsn, **built.builder.env})
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        first = (result.stderr.strip().splitlines() or ["(no output)"])[0]
        return None, f"triage gave no JSON (exit {result.exit_code}): {first[:300]}"
    return (data if isinstance(data, dict) else None), ""


@contextmanager
def _keeping_judged(built: Built) -> Iterator[None]:
    """Keep the snapshot the command judged on `built`; the command runs unchanged."""
    from cronctl.services import triage as service

    judge = service.judge_snapshot

    def judging(*args: Any, **kwargs: Any) -> Any:
        built.judged = judge(*args, **kwargs)
        return built.judged

    service.judge_snapshot = judging
    try:
        yield
    finally:
        service.judge_snapshot = judge


def _matches_state(want: Any, got: Any) -> bool:
    return got in want if isinstance(want, tuple) else got == want


def _finding_matches(finding: dict[str, Any], want: dict[str, Any]) -> bool:
    for key, value in want.items():
        if key == "text_contains":
            if str(value).casefold() not in json.dumps(finding, default=str).casefold():
                return False
        elif key == "jobs_include":
            if not set(value) <= set(finding.get("jobs") or []):
                return False
        elif key == "silenced":
            if bool(finding.get("silenced")) != value:
                return False
        elif key.endswith("_contains"):
            if str(value).casefold() not in str(finding.get(key.removesuffix("_contains")) or "").casefold():
                return False
        elif finding.get(key) != value:
            return False
    return True


def _brief(finding: dict[str, Any] | None) -> str:
    if finding is None:
        return "none"
    keys = ("kind", "id", "severity", "job", "symptom", "cause")
    return json.dumps({k: finding.get(k) for k in keys if finding.get(k) is not None})[:400]


def judge(
    case: Incident, patch: dict[str, Any], data: dict[str, Any] | None, failure: str
) -> tuple[int, int, list[str]]:
    """(verdicts right, verdicts, one line per wrong verdict)."""
    jobs: dict[str, Any] = {**case.jobs, **patch.get("jobs", {})}
    locks: dict[str, str] = {**case.locks, **patch.get("locks", {})}
    total = len(jobs) + len(locks) + 1 + (1 if case.status else 0)
    if data is None:
        return 0, total, [failure]
    wrong: list[str] = []
    seen = {j.get("name"): j for j in data.get("jobs") or []}
    SEEN[case.id] = [
        f"job {j.get('name')}: {j.get('state')} ({str(j.get('reason') or '')[:120]})" for j in seen.values()
    ]
    SEEN[case.id] += [f"lock {lk.get('name')}: {lk.get('state')}" for lk in data.get("locks") or []]
    SEEN[case.id] += [f"top: {_brief((data.get('findings') or [None])[0])}", f"status: {data.get('status')}"]
    for name, want in jobs.items():
        job = seen.get(name) or {}
        if not _matches_state(want, job.get("state")):
            reason = str(job.get("reason") or "")[:200]
            wrong.append(f"job {name}: expected {want}, got {job.get('state')} ({reason})")
    total += len(case.reasons)
    for name, words in case.reasons.items():
        reason = str((seen.get(name) or {}).get("reason") or "")
        if words.casefold() not in reason.casefold():
            wrong.append(f"job {name}: its reason does not say {words!r} ({reason[:200]})")
    for name in seen.keys() - jobs.keys():
        total += 1
        wrong.append(f"job {name}: not declared by the incident (state {seen[name].get('state')})")
    total += len(case.silenced)
    for name, job in seen.items():
        if bool(job.get("silenced")) != (name in case.silenced):
            marked = "marked" if job.get("silenced") else "not marked"
            wrong.append(f"job {name}: {marked} silenced, expected {'' if name in case.silenced else 'not '}silenced")
    got_locks = {lock.get("name"): lock for lock in data.get("locks") or []}
    for name, want in locks.items():
        lock = got_locks.get(name) or {}
        if lock.get("state") != want:
            wrong.append(
                f"lock {name}: expected {want}, got {lock.get('state')} ({str(lock.get('reason') or '')[:200]})"
            )
    for name in got_locks.keys() - locks.keys():
        total += 1
        wrong.append(f"lock {name}: unexpected lock (state {got_locks[name].get('state')})")
    findings = data.get("findings") or []
    first = findings[0] if findings else None
    want_top = patch.get("top", case.top)
    if want_top is None and first is not None:
        wrong.append(f"top finding: expected none, got {_brief(first)}")
    elif want_top is not None and (first is None or not _finding_matches(first, want_top)):
        wrong.append(f"top finding: expected {json.dumps(want_top)}, got {_brief(first)}")
    if case.status and data.get("status") != case.status:
        wrong.append(f"status: expected {case.status}, got {data.get('status')}")
    return total - len(wrong), total, wrong


@pytest.mark.parametrize("case", corpus_params(INCIDENTS), scope="session")
def test_incident(case: Incident, request: pytest.FixtureRequest) -> None:
    built = load(case, request)
    data, failure = _triage(case, built)
    right, total, wrong = judge(case, built.patch, data, failure)
    RESULTS[case.id] = (right, total, wrong)
    assert not wrong, f"{case.id}: {right}/{total} verdicts right\n  " + "\n  ".join(wrong)


# ---------------------------------------------------------------- the corpus itself


def _runbook_jobs(system: str) -> set[str]:
    with (RUNBOOKS / f"{system}.toml").open("rb") as fh:
        return set(tomllib.load(fh).get("jobs", {}))


def test_corpus_shape() -> None:
    """At least 30 incidents over the five seed systems, a healthy one for every seed, at least 6 healthy in all,
    and every incident names the state of every job of its runbook."""
    incidents = list(by_id().values())
    assert len(incidents) >= 30
    systems = {i.system for i in incidents}
    assert systems == {
        "messaging-dispatch",
        "ads-platform-vercel",
        "metrics-collectors",
        "enrolment-sync",
        "billing-pgcron",
    }
    assert sum(i.healthy for i in incidents) >= 6
    assert {i.system for i in incidents if i.healthy} == systems
    for i in incidents:
        assert set(i.jobs) == _runbook_jobs(i.system), i.id
        assert set(i.reasons) <= set(i.jobs), i.id
        if i.healthy:
            assert i.top is None and all(s == "ok" for s in i.jobs.values()), i.id
    # Issue 17: the history outside the database, in the incidents the issue names.
    assert {i.id for i in incidents} >= {
        "ads-healthy", "ads-sync-401-streak", "bp-github-tick-dropped", "bp-workflows-disabled-inactivity",
        "md-dispatcher-earlydrop-500",
    }  # fmt: skip
    assert all(i.cluster == "none" for i in incidents if i.system == "ads-platform-vercel")
