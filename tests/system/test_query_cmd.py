"""`cronctl query`: the runbook's own diagnostic queries, typed parameters, read-only."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from cli_runner import run_cli

RUNBOOK = """
[runbook]
name = "enrolment"
[connection]
database_url = "${DATABASE_URL}"
statement_timeout = "2s"

[jobs.enrolment-sync]
url = "http://127.0.0.1:18080/jobs/enrolment-sync"

[queries.recent-runs]
description = "Recent runs"
sql = "select id, trigger_type, status, error_message from run_log order by id desc limit %(limit)s"
params = { limit = "int" }
defaults = { limit = 20 }

[queries.alerts-24h]
description = "Alert type/severity in the last 24 h"
sql = '''select alert_type, severity, count(*) as cnt from alert
         where created_at >= now() - %(window)s group by 1, 2 order by 1, 2'''
params = { window = "interval" }
defaults = { window = "24h" }

[queries.category-sample]
description = "Category sample"
sql = "select source_id, status from source_record where category_id = %(category_id)s order by source_id limit 100"
params = { category_id = "int" }

[queries.sneaky-write]
sql = "insert into alert (alert_type, severity) values ('x', 'low') returning id"
"""


@pytest.fixture
def setup(clean_db: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    with psycopg.connect(clean_db, autocommit=True) as c:
        c.execute("""
            CREATE TABLE run_log (id bigserial PRIMARY KEY, trigger_type text, status text, error_message text);
            INSERT INTO run_log (trigger_type, status) SELECT 'SCHEDULER', 'SUCCESS' FROM generate_series(1, 30);
            CREATE TABLE alert (id bigserial, alert_type text, severity text, created_at timestamptz DEFAULT now());
            INSERT INTO alert (alert_type, severity) VALUES ('DROP', 'high'), ('DROP', 'high'), ('NEW', 'low');
            INSERT INTO alert (alert_type, severity, created_at) VALUES ('OLD', 'low', now() - interval '3 days');
            CREATE TABLE source_record (source_id int, status text, category_id int);
            INSERT INTO source_record VALUES (1, 'ok', 303), (2, 'bad', 303), (3, 'ok', 304);
        """)
    path = tmp_path / "rb.toml"
    path.write_text(RUNBOOK)
    return str(path), {"DATABASE_URL": clean_db, "CRONCTL_AUDIT_FILE": str(tmp_path / "a.jsonl")}


def q(setup, *args: str, fmt: str = "json"):
    rb, env = setup
    return run_cli("query", *args, "-r", rb, "-f", fmt, env=env)


def test_list_queries(setup) -> None:
    data = json.loads(q(setup).stdout)
    names = [x["name"] for x in data["queries"]]
    assert names == ["recent-runs", "alerts-24h", "category-sample", "sneaky-write"]
    assert data["queries"][2]["params"] == [{"name": "category_id", "type": "int", "default": None}]
    for fmt in ("table", "markdown", "plain"):
        res = q(setup, fmt=fmt)
        assert res.exit_code == 0 and "category-sample" in res.stdout


def test_run_with_defaults_and_params(setup) -> None:
    data = json.loads(q(setup, "recent-runs").stdout)
    assert data["row_count"] == 20 and data["columns"] == ["id", "trigger_type", "status", "error_message"]
    assert data["rows"][0]["id"] == 30
    data = json.loads(q(setup, "recent-runs", "--param", "limit=3").stdout)
    assert [r["id"] for r in data["rows"]] == [30, 29, 28]
    data = json.loads(q(setup, "alerts-24h").stdout)
    assert [(r["alert_type"], r["cnt"]) for r in data["rows"]] == [("DROP", 2), ("NEW", 1)]
    data = json.loads(q(setup, "category-sample", "-P", "category_id=303").stdout)
    assert [r["source_id"] for r in data["rows"]] == [1, 2]
    for fmt in ("table", "markdown", "plain"):
        res = q(setup, "category-sample", "-P", "category_id=303", fmt=fmt)
        assert res.exit_code == 0 and "bad" in res.stdout


def test_bad_parameters_and_names(setup) -> None:
    res = q(setup, "category-sample")
    assert res.exit_code == 2 and "category_id" in res.stderr
    res = q(setup, "category-sample", "-P", "category_id=abc")
    assert res.exit_code == 2 and "int" in res.stderr
    res = q(setup, "category-sample", "-P", "nope=1")
    assert res.exit_code == 2 and "nope" in res.stderr
    res = q(setup, "recent-run")
    assert res.exit_code == 2 and "recent-runs" in res.stderr


def test_queries_run_read_only(setup, clean_db) -> None:
    res = q(setup, "sneaky-write")
    assert res.exit_code == 4, res.output
    with psycopg.connect(clean_db) as c:
        assert c.execute("SELECT count(*) FROM alert").fetchone()[0] == 4
