"""Fire a job through GitHub's workflow_dispatch API.

`POST {api_url}/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches` with `{"ref", "inputs",
"return_run_details": true}`; the API answers 204, or 200 with the run's URLs when it returns run details.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from cronctl import __version__
from cronctl.errors import UsageError
from cronctl.records import PreparedRequest
from cronctl.runbook.env import Environment
from cronctl.runbook.model import DispatchSpec, JobSpec
from cronctl.sources.http_trigger import new_request_id, safe_url, serialise

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"


def dispatch_url(spec: DispatchSpec, env: Environment, where: str) -> str:
    repo = env.resolve(spec.repo, f"{where} (dispatch.repo)")
    owner, _, name = repo.partition("/")
    if not owner or not name:
        raise UsageError(f"{where}: dispatch.repo '{repo}' is not 'owner/name'")
    base = env.resolve(spec.api_url, f"{where} (dispatch.api_url)").rstrip("/")
    workflow = quote(env.resolve(spec.workflow, f"{where} (dispatch.workflow)"), safe="")
    return f"{base}/repos/{quote(owner)}/{quote(name)}/actions/workflows/{workflow}/dispatches"


def build_dispatch_request(
    job: JobSpec,
    env: Environment,
    sets: Sequence[tuple[str, Any]] = (),
    *,
    request_id: str | None = None,
    source: str = "runbook",
) -> PreparedRequest:
    """The dispatch request; `--set key=value` pairs become workflow inputs (GitHub takes strings only)."""
    spec = job.dispatch
    if spec is None:
        raise UsageError(f"job {job.name} has no [dispatch] table")
    where = f"job {job.name} in {source}"
    token = env.secret(spec.token_env, where)
    inputs = {key: env.resolve(value, f"{where} (dispatch.inputs.{key})") for key, value in spec.inputs.items()}
    for key, value in sets:
        inputs[key] = _input_text(value)
    ref = env.resolve(spec.ref, f"{where} (dispatch.ref)")
    body = serialise({"ref": ref, "inputs": inputs, "return_run_details": True})
    url = dispatch_url(spec, env, where)
    common = {
        "Accept": ACCEPT,
        "X-GitHub-Api-Version": API_VERSION,
        "Content-Type": "application/json",
        "User-Agent": f"cronctl/{__version__}",
    }
    return PreparedRequest(
        job=job.name,
        method="POST",
        url=url,
        headers={**common, "Authorization": f"Bearer {token}"},
        body=body,
        timeout=min(job.timeout, 30.0),
        request_id=request_id or new_request_id(),
        display_url=safe_url(url),
        display_headers={**common, "Authorization": f"Bearer ${spec.token_env}"},
        display_body=body.decode("utf-8") if body else None,
    )


def _input_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_url(document: Any) -> str | None:
    """The workflow run's page (or API URL) from a 200 dispatch answer."""
    if isinstance(document, dict):
        for key in ("html_url", "run_url"):
            value = document.get(key)
            if isinstance(value, str) and value:
                return value
    return None
