"""A throwaway PostgreSQL 15 cluster with pg_cron preloaded.

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port with scram-sha-256 password
auth, and trusts its private unix socket so pg_cron can run jobs without a password. PostgreSQL refuses to run
as root, so when the caller is root every server program runs as the ``postgres`` user.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

__all__ = ["PgCluster", "SandboxError"]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
FALLBACK_BINDIR = Path("/usr/lib/postgresql/15/bin")
FALLBACK_PKGLIBDIR = Path("/usr/lib/postgresql/15/lib")
BINDIR_ENV = "CRONCTL_PG_BINDIR"
# A directory of initialised data directories (one per server build, password method and database name) that new
# clusters copy instead of running initdb again: a test suite starts a dozen clusters, and initdb is most of the
# CPU a start costs.
TEMPLATES_ENV = "CRONCTL_SANDBOX_TEMPLATES"
TEMPLATE_FORMAT = "2"  # bump when what a template holds changes
HINT = "run `make system-deps`"
START_TIMEOUT_S = 30
COMMAND_TIMEOUT_S = 60
LOG_TAIL_LINES = 25
# A unix socket path is limited to 107 bytes; ".s.PGSQL.NNNNN" takes 15 of them.
MAX_SOCKET_DIR_LEN = 90


class SandboxError(RuntimeError):
    """The sandbox cluster could not be created, started or queried."""


@dataclass(frozen=True)
class _Binaries:
    bindir: Path
    pkglibdir: Path

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


@dataclass(frozen=True)
class _OsUser:
    """Who the server programs run as; ``uid is None`` means the current user."""

    uid: int | None = None
    gid: int | None = None

    def check_reachable(self, path: Path) -> None:
        """Fail early when the server user cannot walk down to ``path`` (e.g. under a root-only 0700 dir)."""
        if self.uid is None:
            return
        for parent in path.parents:
            if not parent.exists():
                continue
            st = parent.stat()
            if not st.st_mode & 0o001 and st.st_uid != self.uid:
                who = f"OS user {SERVER_OS_USER!r}"
                raise SandboxError(f"{parent} is not searchable by {who}; chmod o+x it or pick another base_dir")

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def _pg_config(exe: str, flag: str) -> Path | None:
    try:
        out = subprocess.run(
            [exe, flag], capture_output=True, text=True, timeout=10, check=True, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return Path(value) if value else None


def find_binaries() -> _Binaries:
    """Locate initdb/pg_ctl/postgres and pg_cron.so, or say how to install them."""
    bindir: Path | None = None
    override = os.environ.get(BINDIR_ENV)
    if override:
        bindir = Path(override)
    else:
        global_pg_config = shutil.which("pg_config")
        if global_pg_config is not None:
            bindir = _pg_config(global_pg_config, "--bindir")
        if bindir is None or not (bindir / "initdb").is_file():
            bindir = FALLBACK_BINDIR
    if not (bindir / "initdb").is_file():
        raise SandboxError(f"PostgreSQL server binaries (initdb) not found in {bindir}; {HINT}")
    # Ask the server's own pg_config so the library dir matches the binaries' major version.
    own_pg_config = bindir / "pg_config"
    pkglibdir = _pg_config(str(own_pg_config), "--pkglibdir") if own_pg_config.is_file() else None
    if pkglibdir is None:
        global_pg_config = shutil.which("pg_config")
        pkglibdir = _pg_config(global_pg_config, "--pkglibdir") if global_pg_config else None
    pkglibdir = pkglibdir or FALLBACK_PKGLIBDIR
    if not (pkglibdir / "pg_cron.so").is_file():
        raise SandboxError(f"pg_cron is not installed ({pkglibdir}/pg_cron.so missing); {HINT}")
    return _Binaries(bindir=bindir, pkglibdir=pkglibdir)


def _server_os_user() -> _OsUser:
    if os.geteuid() != 0:
        return _OsUser()
    try:
        entry = pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise SandboxError(
            f"running as root but OS user {SERVER_OS_USER!r} does not exist (PostgreSQL refuses root); {HINT}"
        ) from None
    return _OsUser(uid=entry.pw_uid, gid=entry.pw_gid)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _quote_conf(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return _pid_exists(pid)
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] not in ("Z", "X")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children_of(pid: int) -> list[int]:
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            children.append(int(entry.name))
    return children


@contextlib.contextmanager
def _template_lock(root: Path) -> Iterator[None]:
    """Hold the templates directory's lock (released when the process ends, however it ends)."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _copy_tree(source: Path, target: Path) -> bool:
    """`cp -a`: owners and modes kept, as the server requires of its data directory."""
    return subprocess.run(["cp", "-a", str(source), str(target)], capture_output=True, check=False).returncode == 0


