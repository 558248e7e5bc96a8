"""Every incident of the corpus, rendered as people read it, at 80, 120 and 200 columns (issue 14).

Each incident is the build test_corpus.py judges (tests/corpus/loading.py: the same build, reused when the two
tests of an incident run together), judged once with `-f json` for the facts, then rendered with `-f table` and
`-f plain` at each width and with `-f markdown` (the chat message, and `--full`). At every width:

- no line is wider than the terminal and nothing is cut with `…` (beyond what the data itself holds);
- every job's name and state word share one line, each whole; so do every lock's name and state;
- every job's last run and next run, and every lock's acquired time, appear to the minute (`21:22Z`, with the
  date when it is another day);
- every finding's symptom, cause and action read whole once wrapping is undone, and every exact command is whole
  on one line; every job's and lock's reason keeps all its words in order;
- findings come before the jobs, and the jobs that are not ok before the rest.

Markdown stays within one chat message (4,000 characters) unless `--full`, which holds every job and action.
`docs/snapshots/` keeps one incident at each width for reviewers; `CRONCTL_SNAPSHOTS=write pytest
tests/system/test_widths_corpus.py -k snapshot` rewrites them after a deliberate change.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from test_corpus import load

from cli_runner import run_cli
from corpus.builder import iso
from corpus.incidents import INCIDENTS, Incident
from corpus.loading import Built, corpus_params
from cronctl.output.cells import escape_unsafe
from readability import WIDTHS, assert_readable, env_for, lines_with, minute
from vendor_guard import no_vendor_api  # noqa: F401  (autouse: no real vendor API, whatever the environment holds)

pytestmark = pytest.mark.corpus

SNAPSHOTS = Path(__file__).resolve().parents[2] / "docs" / "snapshots"
SNAPSHOT_INCIDENT = "bp-escalation-401"
CHAT_LIMIT = 4000
HUMAN = ("table", "plain")
WINDOW = 86400.0  # `cronctl triage` without --since, as the verdict test runs it


def _facts(data: dict[str, Any], fmt: str, live: bool = False) -> dict[str, Any]:
    """What must be readable, from the JSON of the same snapshot (escaped as the format escapes text). A live
    incident's reasons move with the clock (`no answer after 191s`): their words with digits are not compared."""
    single = fmt == "plain"

    def steady(text: str) -> str:
        return " ".join(w for w in text.split() if not (live and any(c.isdigit() for c in w)))

    def shown(text: str | None) -> str:
        return escape_unsafe(text or "", single_line=single)

    now = data["generated_at"]
    rows = [(j["name"], j["state"]) for j in data["jobs"]]
    rows += [(lock["name"], lock["state"]) for lock in data["locks"]]
    times = []
    for job in data["jobs"]:
        last = job.get("last_run") or {}
        times.append({minute(last.get("started_at") or last.get("finished_at"), now)} - {None})
        times.append({minute(job.get("next_run"), now)} - {None})
    times += [{minute(lock.get("acquired_at"), now)} - {None} for lock in data["locks"]]
    findings = data["findings"]
    whole = ("action",) if live else ("symptom", "cause", "action")
    return {
        "rows": rows,
        "times": [t for t in times if t],
        "paragraphs": [shown(f[k]) for f in findings for k in whole if f.get(k)],
        "commands": [c for f in findings for c in f.get("commands", [])],
        "texts": [steady(shown(j["reason"])) for j in data["jobs"] if j.get("reason")]
        + [steady(shown(lock["reason"])) for lock in data["locks"] if lock.get("reason")]
        + [steady(shown(f[k])) for f in findings for k in ("symptom", "cause") if live and f.get(k)],
        "counts": [
            (j["name"], str(n)) for j in data["jobs"] for n in (j["consecutive_failures"], j["missed_runs"]) if n
        ],
        "ellipses": json.dumps(data, ensure_ascii=False).count("…"),
    }


def _check(out: str, width: int, facts: dict[str, Any], where: str, also: dict[str, Any] | None = None) -> None:
    """`out` shows `facts` whole; a live incident's typed run may instead show the later snapshot `also` (a job
    can change state between the judged snapshot and the run), but then all of it."""
    try:
        _check_facts(out, width, facts, where, also)
    except AssertionError:
        if also is None:
            raise
        _check_facts(out, width, also, where, facts)


def _check_facts(out: str, width: int, facts: dict[str, Any], where: str, also: dict[str, Any] | None) -> None:
    assert_readable(
        out,
        width,
        rows=facts["rows"],
        paragraphs=facts["paragraphs"],
        texts=facts["texts"],
        commands=facts["commands"],
        allowed_ellipses=facts["ellipses"],
        where=where,
    )
    for options in facts["times"]:
        other = also["times"] if also else []
        if not any(t in out for t in options) and not any(t in out for o in other for t in o):
            raise AssertionError(f"{where}: the time {sorted(options)} is not shown to the minute:\n{out}")
    for _job, count in facts["counts"]:
        assert lines_with(out, count), f"{where}: count {count} not shown whole"
    if facts["paragraphs"] and "Jobs that need attention" in out:
        # What to do first comes first: the findings open the report, then the jobs that are not ok.
        assert out.index("Findings") < out.index("Jobs that need attention"), where


