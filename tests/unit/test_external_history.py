"""The one history path reads history sources outside the database through `sources.external`'s registry:
their runs and notes join the job's own, their facts are kept for the root causes, and a source that is missing
or raises is an error note on its jobs, never the end of the collection.

The fake source is this module itself (`SOURCE` below), registered under `vercel` for the test's duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronctl.records import JobData, Run, SourceNote
from cronctl.runbook.env import Environment
from cronctl.runbook.model import HistorySpec, JobSpec, Runbook
from cronctl.services.history import collect_history, read_external
from cronctl.sources import external
from cronctl.sources.external.base import ExternalQuery, ExternalRead

NOW = datetime(2026, 11, 30, 3, 10, tzinfo=UTC)


@dataclass
class FakeSource:
    name: str = "vercel"
    answer: ExternalRead = field(default_factory=ExternalRead)
    error: Exception | None = None
    queries: list[ExternalQuery] = field(default_factory=list)
    section: type | None = None

    def select(self, value: object, url: str | None) -> str | bool | None:
        return True if value else None

    def problem(self, job: JobSpec, section: object | None) -> str | None:
        return None

    def scheduler_delay(self, section: object | None) -> float:
        return 0.0

    def read(self, query: ExternalQuery) -> ExternalRead:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return self.answer


SOURCE = FakeSource()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSource]:
    global SOURCE
    SOURCE = FakeSource()
    monkeypatch.setitem(external.REGISTRY, "vercel", __name__)
    yield SOURCE


def job(name: str, *, vercel: bool = True) -> JobSpec:
    return JobSpec(name=name, schedule="*/5 * * * *", history=HistorySpec(outside={"vercel": True} if vercel else {}))


def runbook(*jobs: JobSpec) -> Runbook:
    return Runbook(name="shop", path=Path("shop.toml"), jobs={j.name: j for j in jobs})


def run(job: str, minutes_ago: float, status: str = "succeeded") -> Run:
    return Run(job=job, source="vercel", status=status, started_at=NOW - timedelta(minutes=minutes_ago))


def test_runs_notes_and_facts_join_the_jobs_that_name_the_source(fake: FakeSource) -> None:
    sync, report, local = job("sync"), job("report"), job("local", vercel=False)
    fake.answer = ExternalRead(
        runs={"sync": [run("sync", 1), run("sync", 6, "failed")]},
        notes={"sync": SourceNote("vercel", "ok"), "report": SourceNote("vercel", "ok")},
        facts={"report": {"cron_path": "/api/cron/report", "deployment": "dpl_1"}},
    )
    data = [JobData(j, window_start=NOW - timedelta(hours=h)) for j, h in ((sync, 2), (report, 6), (local, 1))]
    facts = read_external(data, runbook(sync, report, local), Environment({}), NOW, None, 50)

    assert data[0].runs == [run("sync", 1), run("sync", 6, "failed")]
    assert data[0].notes == [SourceNote("vercel", "ok")] and data[1].notes == [SourceNote("vercel", "ok")]
    assert data[1].runs == [] and data[2].runs == [] and data[2].notes == []
    assert facts == {"report": {"cron_path": "/api/cron/report", "deployment": "dpl_1"}}
    (query,) = fake.queries  # one read for every job naming the source
    assert [j.name for j in query.jobs] == ["sync", "report"]
    assert query.since == NOW - timedelta(hours=6) and query.now == NOW and query.until is None
    assert query.limit == 50


def test_a_job_the_source_says_nothing_about_gets_an_error_note(fake: FakeSource) -> None:
    data = [JobData(job("sync"), window_start=NOW - timedelta(hours=1))]
    read_external(data, runbook(data[0].spec), Environment({}), NOW, None, 100)
    (note,) = data[0].notes
    assert note.name == "vercel" and note.state == "error" and "sync" in (note.message or "")


def test_a_source_that_raises_becomes_a_note_on_each_of_its_jobs(fake: FakeSource) -> None:
    fake.error = RuntimeError("token rejected\nsecond line")
    data = [JobData(job(name), window_start=NOW - timedelta(hours=1)) for name in ("sync", "report")]
    facts = read_external(data, runbook(*(d.spec for d in data)), Environment({}), NOW, None, 100)
    assert facts == {}
    for item in data:
        (note,) = item.notes
        assert note.state == "error" and note.message == "vercel history: RuntimeError: token rejected second line"
        assert item.runs == []


def test_a_missing_source_module_becomes_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(external.REGISTRY, "vercel", "cronctl.sources.external.not_written_yet")
    data = [JobData(job("sync"), window_start=NOW - timedelta(hours=1))]
    read_external(data, runbook(data[0].spec), Environment({}), NOW, None, 100)
    (note,) = data[0].notes
    assert note.state == "error" and "ModuleNotFoundError" in (note.message or "")


def test_logs_of_a_job_only_a_vendor_records_needs_no_database(fake: FakeSource) -> None:
    sync = job("sync")
    fake.answer = ExternalRead(
        runs={"sync": [run("sync", 1), run("sync", 6, "failed")]}, notes={"sync": SourceNote("vercel", "ok")}
    )
    result = collect_history(None, runbook(sync), Environment({}), sync, limit=1, now=NOW)
    assert result.runs == [run("sync", 1)]
    assert [s.to_json() for s in result.sources] == [{"source": "vercel", "state": "ok", "message": None, "runs": 2}]
