"""The extension-point registries find their implementations from the package's files: a new auth scheme, output
format, lock backend or history source is one new file, registered with no other edit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from cronctl import auth
from cronctl.discovery import discover
from cronctl.output import formats
from cronctl.sources import external, locks

# registry package, a new module's file name, the name it is registered under
NEW_FILES = [
    pytest.param(auth, "magic_link", "magic-link", id="auth"),
    pytest.param(formats, "yaml", "yaml", id="formats"),
    pytest.param(locks, "etcd", "etcd", id="locks"),
    pytest.param(external, "render", "render", id="external"),
]
REGISTRIES = [pytest.param(param.values[0], id=param.id) for param in NEW_FILES]


@pytest.mark.parametrize("registry", REGISTRIES)
def test_every_file_of_the_package_is_registered(registry: ModuleType) -> None:
    folder = Path(registry.__file__ or "").parent
    modules = {path.stem for path in folder.glob("*.py")} - {"__init__", "base"}
    assert sorted(registry.REGISTRY.values()) == sorted(f"{registry.__name__}.{module}" for module in modules)
    assert list(registry.REGISTRY)[: len(registry.ORDER)] == list(registry.ORDER)


@pytest.mark.parametrize(("registry", "module", "name"), NEW_FILES)
def test_a_new_file_is_registered_after_the_ordered_ones(
    registry: ModuleType, module: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / f"{module}.py").write_text('"""A new implementation."""\n')
    (tmp_path / "_shared_helpers.py").write_text('"""Private: no implementation."""\n')
    (tmp_path / "aaa.py").write_text('"""Sorts before every other name."""\n')
    monkeypatch.setattr(registry, "__path__", [*registry.__path__, str(tmp_path)])
    found = discover(registry.__name__, registry.__path__, registry.ORDER, dashes=registry is auth)
    assert found[name] == f"{registry.__name__}.{module}"
    assert list(found) == [*registry.ORDER, *sorted({"aaa", name, *found} - set(registry.ORDER))]
    assert not [m for m in found.values() if m.rpartition(".")[2].startswith("_")]


# A history source outside the database in one file: what the runbook takes from it, and its scheduler's delay.
RENDER = """
from dataclasses import dataclass, field

from cronctl.runbook.schema import env_name
from cronctl.sources.external.base import ExternalRead, flag


@dataclass(frozen=True)
class RenderSpec:
    service: str
    token_env: str = field(default="RENDER_API_KEY", metadata=env_name())


class RenderSource:
    name = "render"
    section = RenderSpec

    def select(self, value, url):
        return flag(value)

    def problem(self, job, section):
        return None if section is not None else "render = true needs a [render] table with the service"

    def scheduler_delay(self, section):
        return 900.0

    def read(self, query):
        return ExternalRead()


SOURCE = RenderSource()
"""
LOAD = """
import sys
from pathlib import Path

from cronctl.discovery import discover
from cronctl.sources import external

external.__path__.append(sys.argv[1])
external.REGISTRY = discover(external.__name__, external.__path__, external.ORDER)

from cronctl.errors import RunbookError
from cronctl.evaluate.health import default_grace
from cronctl.runbook.loader import parse_runbook
from cronctl.runbook.schema import tables

def load(extra):
    job = {"url": "https://x.test/sync", "history": {"render": True}}
    return parse_runbook({"runbook": {"name": "t"}, "jobs": {"sync": job}, **extra}, Path("t.toml"))

runbook = load({"render": {"service": "srv-1"}})
job = runbook.jobs["sync"]
print(job.history.external, runbook.vendors["render"])
print(default_grace(job, 3600.0, runbook.vendors))
print(sorted(t.path for t in tables() if t.path in ("render", "vercel")))
for extra in ({}, {"render": {"servce": "srv-1"}}, {"render": {"service": "srv-1", "token_env": "not a name"}}):
    try:
        load(extra)
    except RunbookError as exc:
        print(exc)
"""


def test_a_new_history_source_is_one_file(tmp_path: Path) -> None:
    (tmp_path / "render.py").write_text(RENDER)
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(tmp_path)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        "('render',) RenderSpec(service='srv-1', token_env='RENDER_API_KEY')",
        "900.0",
        "['render', 'vercel']",
        "t.toml: jobs.sync.history: render = true needs a [render] table with the service",
        "t.toml: render.servce: unknown key (did you mean 'service'?)",
        "t.toml: render.token_env: 'not a name' is not an environment variable name",
    ]


def test_the_runbook_imports_only_the_sources_it_names() -> None:
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from cronctl.runbook.loader import parse_runbook
        data = {"runbook": {"name": "t"}, "jobs": {"sync": {"url": "https://x.test/s", "history": {"vercel": True}}},
                "vercel": {"project": "p"}}
        parse_runbook(data, Path("t.toml"))
        print(sorted(m for m in sys.modules if m.startswith("cronctl.sources.external.")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['cronctl.sources.external.base', 'cronctl.sources.external.vercel']"
