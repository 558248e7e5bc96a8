"""Every job of every seed runbook can be triggered against the sandbox server, as its scheduler sends it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from cli_runner import run_cli
from cronctl.runbook.env import Environment
from cronctl.runbook.loader import load_runbook
from cronctl_sandbox.jobserver import JobServer
from cronctl_sandbox.routes import routes_for_runbook

RUNBOOKS = sorted((Path(__file__).resolve().parents[2] / "runbooks").glob("*.toml"))
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def sandbox_env(path: Path, base_url: str) -> dict[str, str]:
    """URL variables point at the sandbox; every other variable the jobs need gets a distinct test value."""
    runbook = load_runbook(path)
    names: set[str] = set()
    for job in runbook.jobs.values():
        names.update(job.required_env())
        texts = [job.url or "", *job.headers.values()]
        if job.dispatch:
            names.add(job.dispatch.token_env)
            texts += [job.dispatch.repo, job.dispatch.api_url, job.dispatch.ref, *job.dispatch.inputs.values()]
        for text in texts:
            names.update(_REF.findall(text))
    env = {}
    for name in sorted(names):
        if name.endswith("_URL"):
            env[name] = base_url
        elif any(j.auth.kind == "standard-webhooks" and j.auth.secret_env == name for j in runbook.jobs.values()):
            env[name] = "whsec_" + base64.b64encode(f"sandbox-{name}-key".encode()).decode()
        elif name.endswith("REPOSITORY"):
            env[name] = "acme/app"
        else:
            env[name] = f"sandbox-{name.lower()}-value-0001"
    return env


@pytest.mark.skipif(not RUNBOOKS, reason="no seed runbooks in runbooks/")
@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_seed_runbook_jobs_trigger_ok(path: Path, tmp_path: Path) -> None:
    with JobServer() as server:
        env = sandbox_env(path, server.url)
        runbook = load_runbook(path)
        for route in routes_for_runbook(runbook, Environment(env)):
            server.add_route(route)
        env["CRONCTL_AUDIT_FILE"] = str(tmp_path / "audit.jsonl")
        http_jobs = [j.name for j in runbook.jobs.values() if j.url]
        result = run_cli("trigger", *http_jobs, "-r", str(path), "--yes", "-f", "json", env=env)
        assert result.stdout.strip(), result.stderr
        data = json.loads(result.stdout)
        results = data.get("results", [data])
        assert {r["job"]: r["verdict"] for r in results} == dict.fromkeys(http_jobs, "ok"), result.stderr
        assert all(r.verified for r in server.requests)
        dispatch_jobs = [j.name for j in runbook.jobs.values() if j.dispatch]
        if dispatch_jobs:
            server.clear_requests()
            result = run_cli("trigger", *dispatch_jobs, "-r", str(path), "--yes", "--dispatch", "-f", "json", env=env)
            assert result.stdout.strip(), result.stderr
            data = json.loads(result.stdout)
            results = data.get("results", [data])
            assert {r["job"]: r["verdict"] for r in results} == dict.fromkeys(dispatch_jobs, "ok"), result.stderr
            assert len(server.requests) == len(dispatch_jobs) and all(r.verified for r in server.requests)
        for value in env.values():
            if "sandbox-" in value:
                assert value not in result.stdout + result.stderr
