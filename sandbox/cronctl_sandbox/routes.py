"""Job server routes that receive a runbook's jobs the way the real receivers would.

Each job's URL path and auth scheme come from the runbook, its secrets from the environment, so a trigger
against the sandbox exercises exactly the request the runbook describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cronctl.runbook.env import Environment
from cronctl.runbook.model import AuthSpec, JobSpec, Runbook
from cronctl_sandbox.jobserver import Reply, Route

DEFAULT_REPLY = Reply(json={"success": True, "ok": True, "processed": 0})


def route_auth(auth: AuthSpec, env: Environment) -> dict[str, Any]:
    """Route keyword arguments that make the server demand exactly what `auth` sends."""
    secret = env.get(auth.secret_env) if auth.secret_env else None
    apikey = env.get(auth.apikey_env) if auth.apikey_env else None
    return {"spec": auth, "secret": secret or "", "apikey": apikey or ""}


def job_route(job: JobSpec, env: Environment, replies: Sequence[Reply] = ()) -> Route | None:
    """The route for a job's HTTP endpoint, or None when its URL cannot be resolved here."""
    if job.url is None:
        return None
    url = env.resolve(job.url, f"jobs.{job.name}.url")
    path = urlsplit(url).path or "/"
    return Route(method=job.method, path=path, responses=list(replies or [DEFAULT_REPLY]), **route_auth(job.auth, env))


def dispatch_route(job: JobSpec, env: Environment) -> Route | None:
    """GitHub's workflow_dispatch endpoint for a job that can be fired as a workflow."""
    if job.dispatch is None:
        return None
    repo = env.resolve(job.dispatch.repo, f"jobs.{job.name}.dispatch.repo")
    token = env.get(job.dispatch.token_env) or ""
    path = f"/repos/{repo}/actions/workflows/{job.dispatch.workflow}/dispatches"
    return Route(method="POST", path=path, auth="github-dispatch", secret=token)


def routes_for_runbook(
    runbook: Runbook, env: Environment, replies: Mapping[str, Sequence[Reply]] | None = None
) -> list[Route]:
    """Routes for every job of a runbook (and its workflow-dispatch twin, if it has one)."""
    routes: list[Route] = []
    for job in runbook.jobs.values():
        for route in (job_route(job, env, (replies or {}).get(job.name, ())), dispatch_route(job, env)):
            if route is not None:
                routes.append(route)
    return routes
