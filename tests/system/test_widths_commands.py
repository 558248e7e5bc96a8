"""Every command that prints a table, at 80, 120 and 200 columns (issue 14): triage, jobs, logs, locks, pgcron
list / status / history, doctor and trigger, against the demo incident (a real cluster with pg_cron and the real
job server), in the table and plain formats.

At each width no line is wider than the terminal, nothing is cut with `…` (beyond what the data itself holds),
and what carries meaning is whole: each job's name with its state or verdict on one line, each time to the minute,
each reason with every word in order. The verdict words are the shared ones (✓ ok, ! warn, ✗ crit, ? unknown)
while each command's JSON keeps its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_runner import run_cli
from conftest import reset_database
from cronctl.output.severity import severity_of
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox import scenario
from cronctl_sandbox.demo import demo_replies, demo_secrets
from cronctl_sandbox.jobserver import JobServer
from cronctl_sandbox.routes import routes_for_runbook
from readability import WIDTHS, assert_readable, env_for, minute

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "demo.toml"
HUMAN = ("table", "plain")


@dataclass
class Demo:
    env: dict[str, str | None]

    def run(self, *args: str, width: int | None = None, fmt: str = "json") -> Any:
        env = {**self.env, **(env_for(width) if width else {})}
        result = run_cli(*args, "-f", fmt, env=env)
        assert "Traceback" not in result.output, result.output
        if fmt == "json":
            return json.loads(result.stdout)
        return result.stdout


@pytest.fixture(scope="module")
def demo(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    reset_database(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        scenario.load(conn, "demo", datetime.now(UTC))
    secrets = demo_secrets()
    routes = routes_for_runbook(
        load_runbook(RUNBOOK), Environment({"DEMO_URL": "http://127.0.0.1", **secrets}), demo_replies()
    )
    audit = tmp_path_factory.mktemp("widths") / "audit.jsonl"
    with JobServer(routes) as server:
        yield Demo({"DATABASE_URL": pg_dsn, "DEMO_URL": server.url, "CRONCTL_RUNBOOK": str(RUNBOOK),
                    "CRONCTL_AUDIT_FILE": str(audit), **secrets})  # fmt: skip
    reset_database(pg_dsn)


def _words(text: str) -> str:
    """A reason without the words that move with the clock (`48m15s`, `3`): the demo is live, and each rendering
    is a new snapshot."""
    return " ".join(w for w in text.split() if not any(c.isdigit() for c in w))


def _every_width(demo: Demo, args: tuple[str, ...], data: Any, **facts: Any) -> None:
    facts["texts"] = [_words(t) for t in facts.get("texts", [])]
    allowed = json.dumps(data, ensure_ascii=False, default=str).count("…")
    for width in WIDTHS:
        for fmt in HUMAN:
            out = demo.run(*args, width=width, fmt=fmt)
            assert_readable(out, width, allowed_ellipses=allowed, where=f"{' '.join(args)} -f {fmt}", **facts)


def _to_minute(value: str | None) -> str | None:
    """A full timestamp as cells show it (`2026-12-02 00:01:47Z`): its date, hour and minute."""
    if value is None:
        return None
    return value.replace("T", " ")[:16]


def test_triage(demo: Demo) -> None:
    data = demo.run("triage")
    now = data["generated_at"]
    rows = [(j["name"], j["state"]) for j in data["jobs"]] + [(lk["name"], lk["state"]) for lk in data["locks"]]
    times = [minute(j["next_run"], now) for j in data["jobs"] if j["next_run"]]
    _every_width(demo, ("triage",), data, rows=rows + [(t,) for t in times if t],
                 paragraphs=[f["action"] for f in data["findings"]],
                 commands=[c for f in data["findings"] for c in f["commands"]],
                 texts=[j["reason"] for j in data["jobs"]])  # fmt: skip


def test_jobs(demo: Demo) -> None:
    data = demo.run("jobs")
    now = datetime.now(UTC).isoformat()
    rows = [(j["name"],) for j in data["jobs"]]
    times = [(minute(j["next_run"], now).split(" ")[-1],) for j in data["jobs"] if j["next_run"]]  # type: ignore[union-attr]
    missing = [(e["name"],) for j in data["jobs"] for e in j["env"] if not e["set"]]
    _every_width(demo, ("jobs",), data, rows=rows + times + missing, texts=[j["schedule_text"] for j in data["jobs"]])


@pytest.mark.parametrize("job", ["dispatch-messages", "reconcile-payments", "sync-enrolments", "nightly-report"])
def test_logs(demo: Demo, job: str) -> None:
    data = demo.run("logs", job, "--limit", "8")
    rows = [(r["status"],) for r in data["runs"]]
    rows += [(t,) for r in data["runs"] if (t := _to_minute(r.get("started_at") or r.get("finished_at")))]
    _every_width(demo, ("logs", job, "--limit", "8"), data, rows=rows)


def test_locks(demo: Demo) -> None:
    data = demo.run("locks")
    rows = [(lk["name"], lk["state"]) for lk in data["locks"]]
    _every_width(demo, ("locks",), data, rows=rows, texts=[lk["reason"] for lk in data["locks"]])
    dry = demo.run("locks", "clear", "--all-stale", "--dry-run")
    _every_width(demo, ("locks", "clear", "--all-stale", "--dry-run"), dry,
                 rows=[(lk["name"], lk["state"]) for lk in dry.get("would_clear", [])])  # fmt: skip


def test_pgcron_list_status_history(demo: Demo) -> None:
    listed = demo.run("pgcron", "list")
    now = datetime.now(UTC).isoformat()
    rows = []
    for job in listed["jobs"]:
        status = (job["last_run"] or {}).get("raw_status") or "never_run"
        rows.append((job["jobname"], status))
        if job["next_run"]:
            rows.append((minute(job["next_run"], now).split(" ")[-1],))  # type: ignore[union-attr]
    _every_width(demo, ("pgcron", "list"), listed, rows=rows)
    status = demo.run("pgcron", "status")
    alive = "alive" if status["scheduler"]["alive"] else "dead"
    _every_width(demo, ("pgcron", "status"), status, rows=[("scheduler", alive)])
    history = demo.run("pgcron", "history", "--limit", "10")
    rows = [(r["job"], r["status"]) for r in history["runs"] if r.get("job")]
    _every_width(demo, ("pgcron", "history", "--limit", "10"), history, rows=rows)


def test_doctor(demo: Demo) -> None:
    data = demo.run("doctor")
    rows = [(c["name"], severity_of(c["status"], "doctor")) for c in data["checks"]]
    _every_width(demo, ("doctor",), data, rows=rows, texts=[c["detail"] for c in data["checks"]])


def test_trigger(demo: Demo) -> None:
    one = demo.run("trigger", "reconcile-payments", "--yes")
    word = severity_of(one["verdict"], "trigger")
    assert word in ("ok", "warn", "crit")
    _every_width(demo, ("trigger", "reconcile-payments", "--yes"), one,
                 rows=[("verdict", word)], texts=[one["reason"]])  # fmt: skip
    several = demo.run("trigger", "reconcile-payments", "sync-enrolments", "--yes")
    rows = [(r["job"], severity_of(r["verdict"], "trigger")) for r in several["results"]]
    _every_width(demo, ("trigger", "reconcile-payments", "sync-enrolments", "--yes"), several,
                 rows=rows, texts=[r["reason"] for r in several["results"]])  # fmt: skip
    repeated = demo.run("trigger", "sync-enrolments", "--repeat", "2", "--interval", "0", "--yes")
    # Each rendering fires new requests (new ids): check the shape, each run's number with its verdict.
    rows = [(str(n), severity_of(r["verdict"], "trigger")) for n, r in enumerate(repeated["runs"], 1)]
    _every_width(demo, ("trigger", "sync-enrolments", "--repeat", "2", "--interval", "0", "--yes"), repeated,
                 rows=[*rows, ("request id",)])  # fmt: skip
