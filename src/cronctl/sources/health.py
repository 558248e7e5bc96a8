"""Seed 002's `GET /api/cron/health` as a history source: one Run per job in `checks` (its last run)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cronctl.errors import SourceUnavailable
from cronctl.records import Run
from cronctl.runbook.env import Environment
from cronctl.runbook.model import HealthSpec

SOURCE = "health"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_health(payload: Any, spec: HealthSpec) -> dict[str, Run]:
    """`{"healthy", "checks": {job: {"lastRun", "status", "ok"}}, "missing": [...]}` -> Run per job."""
    if not isinstance(payload, dict) or not isinstance(payload.get("checks"), dict):
        raise SourceUnavailable(f"health.{spec.name}: answer has no 'checks' object")
    missing = set(payload.get("missing") or [])
    out: dict[str, Run] = {}
    for job, check in payload["checks"].items():
        if not isinstance(check, dict):
            continue
        raw = check.get("status")
        ok = check.get("ok")
        if ok is True:
            status = "succeeded"
        elif ok is False:
            status = "failed"
        else:
            status = "unknown"
        if str(raw).lower() == "running":
            status = "running"
        elif str(raw).lower() == "partial":
            status = "partial"
        notes = []
        if job in missing:
            notes.append("no run within the endpoint's window")
        out[job] = Run(
            job=job,
            source=SOURCE,
            status=status,
            started_at=_parse_time(check.get("lastRun")),
            raw_status=str(raw) if raw is not None else None,
            message="; ".join(notes) or None,
            detail={
                "endpoint": spec.name,
                "ok": ok,
                "missing": job in missing,
                "healthy": payload.get("healthy"),
            },
        )
    return out


def _headers(spec: HealthSpec, env: Environment, url: str) -> dict[str, str]:
    """The endpoint's auth as its scheme builds it (cronctl/auth/), for a GET with no body."""
    import time
    from urllib.parse import urlsplit

    from cronctl import auth
    from cronctl.auth.base import Secrets, SignContext
    from cronctl.sources.http_trigger import new_request_id, secret_values

    where = f"health.{spec.name}.auth"
    secret, apikey = secret_values(spec.auth, env, where)
    ctx = SignContext(
        body=b"", request_id=new_request_id(), timestamp=int(time.time()), method="GET", path=urlsplit(url).path or "/"
    )
    try:
        signed = auth.request_headers(spec.auth, Secrets(secret=secret, apikey=apikey), ctx)
    except ValueError as exc:  # a malformed secret (e.g. no base64 after whsec_): one line, no value
        raise SourceUnavailable(f"{where}: {exc}") from None
    return {"Accept": "application/json", **signed}


MAX_BODY = 1024 * 1024  # a health answer larger than this is not a health answer


def fetch_health(spec: HealthSpec, env: Environment) -> dict[str, Run]:
    """GET the endpoint; one deadline (`spec.timeout`) covers connect, status line, headers and body."""
    import json

    import httpx

    from cronctl.sources.http_deadline import DeadlineExceeded, deadline, make_client, read_limited

    url = env.resolve(spec.url, f"health.{spec.name}.url")
    where = f"health.{spec.name} ({_safe_url(url)})"
    try:
        with deadline(spec.timeout), make_client(verify=url.lower().startswith("https:")) as client:
            request = client.build_request("GET", url, headers=_headers(spec, env, url), timeout=spec.timeout)
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                body, _, truncated = read_limited(response, MAX_BODY, decoded=True)
            finally:
                response.close()
    except (httpx.TimeoutException, DeadlineExceeded):
        raise SourceUnavailable(f"{where}: no complete answer within {spec.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"{where}: {type(exc).__name__}: {exc}") from None
    except ValueError as exc:  # an URL httpx cannot use
        raise SourceUnavailable(f"{where}: {exc}") from None
    if response.status_code in (401, 403):
        raise SourceUnavailable(f"{where}: HTTP {response.status_code} (check the endpoint's secret)")
    if truncated:
        raise SourceUnavailable(f"{where}: HTTP {response.status_code}, answer larger than {MAX_BODY} bytes")
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError:
        raise SourceUnavailable(f"{where}: HTTP {response.status_code}, answer is not JSON") from None
    if response.status_code >= 400:
        # The endpoint answered that it is broken: keep its status and its own words, not "no checks object".
        said = _error_words(payload)
        raise SourceUnavailable(f"{where}: HTTP {response.status_code}" + (f": {said}" if said else ""))
    return parse_health(payload, spec)


def _error_words(payload: Any, limit: int = 200) -> str:
    if isinstance(payload, dict):
        for key in ("error", "message", "detail", "reason"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                text = " ".join(value.split())
                return text if len(text) <= limit else text[: limit - 1] + "…"
    return ""


def _safe_url(url: str) -> str:
    from cronctl.sources.http_trigger import safe_url

    return safe_url(url)
