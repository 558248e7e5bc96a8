"""A local stand-in for the part of Vercel's REST API that cronctl's `vercel` history source reads.

Shapes follow Vercel's published REST API (vercel.com/docs/rest-api; the OpenAPI description `@vercel/sdk` is
generated from):

- `GET /v6/deployments` ("List deployments"): `projectId` (id or name), `target`, `state`, `limit` (default 20,
  at most 100), `since`/`until` (milliseconds; created after/before), `teamId`/`slug`. Answers
  `{"deployments": [...], "pagination": {"count", "next", "prev"}}`, newest first; ask for the next page with
  `until=<next>`.
- `GET /v3/deployments/{idOrUrl}/events` ("Get deployment events"): `direction` (forward|backward), `follow`
  (only 0 is served: a JSON array), `limit` (-1: all), `since`/`until` (milliseconds, on the event's `created`),
  `builds` (0 leaves build output out), `statusCode` (e.g. `5xx` or `401`), `teamId`/`slug`. Each runtime event is
  `{"type", "created", "payload": {"deploymentId", "id", "date", "serial", "text", "requestId", "statusCode",
  "proxy": {"timestamp", "method", "host", "path", "statusCode", "userAgent": [...], "vercelId",
  "lambdaRegion", ...}}}`; a request ends with a `report` event.

Errors are Vercel's `{"error": {"code", "message"}}`: a bad token gets 403 with `"invalidToken": true`, a project
outside the token's teams 403, an unknown project or deployment 404, and every answer carries
`X-RateLimit-Limit/Remaining/Reset` (Reset in epoch seconds). Tests load invocations with `add_invocation` (status,
duration, user agent, log lines, a maxDuration timeout) and force answers with `fail` (401/403/429/500...), `delay`
and `silent` (accept, never answer). Only the standard library is used.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cronctl_sandbox.local_server import LocalServer

__all__ = ["CRON_USER_AGENT", "Forced", "Seen", "VercelAPI"]

CRON_USER_AGENT = "vercel-cron/1.0"
RATE_LIMIT = 100


@dataclass
class Forced:
    """A scripted failure: the next `times` requests (None: all) whose path starts with `prefix` get it."""

    status: int
    times: int | None = 1
    prefix: str = "/"
    retry_after: float | None = None  # seconds until X-RateLimit-Reset
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Seen:
    """A request as the stand-in received it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    time: float


