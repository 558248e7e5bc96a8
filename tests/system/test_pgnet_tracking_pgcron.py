"""The suite's test of the real pg_cron scheduler running jobs.

Four jobs fire together over the sandbox's trusted socket, two of them as a non-superuser role; each calls
net.http_post, and every recorded request joins to exactly one run through job_pid and the run's time span. They
are `@reboot` jobs in a cluster of the test's own, restarted: pg_cron starts them all at once when its scheduler
starts, through the same path as a minute's jobs, so the test waits for no minute boundary. Every other test
builds its history itself; the session cluster's scheduler leaves no trace (tests/conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from test_pgnet_tracking import JOB_ROLE, ensure_job_role, write_runbook

from cli_runner import run_cli
from cronctl_sandbox.cluster import PgCluster
from cronctl_sandbox.fixtures import PgNetWorker, create_pg_net_tables, grant_pg_net_to_public
from cronctl_sandbox.jobserver import JobServer, Reply, Route

STATUSES = {1: 200, 2: 500, 3: 401, 4: 200}
OWNED_BY_JOB_ROLE = (3, 4)  # these jobs run as a non-superuser role: the trigger fires as that role


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    with PgCluster.start() as cluster:
        yield cluster


@pytest.mark.timeout(120)
def test_every_request_joins_exactly_one_run_of_real_pg_cron(own_cluster: PgCluster, tmp_path: Path) -> None:
    dsn = own_cluster.superuser_dsn
    routes = [Route("POST", f"/job-{n}", responses=[Reply(status=s, json={"success": s == 200})]) for n, s in
              STATUSES.items()]  # fmt: skip
    env = {"DATABASE_URL": dsn, "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl")}
    rb = write_runbook(tmp_path)
    with JobServer(routes) as server:
        base = server.url
        with psycopg.connect(dsn, autocommit=True) as db:
            create_pg_net_tables(db)
            grant_pg_net_to_public(db)
            ensure_job_role(db)
            res = run_cli("pgcron", "track", "install", "--yes", "-r", rb, "-f", "json", env=env)
            assert res.exit_code == 0, res.output
            jobids = {}
            for n in STATUSES:
                command = f"SELECT net.http_post(url := '{base}/job-{n}', body := '{{\"job\": {n}}}'::jsonb)"
                jobids[n] = db.execute("SELECT cron.schedule(%s, '@reboot', %s)", [f"boot-{n}", command]).fetchone()[0]
            db.execute(
                "UPDATE cron.job SET username = %s WHERE jobid = ANY(%s)",
                [JOB_ROLE, [jobids[n] for n in OWNED_BY_JOB_ROLE]],
            )
        job_of = {jobid: n for n, jobid in jobids.items()}
        own_cluster.restart()  # the scheduler starts again and runs the @reboot jobs, all at once

        with psycopg.connect(dsn, autocommit=True) as db, PgNetWorker(dsn, poll=0.1) as worker:
            deadline = time.monotonic() + 30.0
            while True:
                runs = db.execute(
                    "SELECT jobid, runid, job_pid, status, return_message, start_time, end_time"
                    " FROM cron.job_run_details WHERE jobid = ANY(%s) AND end_time IS NOT NULL",
                    [list(jobids.values())],
                ).fetchall()
                answered = db.execute("SELECT count(*) FROM net._http_response").fetchone()[0]
                if {job_of[r[0]] for r in runs} == set(STATUSES) and answered >= len(runs):
                    break
                assert time.monotonic() < deadline, f"pg_cron ran {len(runs)} of 4 jobs, {answered} answered"
                time.sleep(0.1)
            assert worker.wait_idle()
            assert worker.error is None
            tracked = db.execute(
                "SELECT request_id, backend_pid, queued_at, method, url FROM cronctl.pgnet_request_log"
            ).fetchall()
            answers = dict(db.execute("SELECT id, status_code FROM net._http_response").fetchall())
            owners = dict(db.execute("SELECT jobid, username FROM cron.job").fetchall())

    assert all(r[3] == "succeeded" and r[4] == "1 row" for r in runs), runs  # pg_cron only saw the queueing
    assert len({r[2] for r in runs}) == len(runs)  # one backend per run
    assert len(tracked) == len(runs)
    for request_id, backend_pid, queued_at, method, url in tracked:
        matching = [r for r in runs if r[2] == backend_pid]
        assert len(matching) == 1, (request_id, backend_pid, runs)
        jobid, _runid, _pid, _status, _message, start, end = matching[0]
        # pg_cron's scheduler stamps start_time itself: measured here, the job's backend can queue its request a
        # fraction of a millisecond before that stamp. Attribution allows a second either side (PID_SLACK).
        slack = timedelta(seconds=1)
        assert start - slack <= queued_at <= end + slack, (queued_at, start, end)
        n = job_of[jobid]
        assert (method, url) == ("POST", f"{base}/job-{n}")
        # The answer pg_net wrote under this request id is this job's own answer.
        assert answers[request_id] == STATUSES[n], (request_id, n)
    assert {owners[jobids[n]] for n in OWNED_BY_JOB_ROLE} == {JOB_ROLE}
    starts = sorted(r[5] for r in runs)
    assert (starts[-1] - starts[0]).total_seconds() < 5  # they fired together: time windows alone could not tell

    status = run_cli("pgcron", "track", "status", "-r", rb, "-f", "json", env=env)
    data = json.loads(status.stdout)
    assert (status.exit_code, data["recording"], data["rows"]) == (0, True, len(tracked)), data