def _markdown_checks(brief: str, full: str, data: dict[str, Any], where: str) -> None:
    assert len(brief) <= CHAT_LIMIT, f"{where}: the chat message is {len(brief)} characters"
    findings = [f for f in data["findings"] if not f["ruled_out"]]
    if findings:
        assert flat_has(brief, findings[0]["symptom"]), f"{where}: the top finding is not in the chat message"
        assert (
            brief.index("### Findings") < brief.index("### Jobs that need attention")
            if ("### Jobs that need attention" in brief)
            else True
        )
    bad = [j for j in data["jobs"] if j["state"] not in ("ok", "running")]
    for job in bad:
        assert (
            lines_with(brief, job["name"])
            or "more in Jobs that need attention" in brief
            or ("Jobs that need attention" in brief.splitlines()[-1])
        ), f"{where}: {job['name']} ({job['state']}) is neither shown nor named as left out"
    for job in data["jobs"]:
        assert lines_with(full, job["name"], job["state"]), f"{where}: --full lacks {job['name']} {job['state']}"
    for finding in data["findings"]:
        assert flat_has(full, finding["action"]), f"{where}: --full lacks the action {finding['action']!r}"
        for command in finding.get("commands", []):
            assert f"`{command}`" in full, f"{where}: --full lacks `{command}`"


def flat_has(out: str, text: str) -> bool:
    return " ".join(text.split()) in " ".join(out.split())


def _stable(report: Any) -> Any:
    """The report with the one fact that changes between runs (the live scheduler's pid) fixed, for docs/."""
    from dataclasses import replace

    from cronctl.output.report import Table

    def fix(cell: Any) -> Any:
        return re.sub(r"\bpid \d+", "pid 12345", cell) if isinstance(cell, str) else cell

    sections = [
        replace(s, rows=[[fix(c) for c in row] for row in s.rows]) if isinstance(s, Table) else s
        for s in report.sections
    ]
    return replace(report, sections=sections)


def _snapshot(case: Incident, outputs: dict[str, str]) -> None:
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, text in outputs.items():
        path = SNAPSHOTS / f"triage-{case.id}-{name}.txt"
        body = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
        if os.environ.get("CRONCTL_SNAPSHOTS") == "write":
            path.write_text(body)
        elif not path.is_file() or path.read_text() != body:
            stale.append(path.name)
    assert not stale, (
        f"docs/snapshots out of date: {stale}; look at the new output and rewrite them with "
        "CRONCTL_SNAPSHOTS=write pytest tests/system/test_widths_corpus.py -k snapshot"
    )


def _render(report: Any, fmt: str, width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    from cronctl.output.render import render

    monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    render(report, fmt, out)
    return out.getvalue()


def _reports(
    args: list[str], env: dict[str, str | None], built: Built, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any]:
    """The snapshot judged once, exactly as `cronctl triage` judges it (the verdict test's, when this process ran
    it); its report for every format (the brief Markdown and `--full`), so each width renders the same facts."""
    from cronctl.cli.common import Invocation
    from cronctl.cli.triage import snapshot
    from cronctl.reports.triage import triage_report

    for key, value in {**env, "NO_COLOR": "1"}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    inv = Invocation(Path(args[2]), None, None, "table", False)
    if built.judged is None:
        built.judged, report = snapshot(inv, WINDOW, None, at=None if built.builder.live else built.now)
    else:
        report = triage_report(built.judged, inv.runbook(), WINDOW)
    brief = triage_report(built.judged, inv.runbook(), WINDOW, brief=True)
    return report, brief


@pytest.mark.parametrize("case", corpus_params(INCIDENTS), scope="session")
def test_incident_reads_whole_at_every_width(
    case: Incident, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = load(case, request)
    now = built.now
    args = ["triage", "-r", str(built.runbook)] + ([] if case.live else ["--at", iso(now)])
    env: dict[str, str | None] = {"DATABASE_URL": built.dsn, **built.builder.env}
    outputs: dict[str, str] = {}
    if case.id == SNAPSHOT_INCIDENT or case.live:
        # End to end, as typed: 80 columns, the table format (the other incidents are rendered in process only;
        # test_corpus.py already runs each of them end to end).
        typed = run_cli(*args, "-f", "table", env={**env, **env_for(80)})
        assert typed.exit_code in (0, 1, 2, 3) and "Traceback" not in typed.output, typed.output
        outputs["typed-80"] = typed.stdout
    report, brief_report = _reports(args, env, built, monkeypatch)
    # The facts to find in every rendering: the same snapshot's `-f json` (its data, exactly).
    data = json.loads(_render(report, "json", 200, monkeypatch))
    for width in WIDTHS:
        for fmt in HUMAN:
            outputs[f"{fmt}-{width}"] = _render(report, fmt, width, monkeypatch)
    brief = _render(brief_report, "markdown", 80, monkeypatch)
    full = _render(report, "markdown", 80, monkeypatch)
    # A live incident moves on while it is rendered (a next run can roll over a minute): accept either snapshot.
    later = report.data if case.live else None
    if later is not None:
        later = json.loads(run_cli(*args, "-f", "json", env=env).stdout)
    for name, out in outputs.items():
        fmt, width = name.split("-")
        fmt = "table" if fmt == "typed" else fmt
        facts = _facts(data, fmt, case.live)
        _check(out, int(width), facts, f"{case.id} {name}", _facts(later, fmt, True) if later else None)
    _markdown_checks(brief, full, data, case.id)
    if case.id == SNAPSHOT_INCIDENT:
        stable = _stable(report)
        shots = {f"{w}": _render(stable, "table", w, monkeypatch) for w in WIDTHS}
        _snapshot(case, {**shots, "markdown": _render(_stable(brief_report), "markdown", 80, monkeypatch)})


def test_the_snapshot_incident_is_in_the_corpus() -> None:
    assert any(i.id == SNAPSHOT_INCIDENT and not i.live for i in INCIDENTS)