@dataclass
class _Deployment:
    uid: str
    created: int
    state: str = "READY"
    target: str | None = "production"
    events: list[dict[str, Any]] = field(default_factory=list)


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class VercelAPI(LocalServer):
    """A threaded HTTP server on 127.0.0.1 answering like api.vercel.com for one project. Thread-safe."""

    name = "vercel-api"

    def __init__(
        self,
        token: str,
        *,
        project_id: str = "prj_cronctlStandIn0001",
        project_name: str = "sivera-alpha",
        team_id: str | None = "team_cronctlStandIn001",
        team_slug: str | None = "sivera",
        token_teams: Sequence[str] | None = None,
        domain: str = "sivera-alpha.vercel.app",
    ) -> None:
        super().__init__()
        self.token = token
        self.project_id = project_id
        self.project_name = project_name
        self.team_id = team_id
        self.team_slug = team_slug
        # Teams the token was created for (Vercel tokens are scoped); default: the project's team.
        self.token_teams = set(token_teams) if token_teams is not None else {t for t in (team_id,) if t}
        self.domain = domain
        self.delay = 0.0  # seconds before every answer
        self.silent = False  # accept requests and never answer (until stop)
        self.answer_first: int | None = None  # answer this many requests, then go silent
        self._lock = threading.Lock()
        self._deployments: list[_Deployment] = []
        self._forced: list[Forced] = []
        self._seen: list[Seen] = []
        self._received = 0
        self._serials = itertools.count(1)

    # loading data

    def add_deployment(
        self, created: datetime, *, uid: str | None = None, state: str = "READY", target: str | None = "production"
    ) -> str:
        """A deployment created at `created`, with a little build output (which `builds=0` leaves out)."""
        uid = uid or f"dpl_{secrets.token_hex(12)}"
        deployment = _Deployment(uid, _ms(created), state, target)
        for text in ("Running build in Washington, D.C., USA (East) – iad1", "Build Completed in /vercel/output"):
            deployment.events.append(self._event("stdout", uid, deployment.created, text, build=True))
        with self._lock:
            self._deployments.append(deployment)
            self._deployments.sort(key=lambda d: d.created, reverse=True)
        return uid

    def add_invocation(
        self,
        path: str,
        started_at: datetime,
        *,
        status: int = 200,
        duration: float = 0.4,
        user_agent: str | None = CRON_USER_AGENT,
        method: str = "GET",
        deployment: str | None = None,
        logs: Sequence[str] = (),
        errors: Sequence[str] = (),
        timed_out: bool = False,
        report: bool = True,
    ) -> str:
        """One request to `path`: its proxy line, log lines, and the closing `report` event. `timed_out` is a
        function stopped at maxDuration (Vercel answers 504 FUNCTION_INVOCATION_TIMEOUT). Returns the request id."""
        start = _ms(started_at)
        end = start + int(duration * 1000)
        with self._lock:
            target = self._serving(start) if deployment is None else self._find(deployment)
        if target is None:
            raise ValueError("no deployment to serve this invocation: add_deployment first")
        request_id = f"{secrets.token_hex(3)}-{start}-{secrets.token_hex(6)}"
        code = 504 if timed_out else status
        proxy: dict[str, Any] = {
            "timestamp": start,
            "method": method,
            "host": self.domain,
            "path": path,
            "statusCode": code,
            "region": "iad1",
            "scheme": "https",
            "clientIp": "76.76.21.21",
            "vercelId": f"iad1::iad1::{request_id}",
            "lambdaRegion": "iad1",
            "pathType": "func",
            "vercelCache": "MISS",
        }
        if user_agent is not None:
            proxy["userAgent"] = [user_agent]
        events = [self._event("stdout", target.uid, start, f"{method} {path}", request_id, code, proxy)]
        step = max(1, (end - start) // (len(logs) + len(errors) + 2))
        at = start
        for line in logs:
            at += step
            events.append(self._event("stdout", target.uid, at, line, request_id))
        for line in errors:
            at += step
            events.append(self._event("stderr", target.uid, at, line, request_id))
        if timed_out:
            text = f"Vercel Runtime Timeout Error: Task timed out after {duration:g} seconds"
            events.append(self._event("stderr", target.uid, end, text, request_id))
        if report:
            text = (
                f"REPORT RequestId: {request_id}\tDuration: {end - start:.2f} ms\tBilled Duration: {end - start} ms"
                "\tMemory Size: 1024 MB\tMax Memory Used: 96 MB"
            )
            events.append(self._event("report", target.uid, end, text, request_id))
        with self._lock:
            target.events.extend(events)
        return request_id

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        prefix: str = "/",
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next `times` requests under `prefix` with `status` (Vercel's error shape unless `body`)."""
        with self._lock:
            self._forced.append(Forced(status, times, prefix, retry_after, body))

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    # internals

    def _event(
        self,
        kind: str,
        uid: str,
        at: int,
        text: str,
        request_id: str | None = None,
        status: int | None = None,
        proxy: dict[str, Any] | None = None,
        *,
        build: bool = False,
    ) -> dict[str, Any]:
        serial = next(self._serials)
        payload: dict[str, Any] = {
            "deploymentId": uid,
            "id": f"{at}{serial:012d}",
            "date": at,
            "serial": f"{at}{serial:012d}",
            "created": at,
            "text": text,
        }
        if build:
            payload["info"] = {"type": "build", "name": "bld_cronctl", "entrypoint": "."}
        else:
            payload["info"] = {"type": "lambda", "name": "api/cron", "entrypoint": "api/cron"}
        if request_id is not None:
            payload["requestId"] = request_id
        if status is not None:
            payload["statusCode"] = status
        if proxy is not None:
            payload["proxy"] = proxy
        return {"type": kind, "created": at, "payload": payload}

    def _serving(self, at: int) -> _Deployment | None:
        """The newest ready production deployment created before `at` (the one the domain pointed to)."""
        for deployment in self._deployments:
            if deployment.created <= at and deployment.state == "READY" and deployment.target == "production":
                return deployment
        return None

    def _find(self, id_or_url: str) -> _Deployment | None:
        for deployment in self._deployments:
            if id_or_url in (deployment.uid, f"{self.project_name}-{deployment.uid[4:13]}.vercel.app"):
                return deployment
        return None

    def _over_quota(self) -> bool:
        """Counts this request against `answer_first`; True when it is past it."""
        with self._lock:
            self._received += 1
            return self.answer_first is not None and self._received > self.answer_first

    def _take_forced(self, path: str) -> Forced | None:
        with self._lock:
            for forced in self._forced:
                if path.startswith(forced.prefix) and (forced.times is None or forced.times > 0):
                    if forced.times is not None:
                        forced.times -= 1
                    return forced
        return None

    def _answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self._seen.append(Seen(path, query, headers, time.time()))
        forced = self._take_forced(path)
        if forced is not None:
            extra = {}
            if forced.retry_after is not None:
                extra["X-RateLimit-Reset"] = str(int(time.time() + forced.retry_after))
                extra["X-RateLimit-Remaining"] = "0"
            return forced.status, forced.body or _error(forced.status), extra
        if headers.get("authorization") != f"Bearer {self.token}":
            return 403, _error(403, invalid_token=True), {}
        team = query.get("teamId") or query.get("slug")
        if team and team not in (self.team_id, self.team_slug):
            return 403, _error(403), {}
        if team and self.team_id not in self.token_teams:
            return 403, _error(403), {}
        if path == "/v6/deployments":
            return self._list_deployments(query, team)
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v3", "deployments"] and parts[3] == "events":
            return self._events(unquote(parts[2]), query, team)
        return 404, {"error": {"code": "not_found", "message": "The requested path was not found"}}, {}

    def _visible(self, team: str | None) -> bool:
        # A team's project is found only with that team's id or slug; without one the personal account is searched.
        return self.team_id is None or team is not None

    def _list_deployments(self, query: dict[str, str], team: str | None) -> tuple[int, Any, dict[str, str]]:
        project = query.get("projectId")
        if project and (project not in (self.project_id, self.project_name) or not self._visible(team)):
            return 404, {"error": {"code": "not_found", "message": "Project not found"}}, {}
        try:
            limit = min(100, max(1, int(query.get("limit", "20"))))
            since = int(query["since"]) if "since" in query else None
            until = int(query["until"]) if "until" in query else None
        except ValueError:
            return 400, {"error": {"code": "bad_request", "message": "Invalid request: a number was expected"}}, {}
        states = {s.strip().upper() for s in query.get("state", "").split(",") if s.strip()}
        with self._lock:
            rows = [
                d
                for d in self._deployments
                if (query.get("target") is None or d.target == query["target"])
                and (not states or d.state in states)
                and (since is None or d.created > since)
                and (until is None or d.created < until)
            ]
        page, rest = rows[:limit], rows[limit:]
        document = {
            "deployments": [self._deployment_json(d) for d in page],
            "pagination": {
                "count": len(page),
                "next": page[-1].created if rest and page else None,
                "prev": page[0].created if page else None,
            },
        }
        return 200, document, {}

    def _deployment_json(self, d: _Deployment) -> dict[str, Any]:
        return {
            "uid": d.uid,
            "name": self.project_name,
            "projectId": self.project_id,
            "url": f"{self.project_name}-{d.uid[4:13]}.vercel.app",
            "created": d.created,
            "createdAt": d.created,
            "buildingAt": d.created,
            "ready": d.created + 45_000,
            "source": "git",
            "state": d.state,
            "readyState": d.state,
            "readySubstate": "PROMOTED" if d.target == "production" else "STAGED",
            "type": "LAMBDAS",
            "creator": {"uid": "usr_cronctlStandIn", "username": "sivera-ci"},
            "meta": {"githubCommitRef": "main"},
            "target": d.target,
            "aliasError": None,
            "aliasAssigned": d.created + 46_000,
            "isRollbackCandidate": d.target == "production",
            "inspectorUrl": f"https://vercel.com/{self.team_slug or 'me'}/{self.project_name}/{d.uid[4:]}",
        }

    def _events(self, id_or_url: str, query: dict[str, str], team: str | None) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            deployment = self._find(id_or_url)
            events = list(deployment.events) if deployment is not None else []
        if deployment is None or not self._visible(team):
            return 404, {"error": {"code": "not_found", "message": "Deployment not found"}}, {}
        if query.get("follow", "0") not in ("0", ""):
            return 400, {"error": {"code": "bad_request", "message": "follow=1 streams; this stand-in does not"}}, {}
        try:
            limit = int(query.get("limit", "100"))
            since = int(query["since"]) if "since" in query else None
            until = int(query["until"]) if "until" in query else None
        except ValueError:
            return 400, {"error": {"code": "bad_request", "message": "Invalid request: a number was expected"}}, {}
        wanted_status = query.get("statusCode")
        rows = [
            e
            for e in events
            if (since is None or e["created"] >= since)
            and (until is None or e["created"] <= until)
            and (query.get("builds", "1") != "0" or e["payload"].get("info", {}).get("type") != "build")
            and (wanted_status is None or _status_matches(e, wanted_status))
        ]
        rows.sort(key=lambda e: (e["created"], e["payload"]["serial"]), reverse=query.get("direction") == "backward")
        if limit >= 0:
            rows = rows[:limit]
        return 200, rows, {}


def _status_matches(event: dict[str, Any], wanted: str) -> bool:
    payload = event["payload"]
    code = payload.get("statusCode") or (payload.get("proxy") or {}).get("statusCode")
    if not isinstance(code, int):
        return False
    if wanted.lower().endswith("xx"):
        return str(code)[0] == wanted[0]
    return str(code) == wanted


def _error(status: int, *, invalid_token: bool = False) -> dict[str, Any]:
    words = {
        400: ("bad_request", "Invalid request"),
        401: ("unauthorized", "Authentication required"),
        403: ("forbidden", "Not authorized"),
        404: ("not_found", "Not found"),
        429: ("rate_limited", "Rate limit exceeded"),
        500: ("internal_server_error", "An unexpected internal error occurred"),
    }
    code, message = words.get(status, ("error", f"HTTP {status}"))
    error: dict[str, Any] = {"code": code, "message": message}
    if status == 403:
        error["invalidToken"] = invalid_token
    if status == 429:
        error["limit"] = {"remaining": 0, "total": RATE_LIMIT}
    return {"error": error}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if owner.silent or owner._over_quota():
            owner._stopped.wait()
            self.close_connection = True
            return
        if owner.delay > 0 and owner._stopped.wait(owner.delay):
            self.close_connection = True
            return
        status, document, extra = owner._answer(split.path, query, headers)
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-RateLimit-Limit", str(RATE_LIMIT))
        self.send_header("X-RateLimit-Remaining", extra.pop("X-RateLimit-Remaining", str(RATE_LIMIT - 1)))
        self.send_header("X-RateLimit-Reset", extra.pop("X-RateLimit-Reset", str(int(time.time()) + 60)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    owner: VercelAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gives up (deadline tests) is expected."""


VercelAPI.server_class = _Server
VercelAPI.handler_class = _Handler
