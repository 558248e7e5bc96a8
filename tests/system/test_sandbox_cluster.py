"""The throwaway cluster every integration test runs against."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cronctl_sandbox.cluster import PgCluster, SandboxError


def _scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_cluster_runs_postgres_15(pg_cluster: PgCluster, pg_dsn: str) -> None:
    assert pg_cluster.is_running()
    assert pg_cluster.host == "127.0.0.1"
    assert _scalar(pg_dsn, "SHOW server_version_num").startswith("15")  # type: ignore[attr-defined]
    assert pg_cluster.data_dir.is_dir()
    assert (pg_cluster.socket_dir / f".s.PGSQL.{pg_cluster.port}").exists()


def test_superuser_dsn_connects_over_tcp(pg_cluster: PgCluster, pg_dsn: str) -> None:
    assert pg_dsn == pg_cluster.dsn()
    with psycopg.connect(pg_dsn, connect_timeout=10) as conn:
        addr, user, db, is_super = conn.execute(
            "SELECT host(inet_server_addr()), current_user, current_database(),"
            " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        ).fetchone() or (None, None, None, None)
    assert (addr, user, db, is_super) == ("127.0.0.1", "postgres", "cronctl", True)


def test_wrong_password_is_refused(pg_cluster: PgCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_cluster.dsn(password="not-the-password"), connect_timeout=10)


def test_missing_password_is_refused(pg_cluster: PgCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(pg_cluster.dsn(user="cronctl_nobody"), connect_timeout=10)


def test_password_stays_out_of_repr(pg_cluster: PgCluster) -> None:
    assert pg_cluster.password not in repr(pg_cluster)
    assert pg_cluster.password in pg_cluster.superuser_dsn


def test_pg_cron_is_installed_and_preloaded(pg_dsn: str) -> None:
    assert _scalar(pg_dsn, "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
    assert _scalar(pg_dsn, "SHOW shared_preload_libraries") == "pg_cron"
    assert _scalar(pg_dsn, "SHOW cron.database_name") == "cronctl"


def test_cron_schedule_creates_a_job(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE SCHEMA net")
        conn.execute("CREATE TABLE public.leftover (id int)")
        row = conn.execute("SELECT cron.schedule('sandbox-probe', '*/5 * * * *', 'SELECT 1')").fetchone()
        assert row is not None
        jobs = conn.execute(
            "SELECT jobid, jobname, schedule, command, database, username, active FROM cron.job"
        ).fetchall()
    assert jobs == [(row[0], "sandbox-probe", "*/5 * * * *", "SELECT 1", "cronctl", "postgres", True)]


def test_clean_db_leaves_nothing_behind(clean_db: str) -> None:
    with psycopg.connect(clean_db, connect_timeout=10) as conn:
        jobs = conn.execute("SELECT count(*) FROM cron.job").fetchone()
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        net = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'net'").fetchone()
    assert (jobs, tables, net) == ((0,), (0,), (0,))


def test_scheduler_backend_is_running(pg_dsn: str) -> None:
    deadline = time.monotonic() + 10
    found = None
    while found is None and time.monotonic() < deadline:
        found = _scalar(pg_dsn, "SELECT max(pid) FROM pg_stat_activity WHERE application_name = 'pg_cron scheduler'")
        if found is None:
            time.sleep(0.2)
    assert isinstance(found, int)


def test_read_only_role_reads_but_cannot_write(clean_db: str, read_only_role: str) -> None:
    with psycopg.connect(clean_db, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE SCHEMA net")
        conn.execute("CREATE TABLE net._http_response (id bigint, status_code int)")
        conn.execute("INSERT INTO net._http_response VALUES (1, 500)")
    with psycopg.connect(read_only_role, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("cronctl_ro",)
        assert conn.execute("SELECT status_code FROM net._http_response").fetchall() == [(500,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO net._http_response VALUES (2, 200)")


@pytest.fixture
def server_reachable_dir() -> Iterator[Path]:
    """A directory the postgres OS user can reach even when tests run as root (tmp_path is 0700)."""
    with tempfile.TemporaryDirectory(prefix="cronctl-test-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def test_kill_then_restart_keeps_data(server_reachable_dir: Path) -> None:
    base = server_reachable_dir / "pg"
    with PgCluster.start(base_dir=base, dbname="faults") as cluster:
        assert cluster.startup_seconds < 15
        dsn = cluster.dsn()
        assert dsn.endswith(f":{cluster.port}/faults")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE TABLE kept (v int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        cluster.kill()
        assert not cluster.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=3)
        cluster.restart()
        assert cluster.is_running()
        assert _scalar(dsn, "SELECT v FROM kept") == 42
        assert cluster.wait_for_scheduler(timeout=10) > 0
        assert cluster.psql("SELECT count(*) FROM kept") == "1"
    assert not cluster.is_running()
    # A base_dir the caller chose is kept; only temporary directories are removed.
    assert (base / "data").is_dir()


def test_stop_removes_its_temporary_directory() -> None:
    cluster = PgCluster.start()
    base = cluster.base_dir
    assert base.is_dir()
    cluster.stop()
    cluster.stop()
    assert not base.exists()


def test_missing_server_binaries_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRONCTL_PG_BINDIR", str(tmp_path))
    with pytest.raises(SandboxError, match="make system-deps"):
        PgCluster.start(base_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another OS user")
def test_base_dir_the_server_user_cannot_reach_is_a_clear_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(SandboxError, match="not searchable by OS user 'postgres'"):
        PgCluster.start(base_dir=tmp_path / "deeper" / "pg")


def test_clusters_from_a_template_have_their_own_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    monkeypatch.setenv("CRONCTL_SANDBOX_TEMPLATES", str(templates))
    with PgCluster.start(dbname="tpl") as first:
        kept = [p for p in templates.iterdir() if p.is_dir()]
        assert len(kept) == 1 and (kept[0] / "data" / "PG_VERSION").is_file()
        first_dsn = first.superuser_dsn
    with PgCluster.start(dbname="tpl") as second:  # copied from the template
        assert second.password != first.password
        assert _scalar(second.superuser_dsn, "SELECT extname FROM pg_extension WHERE extname = 'pg_cron'") == "pg_cron"
        assert second.wait_for_scheduler(timeout=10) > 0
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(first_dsn.replace(f":{first.port}/", f":{second.port}/"), connect_timeout=5)
    assert [p.name for p in templates.iterdir() if p.is_dir()] == [kept[0].name]
    shutil.rmtree(templates)  # 35 MB, in memory when the suite's files are (tests/conftest.py)


def test_clusters_started_together_make_one_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    monkeypatch.setenv("CRONCTL_SANDBOX_TEMPLATES", str(templates))
    made: list[int] = []
    real_initdb = PgCluster._initdb

    def counting_initdb(self: PgCluster) -> None:
        made.append(1)
        real_initdb(self)

    monkeypatch.setattr(PgCluster, "_initdb", counting_initdb)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        clusters = list(pool.map(lambda _: PgCluster.start(dbname="together"), range(2)))
    try:
        assert len(made) == 1  # one made the template; the other waited for it and copied it
        assert all(_scalar(c.superuser_dsn, "SELECT current_database()") == "together" for c in clusters)
        assert len([p for p in templates.iterdir() if p.is_dir()]) == 1
    finally:
        for cluster in clusters:
            cluster.stop()
    shutil.rmtree(templates)


def test_a_template_directory_others_can_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "shared"
    templates.mkdir()
    templates.chmod(0o777)
    monkeypatch.setenv("CRONCTL_SANDBOX_TEMPLATES", str(templates))
    with pytest.raises(SandboxError, match="others cannot write"):
        PgCluster.start()
