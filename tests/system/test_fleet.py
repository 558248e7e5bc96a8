"""Fleet triage: several runbooks / profiles over several sandbox databases, collected concurrently."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from cli_runner import run_cli
from cronctl_sandbox.cluster import PgCluster
from ops_systems import Receiver, create_database, runbook_text, set_state, write_runbook

DATABASES = ("fleet_a", "fleet_b", "fleet_c")
UNREACHABLE = "postgresql://nobody:fleetpw-123456@127.0.0.1:9/none"


@pytest.fixture(scope="module")
def fleet_dsns(pg_cluster: PgCluster) -> Iterator[dict[str, str]]:
    for name in DATABASES:
        create_database(pg_cluster.superuser_dsn, name)
    yield {name: pg_cluster.dsn(dbname=name) for name in DATABASES}


def _states(dsns: dict[str, str], **states: str) -> None:
    for name, state in states.items():
        set_state(dsns[name], state)


def _runbooks(tmp_path: Path, names: tuple[str, ...]) -> list[Path]:
    return [
        write_runbook(tmp_path / f"{name}.toml", runbook_text(name=name, url_var=f"{name.upper()}_URL"))
        for name in names
    ]


def _env(dsns: dict[str, str], **more: str) -> dict[str, str | None]:
    return {**{f"{name.upper()}_URL": dsn for name, dsn in dsns.items()}, **more}


def test_several_runbooks_one_report_worst_status_wins(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="ok", fleet_b="failing", fleet_c="ok")
    paths = _runbooks(tmp_path, (*DATABASES, "fleet_down"))
    env = _env(fleet_dsns, FLEET_DOWN_URL=UNREACHABLE)
    args = [a for p in paths for a in ("-r", str(p))]
    result = run_cli("triage", *args, "-f", "json", env=env)
    assert result.exit_code == 2, result.output  # crit beats unknown and ok
    data = json.loads(result.stdout)
    assert data["status"] == "crit"
    systems = data["systems"]
    assert [s["name"] for s in systems] == ["fleet_a", "fleet_b", "fleet_c", "fleet_down"]
    assert [s["status"] for s in systems] == ["ok", "crit", "ok", "unknown"]
    assert systems[1]["triage"]["jobs"][0]["state"] == "failing"
    down = systems[3]
    assert down["triage"] is None and "cannot connect" in down["error"] and down["exit_code"] == 3
    assert "\n" not in down["error"]
    assert [s["database"].rsplit("/", 1)[-1] for s in systems[:3]] == list(DATABASES)
    assert "fleetpw-123456" not in result.output

    plain = run_cli("triage", *args, "-f", "plain", env=env)
    assert plain.exit_code == 2
    text = plain.stdout
    assert "Systems:" in text
    assert "fleet_b · " in text  # its report's sections, each titled with the system
    assert "fleet_a: OK" in text and "fleet_c: OK" in text
    assert "fleet_down: UNKNOWN: cannot connect" in text  # one line for the system that failed
    assert text.index("fleet_b:") < text.index("fleet_a:")  # worst first
    assert "fleet_a · " not in text  # a healthy system is one line


def test_unknown_only_when_nothing_is_critical(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="ok")
    paths = _runbooks(tmp_path, ("fleet_a", "fleet_down"))
    env = _env(fleet_dsns, FLEET_DOWN_URL=UNREACHABLE)
    result = run_cli("triage", "-r", str(paths[0]), "-r", str(paths[1]), "-f", "json", env=env)
    assert result.exit_code == 3 and json.loads(result.stdout)["status"] == "unknown"
    healthy = run_cli("triage", "-r", str(paths[0]), "-r", str(paths[0]), "-f", "json", env=env)
    assert healthy.exit_code == 0 and len(json.loads(healthy.stdout)["systems"]) == 1  # the same system once


def test_profiles_and_all_profiles(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="ok", fleet_b="failing")
    profiles = {"staging": {"FLEET_URL": fleet_dsns["fleet_a"]}, "prod": {"FLEET_URL": fleet_dsns["fleet_b"]}}
    path = write_runbook(tmp_path / "rb.toml", runbook_text(name="app", url_var="FLEET_URL", profiles=profiles))
    env: dict[str, str | None] = {"FLEET_URL": None}
    both = run_cli("triage", "-r", str(path), "--profile", "staging", "--profile", "prod", "-f", "json", env=env)
    assert both.exit_code == 2, both.output
    systems = json.loads(both.stdout)["systems"]
    assert [(s["profile"], s["status"]) for s in systems] == [("staging", "ok"), ("prod", "crit")]
    assert [s["triage"]["profile"] for s in systems] == ["staging", "prod"]
    every = run_cli("triage", "-r", str(path), "--all-profiles", "-f", "json", env=env)
    assert [s["name"] for s in json.loads(every.stdout)["systems"]] == ["app (staging)", "app (prod)"]
    unknown = run_cli("triage", "-r", str(path), "-p", "staging", "-p", "nope", "-f", "json", env=env)
    assert unknown.exit_code == 3
    missing = json.loads(unknown.stdout)["systems"][1]
    assert missing["status"] == "unknown" and "profile 'nope' is not defined" in missing["error"]


def test_shared_database_is_pointed_out(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="ok")
    profiles = {"staging": {"FLEET_URL": fleet_dsns["fleet_b"]}, "prod": {"FLEET_URL": fleet_dsns["fleet_c"]}}
    path = write_runbook(tmp_path / "rb.toml", runbook_text(name="app", url_var="FLEET_URL", profiles=profiles))
    # FLEET_URL exported in the shell wins over both profiles' vars: both read fleet_a.
    result = run_cli("triage", "-r", str(path), "--all-profiles", "-f", "plain",
                     env={"FLEET_URL": fleet_dsns["fleet_a"]})  # fmt: skip
    assert "read the same database" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_systems_are_collected_concurrently(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="ok", fleet_b="ok", fleet_c="ok")
    slow = "SELECT 0 AS value FROM pg_sleep(1)"
    paths = [
        write_runbook(tmp_path / f"{n}.toml", runbook_text(name=n, url_var=f"{n.upper()}_URL", backlog_sql=slow))
        for n in DATABASES
    ]
    args = [a for p in (*paths, *paths) for a in ("-r", str(p))]
    single = time.monotonic()
    assert run_cli("triage", "-r", str(paths[0]), "-f", "json", env=_env(fleet_dsns)).exit_code == 0
    one = time.monotonic() - single
    began = time.monotonic()
    result = run_cli("triage", *args, "-f", "json", env=_env(fleet_dsns))
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["systems"]) == 3
    assert took < one + 1.5, (one, took)  # three 1-second systems side by side, not one after another


def test_fleet_openmetrics_and_usage_errors(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="ok", fleet_b="failing")
    paths = _runbooks(tmp_path, ("fleet_a", "fleet_b", "fleet_down"))
    env = _env(fleet_dsns, FLEET_DOWN_URL=UNREACHABLE)
    args = [a for p in paths for a in ("-r", str(p))]
    result = run_cli("triage", *args, "-f", "openmetrics", env=env)
    assert result.exit_code == 2
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    up = {s.labels["runbook"]: s.value for s in families["cronctl_up"].samples}
    assert up == {"fleet_a": 1.0, "fleet_b": 1.0, "fleet_down": 0.0}
    status = {s.labels["runbook"]: s.value for s in families["cronctl_triage_status"].samples}
    assert status == {"fleet_a": 0.0, "fleet_b": 2.0, "fleet_down": 3.0}
    jobs = {(s.labels["runbook"], s.labels["job_name"]) for s in families["cronctl_job_up"].samples}
    assert jobs == {("fleet_a", "collect"), ("fleet_b", "collect")}

    watch = run_cli("triage", *args, "--watch", env=env)
    assert watch.exit_code == 3 and "--watch follows one system" in watch.stderr
    mixed = run_cli("triage", "-r", str(paths[0]), "--all-profiles", "-p", "x", env=env)
    assert mixed.exit_code == 3 and "--all-profiles" in mixed.stderr


def test_fleet_notifies_each_system_on_its_own(fleet_dsns: dict[str, str], tmp_path: Path) -> None:
    _states(fleet_dsns, fleet_a="failing", fleet_b="ok")
    paths = _runbooks(tmp_path, ("fleet_a", "fleet_b"))
    with Receiver() as receiver:
        env = _env(fleet_dsns, CRONCTL_STATE_DIR=str(tmp_path / "state"), CRONCTL_AUDIT_FILE=str(tmp_path / "a"))
        args = ["triage", "-r", str(paths[0]), "-r", str(paths[1]), "--notify", receiver.url(), "-f", "json"]
        assert run_cli(*args, env=env).exit_code == 2
        assert [b["runbook"] for b in receiver.bodies()] == ["fleet_a"]
        _states(fleet_dsns, fleet_a="ok", fleet_b="failing")
        assert run_cli(*args, env=env).exit_code == 2
        got = {b["runbook"]: b["change"] for b in receiver.bodies()[1:]}
        assert got == {"fleet_a": "recovered", "fleet_b": "new"}
