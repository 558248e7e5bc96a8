"""The lock-backend registry: one file per backend, and what a new backend must bring (test, doc line)."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronctl.evaluate.locks import judge, terminate_sql
from cronctl.records import BackendRead, Lock
from cronctl.runbook.model import LOCK_BACKENDS, JobSpec, LockSpec, Runbook
from cronctl.sources import locks
from cronctl.sources.locks.base import BatchedReads, LockQuery, LockSources, Recheck, reads_database

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_the_runbook_accepts_exactly_the_registered_backends() -> None:
    assert LOCK_BACKENDS == locks.names() == ("table", "advisory", "redis")


@pytest.mark.parametrize("name", locks.names())
def test_each_backend_is_registered_under_its_own_name(name: str) -> None:
    backend = locks.backend(name)
    assert backend.name == name
    assert backend.removal in ("delete", "terminate")
    assert backend.recheck_timing


@pytest.mark.parametrize("name", locks.names())
def test_each_backend_has_its_test_and_its_doc_line(name: str) -> None:
    assert (ROOT / "tests" / "system" / f"test_locks_{name}.py").is_file()
    docs = (ROOT / "docs" / "commands" / "locks.md").read_text()
    backends_section = docs.split("## Backends", 1)[1].split("\n## ", 1)[0]
    assert f"(`{name}`)" in backends_section


def test_the_service_names_no_backend() -> None:
    """`cronctl locks` branches on what a backend can do (delete or terminate), never on which backend it is."""
    tree = ast.parse((ROOT / "src" / "cronctl" / "services" / "locks.py").read_text())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert not literals & set(locks.names())


def test_triage_names_no_backend() -> None:
    """Triage reads every lock backend through the registry: a new backend needs no change there."""
    tree = ast.parse((ROOT / "src" / "cronctl" / "sources" / "triage.py").read_text())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert not literals & set(locks.names())


def test_the_history_path_names_no_backend() -> None:
    """Which locks need the database comes from the registry: a new backend needs no change there."""
    tree = ast.parse((ROOT / "src" / "cronctl" / "services" / "history.py").read_text())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert not literals & set(locks.names())


class _BatchedMemoryBackend:
    """A new backend whose reads are database statements."""

    name = "memory"

    def statements(self, runbook: Runbook, query: LockQuery) -> list[Any]:
        return []


@pytest.mark.parametrize(("batched", "needs_database"), [(True, True), (False, False)])
def test_a_new_backend_needs_the_database_when_its_reads_are_statements(
    monkeypatch: pytest.MonkeyPatch, batched: bool, needs_database: bool
) -> None:
    from cronctl.services.history import database_uses

    module = types.ModuleType("memory_lock_backend")
    module.BACKEND = _BatchedMemoryBackend() if batched else _MemoryBackend()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(locks.REGISTRY, "memory", module.__name__)
    job = JobSpec(name="nightly", url="http://x", timeout=60.0, lock=LockSpec(backend="memory", key="nightly"))
    book = Runbook(name="t", path=Path("t.toml"), jobs={"nightly": job})
    assert ("memory locks" in database_uses(book, [job])) is needs_database
    assert "memory locks" not in database_uses(book, [job], history_only=True)


def test_the_database_backends_batch_their_reads() -> None:
    """Table and advisory locks are statements of triage's one batch; Redis is read on its own."""
    assert [n for n in locks.names() if reads_database(n)] == ["table", "advisory"]
    for name in ("table", "advisory"):
        assert isinstance(locks.backend(name), BatchedReads)
    assert not isinstance(locks.backend("redis"), BatchedReads)


def _fresh_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_the_registry_imports_nothing_the_runbook_model_needs() -> None:
    """runbook.model takes its names from the registry: the registry must not import the model back."""
    loaded = _fresh_python(
        "import sys; import cronctl.sources.locks; "
        "print(sorted(m for m in sys.modules if m.startswith('cronctl.') and m != 'cronctl.sources.locks'))"
    )
    assert loaded == "['cronctl.discovery', 'cronctl.sources']"


def test_loading_every_backend_imports_neither_redis_nor_psycopg() -> None:
    loaded = _fresh_python(
        "import sys; from cronctl.sources import locks; [locks.backend(n) for n in locks.names()]; "
        "print(sorted(m for m in ('redis', 'psycopg') if m in sys.modules))"
    )
    assert loaded == "[]"


def test_advisory_dry_run_is_the_statement_the_report_shows() -> None:
    lock = Lock(name="report", backend="advisory", key="4242", detail={"pid": 4242})
    assert locks.backend("advisory").plan(None, lock) == terminate_sql(lock)  # type: ignore[arg-type]


class _MemoryBackend:
    """A backend that is one module, as a new one would be: it keeps its locks in a dict."""

    name = "memory"
    removal = "delete"
    recheck_timing = "first"

    def __init__(self) -> None:
        self.held = {"nightly": ("worker-1", NOW - timedelta(hours=2))}
        self.queries: list[LockQuery] = []

    def read(self, sources: LockSources, query: LockQuery) -> list[BackendRead]:
        self.queries.append(query)
        if not query.jobs:
            return []
        found = [Lock(name=k, backend=self.name, key=k, holder=h, acquired_at=t) for k, (h, t) in self.held.items()]
        return [BackendRead(self.name, found)]

    def plan(self, sources: LockSources, lock: Lock) -> str:
        return f"DEL {lock.key} if held by {lock.holder}"

    def clear(self, sources: LockSources, lock: Lock, recheck: Recheck | None) -> bool:
        return self.held.pop(lock.key, None) == (lock.holder, lock.acquired_at)


def test_a_registered_backend_is_read_with_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = _MemoryBackend()
    module = types.ModuleType("memory_lock_backend")
    module.BACKEND = memory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(locks.REGISTRY, "memory", module.__name__)
    job = JobSpec(name="nightly", url="http://x", timeout=60.0, lock=LockSpec(backend="memory", key="nightly"))
    book = Runbook(name="t", path=Path("t.toml"), jobs={"nightly": job})

    def no_database() -> Any:
        raise AssertionError("a backend that needs no database must not open one")

    sources = LockSources(book, None, connect_db=no_database, connect_writer=no_database)  # type: ignore[arg-type]
    reads = sources.read(NOW)
    assert [r.backend for r in reads] == ["memory"]
    assert [q.jobs for q in memory.queries] == [[job]]
    [lock] = reads[0].locks
    # Judged by the generic rule: older than timeout + margin, and nothing records the job's runs.
    assert judge(lock, job, NOW).state == "stale"
    assert locks.backend("memory").clear(sources, lock, None) is True
    assert memory.held == {}