def _wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


PASSWORD_AUTH = ("scram-sha-256", "md5")


class PgCluster:
    """A running throwaway cluster. Use :meth:`start`; stop it with :meth:`stop` or a ``with`` block."""

    def __init__(
        self,
        *,
        base_dir: Path,
        owns_base_dir: bool,
        port: int,
        auto_port: bool,
        dbname: str,
        binaries: _Binaries,
        os_user: _OsUser,
        password_auth: str,
    ) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "sock"
        self.host = HOST
        self.port = port
        self.dbname = dbname
        self.password = secrets.token_urlsafe(24)
        self.startup_seconds = 0.0
        self.password_auth = password_auth
        self._owns_base_dir = owns_base_dir
        self._auto_port = auto_port
        self._bin = binaries
        self._os_user = os_user
        self._closed = False
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self._env["LC_ALL"] = "C"

    # -- construction -------------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        base_dir: Path | None = None,
        port: int | None = None,
        dbname: str = "cronctl",
        password_auth: str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> PgCluster:
        """Create, start and prepare a cluster: database ``dbname`` with the pg_cron extension.

        Without ``base_dir`` a temporary directory is made and removed again by :meth:`stop`; a given
        ``base_dir`` is kept (it must not already hold a cluster). ``password_auth`` is how TCP logins prove
        their password: ``scram-sha-256`` (PostgreSQL's default, and Supabase's) unless ``CRONCTL_SANDBOX_AUTH``
        says ``md5``, which test suites choose because a SCRAM login costs about 10 ms of CPU. ``settings`` are
        server settings (name to value as written in postgresql.conf) added to or replacing the sandbox's own.
        """
        auth = password_auth or os.environ.get("CRONCTL_SANDBOX_AUTH") or "scram-sha-256"
        if auth not in PASSWORD_AUTH:
            raise SandboxError(f"password auth {auth!r} is not one of {', '.join(PASSWORD_AUTH)}")
        began = time.monotonic()
        binaries = find_binaries()
        os_user = _server_os_user()
        if base_dir is None:
            base = Path(tempfile.mkdtemp(prefix="cronctl-pg-"))
            owns = True
        else:
            base = base_dir.resolve()
            os_user.check_reachable(base)
            base.mkdir(parents=True, exist_ok=True)
            owns = False
            if (base / "data").exists() and any((base / "data").iterdir()):
                raise SandboxError(f"{base / 'data'} already holds a cluster; use an empty base_dir")
        if len(str(base / "sock")) > MAX_SOCKET_DIR_LEN:
            raise SandboxError(f"sandbox path {base} is too long for a unix socket; use a shorter base_dir")
        cluster = cls(
            base_dir=base,
            owns_base_dir=owns,
            port=port if port is not None else free_port(),
            auto_port=port is None,
            dbname=dbname,
            binaries=binaries,
            os_user=os_user,
            password_auth=auth,
        )
        templates = os.environ.get(TEMPLATES_ENV)
        try:
            copied = cluster._copy_template(Path(templates)) if templates else False
            if not copied:
                # Clusters started together (one per test worker) make the template once: the others wait for it.
                with _template_lock(cls._template_root(Path(templates))) if templates else contextlib.nullcontext():
                    copied = cluster._copy_template(Path(templates)) if templates else False
                    if not copied:
                        cluster._initdb()
                        cluster._create_database()
                        if templates:
                            cluster._keep_template(Path(templates))
            cluster._write_config(settings or {})
            cluster._start_server()
            if copied:  # the template's superuser password is another cluster's
                cluster._psql_stdin(f"ALTER ROLE {_quote_ident(SUPERUSER)} PASSWORD '{cluster.password}';")
            cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_cron")
        except BaseException:
            cluster.stop()
            raise
        atexit.register(cluster.stop)
        cluster.startup_seconds = time.monotonic() - began
        return cluster

    def _make_dirs(self) -> None:
        """The base and socket directories, the server user's (the data directory is initdb's or a copy)."""
        self._os_user.chown(self.base_dir)
        self.socket_dir.mkdir(mode=0o700)
        self._os_user.chown(self.socket_dir)

    def _initdb(self) -> None:
        os_user = self._os_user
        self._make_dirs()
        pwfile = self.base_dir / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.password + "\n")
        os_user.chown(pwfile)
        try:
            self._run(
                [
                    self._bin.tool("initdb"),
                    "-D", str(self.data_dir),
                    "-U", SUPERUSER,
                    "--auth-local=trust",
                    f"--auth-host={self.password_auth}",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                    # 1 MB WAL segments instead of 16: a throwaway cluster's data directory is a third smaller
                    # to copy from the template, and a new segment costs 1 MB of zeros, not 16.
                    "--wal-segsize=1",
                ],
                what="initdb",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    # -- templates ----------------------------------------------------------------------------------------

    def _template_path(self, root: Path) -> Path:
        initdb = Path(self._bin.tool("initdb")).resolve()
        key = f"{TEMPLATE_FORMAT}|{initdb}|{initdb.stat().st_mtime_ns}|{self.password_auth}|{self.dbname}"
        return root / hashlib.sha256(key.encode()).hexdigest()[:16]

    @staticmethod
    def _template_root(root: Path) -> Path:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = root.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise SandboxError(f"{TEMPLATES_ENV}={root} must be a directory of this user that others cannot write")
        return root

    def _copy_template(self, root: Path) -> bool:
        """Copy a kept data directory into place (True), or say there is none yet (False)."""
        template = self._template_path(self._template_root(root)) / "data"
        if not (template / "PG_VERSION").is_file():
            return False
        self._make_dirs()
        if not _copy_tree(template, self.data_dir):
            raise SandboxError(f"copying the template {template} to {self.data_dir} failed")
        return True

    def _keep_template(self, root: Path) -> None:
        """Keep a copy of this freshly made data directory (initdb and the database, never started) as the
        template; when another process kept one first, that one stays."""
        target = self._template_path(self._template_root(root))
        staging = target.with_name(f"{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
        staging.mkdir(mode=0o700)
        try:
            if _copy_tree(self.data_dir, staging / "data"):
                staging.rename(target)
        except OSError:
            pass  # another process kept its template first
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _write_config(self, extra: Mapping[str, str]) -> None:
        settings = {
            "listen_addresses": _quote_conf(HOST),
            "unix_socket_directories": _quote_conf(str(self.socket_dir)),
            "shared_preload_libraries": _quote_conf("pg_cron"),
            "cron.database_name": _quote_conf(self.dbname),
            # pg_cron connects over the trusted unix socket, so jobs run without a stored password.
            "cron.host": _quote_conf(str(self.socket_dir)),
            "fsync": "off",
            # With fsync off a commit costs one write(); keeping it synchronous means kill() (a crash) never
            # loses a committed transaction, which fault tests rely on.
            "synchronous_commit": "on",
            "full_page_writes": "off",
            "min_wal_size": "'8MB'",  # with 1 MB segments (initdb above): keep a few, not 80 MB's worth
            "max_connections": "100",
            "password_encryption": _quote_conf(self.password_auth),
            "log_line_prefix": _quote_conf("%m [%p] %q%u@%d "),
            "log_timezone": _quote_conf("UTC"),
            "timezone": _quote_conf("UTC"),
            **extra,
        }
        body = "".join(f"{key} = {value}\n" for key, value in settings.items())
        (self.data_dir / "cronctl.conf").write_text(body)
        self._write_port()
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\ninclude 'cronctl.conf'\ninclude 'cronctl_port.conf'\n")
        for name in ("cronctl.conf", "cronctl_port.conf"):
            self._os_user.chown(self.data_dir / name)

    def _write_port(self) -> None:
        path = self.data_dir / "cronctl_port.conf"
        path.write_text(f"port = {self.port}\n")
        self._os_user.chown(path)

    def _start_server(self) -> None:
        attempts = 3 if self._auto_port else 1
        for attempt in range(attempts):
            try:
                self._pg_ctl("start")
                return
            except SandboxError:
                port_taken = "could not bind" in self.log_tail() or "already in use" in self.log_tail()
                if attempt + 1 < attempts and port_taken:
                    self.port = free_port()
                    self._write_port()
                    continue
                raise

    def _create_database(self) -> None:
        # Created in single-user mode before the first start, so the pg_cron launcher finds its database at
        # once instead of failing and retrying a second later.
        self._run(
            [self._bin.tool("postgres"), "--single", "-D", str(self.data_dir), "-F", "-j", "postgres"],
            what="create database",
            stdin=f"CREATE DATABASE {_quote_ident(self.dbname)};\n",
        )

    # -- process helpers ----------------------------------------------------------------------------------

    def _run(self, args: list[str], *, what: str, timeout: float = COMMAND_TIMEOUT_S, stdin: str | None = None) -> str:
        kwargs: dict[str, Any] = {}
        if self._os_user.uid is not None:
            kwargs = {"user": self._os_user.uid, "group": self._os_user.gid, "extra_groups": []}
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.base_dir,
                env=self._env,
                input=stdin if stdin is not None else "",
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired:
            raise SandboxError(f"{what} did not finish within {timeout:.0f}s{self._log_suffix()}") from None
        except OSError as exc:
            raise SandboxError(f"{what} could not run: {exc}") from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            first = detail[-1] if detail else f"exit code {proc.returncode}"
            raise SandboxError(f"{what} failed: {first}{self._log_suffix()}")
        stdout: str = proc.stdout
        return stdout

    def _pg_ctl(self, action: str, *extra: str) -> None:
        self._run(
            [
                self._bin.tool("pg_ctl"),
                action,
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-w",
                "-t", str(START_TIMEOUT_S),
                *extra,
            ],
            what=f"pg_ctl {action}",
            timeout=START_TIMEOUT_S + 15,
        )  # fmt: skip

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _log_suffix(self) -> str:
        tail = self.log_tail()
        return f"\n--- {self.log_file} (last lines) ---\n{tail}" if tail else ""

    # -- public API ---------------------------------------------------------------------------------------

    def dsn(self, user: str = SUPERUSER, dbname: str | None = None, password: str | None = None) -> str:
        """A libpq URL over TCP; the superuser's password is filled in when ``user`` is the superuser."""
        if password is None and user == SUPERUSER:
            password = self.password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        database = quote(dbname if dbname is not None else self.dbname, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    @property
    def superuser_dsn(self) -> str:
        return self.dsn()

    def _psql_stdin(self, sql: str) -> None:
        """Run SQL read from standard input (kept out of the process list), as the superuser over the socket."""
        self._run(
            [self._bin.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
             "-p", str(self.port), "-U", SUPERUSER, "-d", self.dbname],
            what="psql",
            stdin=sql,
        )  # fmt: skip

    def psql(self, sql: str, dbname: str | None = None) -> str:
        """Run SQL as the superuser over the unix socket; returns unaligned, tuples-only output."""
        return self._run(
            [
                self._bin.tool("psql"),
                "-X", "-q", "-A", "-t",
                "-v", "ON_ERROR_STOP=1",
                "-h", str(self.socket_dir),
                "-p", str(self.port),
                "-U", SUPERUSER,
                "-d", dbname if dbname is not None else self.dbname,
                "-c", sql,
            ],
            what="psql",
        ).strip()  # fmt: skip

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    def is_running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def scheduler_pid(self) -> int | None:
        """PID of the pg_cron scheduler backend, or None when it is not running."""
        out = self.psql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_cron scheduler' LIMIT 1",
            dbname="postgres",
        )
        return int(out) if out.isdigit() else None

    def wait_for_scheduler(self, timeout: float = 10.0) -> int:
        """Wait until the pg_cron scheduler runs; returns its PID."""
        deadline = time.monotonic() + timeout
        while True:
            pid = self.scheduler_pid()
            if pid is not None:
                return pid
            if time.monotonic() >= deadline:
                raise SandboxError(f"pg_cron scheduler did not start within {timeout:.0f}s{self._log_suffix()}")
            time.sleep(0.1)

    def restart(self) -> None:
        """Fast-stop the server if it runs, then start it again on the same port."""
        if self._closed:
            raise SandboxError("cluster was stopped and removed; start a new one")
        if self.is_running():
            self._pg_ctl("stop", "-m", "fast")
        self._pg_ctl("start")

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would; waits until its children have gone too."""
        pid = self.postmaster_pid()
        if pid is None or not _pid_alive(pid):
            return
        children = _children_of(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_until(lambda: not _pid_alive(pid), timeout=10)
        # Orphaned backends keep the shared memory attached, which would block the next start.
        if not _wait_until(lambda: not any(_pid_alive(c) for c in children), timeout=10):
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            _wait_until(lambda: not any(_pid_alive(c) for c in children), timeout=5)
        # The postmaster's parent has exited, so an init that reaps slowly can leave it a zombie; the next
        # postmaster would take the zombie's PID in its lock files for a live server and refuse to start.
        if not _wait_until(lambda: not _pid_exists(pid), timeout=0.2):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
            (self.socket_dir / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)

    def stop(self) -> None:
        """Fast shutdown; removes the directory when :meth:`start` created it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.stop)
        if self.is_running():
            try:
                self._pg_ctl("stop", "-m", "fast")
            except SandboxError:
                self.kill()
        if self._owns_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PgCluster(host={self.host!r}, port={self.port}, data_dir={str(self.data_dir)!r})"
