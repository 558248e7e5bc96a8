"""`cronctl triage -f openmetrics`, parsed by prometheus_client's OpenMetrics parser."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_text_families

from cli_runner import run_cli
from cronctl.output.openmetrics import FAMILIES, JOB_STATES, to_openmetrics
from cronctl_sandbox import scenario
from ops_systems import runbook_text, set_state, write_runbook

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
# The names issue 16 lists, exactly.
NAMES = {
    "cronctl_job_up",
    "cronctl_job_state",
    "cronctl_job_last_success_timestamp_seconds",
    "cronctl_job_missed_runs",
    "cronctl_job_consecutive_failures",
    "cronctl_job_duration_seconds",
    "cronctl_backlog_value",
    "cronctl_stale_locks",
    "cronctl_triage_status",
    "cronctl_up",
}


def _families(text: str) -> dict:
    assert text.endswith("# EOF\n")
    return {f.name: f for f in text_string_to_metric_families(text)}


def _series(family: object) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for s in family.samples]  # type: ignore[attr-defined]


def test_demo_incident_as_openmetrics(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        scenario.load(conn, "demo", datetime.now(UTC))
    result = run_cli("triage", "-r", str(RUNBOOKS / "demo.toml"), "-f", "openmetrics", env={"DATABASE_URL": clean_db})
    assert result.exit_code == 2, result.stderr
    families = _families(result.stdout)
    assert set(families) == NAMES == set(FAMILIES)
    assert families["cronctl_job_duration_seconds"].type == "summary"
    assert families["cronctl_job_duration_seconds"].unit == "seconds"
    assert families["cronctl_job_last_success_timestamp_seconds"].unit == "seconds"
    assert all(families[n].type == "gauge" for n in NAMES - {"cronctl_job_duration_seconds"})
    assert _series(families["cronctl_up"]) == [("cronctl_up", {"runbook": "demo", "profile": ""}, 1.0)]
    assert _series(families["cronctl_triage_status"])[0][2] == 2.0
    # One-hot state per job, matching the JSON verdicts.
    data = run_cli("triage", "-r", str(RUNBOOKS / "demo.toml"), "-f", "json", env={"DATABASE_URL": clean_db})
    import json

    jobs = {j["name"]: j for j in json.loads(data.stdout)["jobs"]}
    states: dict[str, dict[str, float]] = {}
    for _, labels, value in _series(families["cronctl_job_state"]):
        states.setdefault(labels["job_name"], {})[labels["state"]] = value
    assert set(states) == set(jobs)
    for name, by_state in states.items():
        assert set(by_state) >= set(JOB_STATES)
        assert [s for s, v in by_state.items() if v == 1.0] == [jobs[name]["state"]]
    up = {labels["job_name"]: value for _, labels, value in _series(families["cronctl_job_up"])}
    assert up["nightly-report"] == 0.0 and up["dispatch-messages"] == 0.0
    missed = {labels["job_name"]: value for _, labels, value in _series(families["cronctl_job_missed_runs"])}
    assert missed["nightly-report"] == jobs["nightly-report"]["missed_runs"] >= 2
    fails = {labels["job_name"]: value for _, labels, value in _series(families["cronctl_job_consecutive_failures"])}
    assert fails["dispatch-messages"] == jobs["dispatch-messages"]["consecutive_failures"] > 0
    backlog = {labels["backlog"]: value for _, labels, value in _series(families["cronctl_backlog_value"])}
    assert backlog["pending-messages"] >= 1
    assert _series(families["cronctl_stale_locks"])[0][2] >= 1
    quantiles = {labels["quantile"] for _, labels, _ in _series(families["cronctl_job_duration_seconds"])}
    assert quantiles <= {"0.5", "0.95", "1.0"} and quantiles
    # Prometheus' own text parser (what node_exporter's textfile collector uses) reads the same text.
    assert {f.name for f in prometheus_text_families(result.stdout)} >= NAMES - {"cronctl_job_duration_seconds"}


def test_last_success_timestamp(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text())
    set_state(clean_db, "failing")
    result = run_cli("triage", "-r", str(runbook), "-f", "openmetrics", env={"OPS_DATABASE_URL": clean_db})
    families = _families(result.stdout)
    ((_, labels, value),) = _series(families["cronctl_job_last_success_timestamp_seconds"])
    with psycopg.connect(clean_db) as conn:
        newest = conn.execute("SELECT max(finished_at) FROM ops_runs WHERE status = 'success'").fetchone()[0]
    assert labels == {"runbook": "ops", "profile": "", "job_name": "collect"}
    assert value == newest.timestamp()
    ((_, _, failures),) = _series(families["cronctl_job_consecutive_failures"])
    assert failures == 3


def test_collection_failure_still_prints_cronctl_up_zero(tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text())
    result = run_cli("triage", "-r", str(runbook), "-f", "openmetrics",
                     env={"OPS_DATABASE_URL": "postgresql://u:pw-abcdef@127.0.0.1:9/none"})  # fmt: skip
    assert result.exit_code == 3
    assert "cannot connect" in result.stderr
    families = _families(result.stdout)
    assert _series(families["cronctl_up"]) == [("cronctl_up", {"runbook": "ops", "profile": ""}, 0.0)]
    assert _series(families["cronctl_triage_status"])[0][2] == 3.0
    assert _series(families["cronctl_job_up"]) == []
    assert "pw-abcdef" not in result.output


def test_label_values_are_escaped() -> None:
    doc = {
        "status": "warn",
        "runbook": 'we"ird\\name\nnext',
        "profile": None,
        "jobs": [{"name": "j", "state": "brand_new_state", "durations": {"samples": 0}}],
        "backlog": [{"name": "b", "value": 1.5, "error": None}, {"name": "broken", "value": None, "error": "x"}],
        "locks": [],
    }
    families = _families(to_openmetrics(doc))
    ((_, labels, _),) = _series(families["cronctl_up"])
    assert labels["runbook"] == 'we"ird\\name\nnext'
    states = {labels["state"]: value for _, labels, value in _series(families["cronctl_job_state"])}
    assert states["brand_new_state"] == 1.0 and sum(states.values()) == 1.0
    assert [v for _, _, v in _series(families["cronctl_backlog_value"])] == [1.5]


def test_openmetrics_is_offered_by_triage_only(tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text())
    result = run_cli("jobs", "-r", str(runbook), "-f", "openmetrics")
    assert result.exit_code == 2 and "unknown format 'openmetrics'" in result.stderr
    helped = run_cli("triage", "--help")
    assert "openmetrics" in " ".join(helped.stdout.split())


def test_cli_never_imports_prometheus_client() -> None:
    probe = (
        "import sys\n"
        "from cronctl.cli.main import build_app\n"
        "import cronctl.output.openmetrics, cronctl.services.notify, cronctl.services.fleet, cronctl.reports.fleet\n"
        "build_app()\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
