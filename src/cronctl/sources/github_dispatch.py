"""Fire a job through GitHub's workflow_dispatch API, and follow the workflow run the dispatch created.

`POST {api_url}/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches` with `{"ref", "inputs",
"return_run_details": true}`. GitHub's REST description (version 2022-11-28, operation
actions/create-workflow-dispatch) answers 200 with `workflow_run_id`, `run_url` and `html_url` when
`return_run_details` is true, and 204 without a body otherwise (an older GitHub Enterprise Server that does
not know the parameter answers 204 too, or refuses the body with 422 or 400 naming it: nothing was dispatched,
and `send_dispatch` sends that dispatch once more without the parameter, whose run is then matched by listing).

`--verify` then follows that run through "List workflow runs for a workflow"
(`GET .../workflows/{workflow}/runs?event=workflow_dispatch&created>=…`): the run GitHub named, else the one run
that can be the dispatch's by the matching rule of `could_be_ours` (never a run created before the dispatch).
Runs are mapped to statuses exactly as the GitHub history source maps them (`sources.external.github`).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from cronctl import __version__, redact
from cronctl.errors import UsageError
from cronctl.records import Attempt, PreparedRequest, Run, SourceNote
from cronctl.runbook.env import Environment
from cronctl.runbook.model import DispatchSpec, JobSpec
from cronctl.sources.external.github import NAME, is_rate_limited, parse_time, rate_limit_reset, to_run
from cronctl.sources.http_trigger import new_request_id, safe_url, serialise

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
CLOCK_SKEW = timedelta(seconds=2)  # this host's clock against GitHub's, when an answer has no Date header
POLL_INTERVALS = (1.0, 2.0, 3.0, 5.0, 5.0, 10.0)  # between listings of the runs; then the last, repeated
EXCHANGE_TIMEOUT = 30.0  # one listing of the runs
USER_TIMEOUT = 10.0  # one `GET /user`
MAX_BODY = 8 * 1024 * 1024  # a page of 100 runs is about 0.7 MB
RUN_DETAILS = "return_run_details"
RESENT = f"GitHub does not know {RUN_DETAILS}: the dispatch is sent again without it"


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
    body = serialise({"ref": ref, "inputs": inputs, RUN_DETAILS: True})
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


def refuses_run_details(attempt: Attempt) -> bool:
    """A GitHub (Enterprise Server) that does not know `return_run_details` refused the body naming it (422, or
    400): its validation comes before the dispatch, so nothing was dispatched."""
    answer = attempt.answer
    return answer.status_code in (400, 422) and RUN_DETAILS in answer.body.decode("utf-8", "replace")


def without_run_details(request: PreparedRequest) -> PreparedRequest | None:
    """The same dispatch (same request id) without `return_run_details`; None when it does not carry it."""
    try:
        document = json.loads(request.body or b"")
    except ValueError:
        return None
    if not isinstance(document, dict) or document.pop(RUN_DETAILS, None) is None:
        return None
    body = serialise(document)
    return replace(request, body=body, display_body=body.decode("utf-8") if body else None)


def send_dispatch(
    client: Any,
    request: PreparedRequest,
    *,
    idempotent: bool,
    on_attempt: Callable[[int, Attempt], None] | None = None,
    before_attempt: Callable[[int], None] | None = None,
) -> list[Attempt]:
    """Send a dispatch as `http_trigger.send_with_retries` does; when GitHub refuses `return_run_details`, send it
    once more without it (attempts numbered on): GitHub then answers 204, and its run is matched by listing."""
    from cronctl.sources.http_trigger import send_with_retries

    plain = without_run_details(request)
    attempts: list[Attempt] = []

    def heard(offset: int, may_resend: bool) -> Callable[[int, Attempt], None]:
        def hear(number: int, attempt: Attempt) -> None:
            if may_resend and attempt.next_delay is None and refuses_run_details(attempt):
                attempt = replace(attempt, note=RESENT)
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(offset + number, attempt)

        return hear

    def starting(offset: int) -> Callable[[int], None] | None:
        if before_attempt is None:
            return None
        return lambda number: before_attempt(offset + number)

    send_with_retries(
        client, request, idempotent=idempotent, on_attempt=heard(0, plain is not None), before_attempt=starting(0)
    )
    if plain is None or attempts[-1].note != RESENT:
        return attempts
    done = len(attempts)  # once: a refusal of the plain body is GitHub's answer
    send_with_retries(
        client, plain, idempotent=idempotent, on_attempt=heard(done, False), before_attempt=starting(done)
    )
    return attempts


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


def run_details(document: Any) -> tuple[int | None, str | None]:
    """The run id and page of a 200 dispatch answer (`workflow_run_id`, `html_url` / `run_url`)."""
    run_id = document.get("workflow_run_id") if isinstance(document, dict) else None
    if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id <= 0:
        run_id = None
    return run_id, run_url(document)


def workflow_names(url: str) -> tuple[str, str]:
    """(`owner/repo`, workflow) from a dispatch URL `…/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches`."""
    parts = [unquote(part) for part in urlsplit(url).path.split("/") if part]
    if len(parts) >= 7 and parts[-7] == "repos":
        return f"{parts[-6]}/{parts[-5]}", parts[-2]
    return "the repository", "the workflow"


def refusal(status: int, spec: DispatchSpec, repo: str, workflow: str) -> str | None:
    """What a refused dispatch means, naming the token's variable (never its value); None for other answers."""
    variable = f"${spec.token_env}"
    if status == 401:
        return f"GitHub refused the token in {variable}"
    if status == 403:
        return (
            f"the token in {variable} lacks the `actions: write` permission (fine-grained) / `repo` scope "
            f"(classic) for {repo}"
        )
    if status == 404:
        return f"workflow {workflow} not found in {repo}, or the token in {variable} cannot see the repository"
    if status == 422:
        return f"GitHub did not accept the dispatch of {workflow} (does it have a `workflow_dispatch` trigger?)"
    return None


# ---------------------------------------------------------------- the run a dispatch created (pure)


@dataclass(frozen=True)
class Dispatched:
    """A dispatch GitHub accepted: when it was sent, and the run GitHub named when it did (200 with run details)."""

    sent_at: datetime  # this host's clock, just before the request was sent
    started: float  # time.monotonic() at the same moment: the wait for the run is counted from it
    elapsed: float  # seconds the exchange took
    server_time: datetime | None = None  # the answer's `Date` header: GitHub's own clock
    run_id: int | None = None
    run_url: str | None = None

    @property
    def since(self) -> datetime:
        """No run created before this moment (GitHub's clock, whole seconds) can be the one this dispatch made.

        GitHub stamps `created_at` in whole seconds on its own clock: the answer's `Date` header less the exchange's
        duration is on that clock (no skew), else this host's send time less CLOCK_SKEW."""
        if self.server_time is not None:
            moment = self.server_time - timedelta(seconds=max(0.0, self.elapsed))
        else:
            moment = self.sent_at - CLOCK_SKEW
        return moment.astimezone(UTC).replace(microsecond=0)


def dispatched(
    sent_at: datetime, started: float, elapsed: float, headers: Mapping[str, str], document: Any
) -> Dispatched:
    """The record of an accepted dispatch from its answer's headers (lower-case names) and parsed body."""
    run_id, url = run_details(document)
    return Dispatched(sent_at, started, elapsed, _http_date(headers.get("date")), run_id, url)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ref_name(ref: str) -> str:
    """The branch (or tag) name GitHub shows as a run's `head_branch` for a dispatch on `ref`."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def _login(user: Any) -> str | None:
    login = user.get("login") if isinstance(user, dict) else None
    return login.lower() if isinstance(login, str) and login else None


def could_be_ours(run: Mapping[str, Any], since: datetime, branch: str | None, actor: str | None = None) -> bool:
    """Whether a workflow run (as "List workflow runs" gives it) can be the one a dispatch created: a
    `workflow_dispatch` run created at or after `since`, on the dispatched ref, by the token's user when known.

    A run created before the dispatch is never the dispatch's, whatever it is doing now (re-run, still running).
    """
    if run.get("event") != "workflow_dispatch":
        return False
    created = parse_time(run.get("created_at"))
    if created is None or created < since:
        return False
    if branch is not None and run.get("head_branch") != branch:
        return False
    return actor is None or _login(run.get("actor")) == actor.lower()


def candidates(
    runs: Iterable[Mapping[str, Any]],
    since: datetime,
    branch: str | None,
    actor: str | None = None,
    claimed: Collection[int] = (),
) -> list[Mapping[str, Any]]:
    """The runs that can be the dispatch's, newest first (each run once); `claimed` runs are earlier dispatches'."""
    seen: set[int] = set(claimed)
    found: list[Mapping[str, Any]] = []
    for run in runs:
        run_id = run.get("id")
        if not isinstance(run_id, int) or run_id in seen or not could_be_ours(run, since, branch, actor):
            continue
        seen.add(run_id)
        found.append(run)
    found.sort(key=lambda r: (parse_time(r.get("created_at")) or since, r["id"]), reverse=True)
    return found


def find_run(runs: Iterable[Mapping[str, Any]], run_id: int) -> Mapping[str, Any] | None:
    return next((r for r in runs if r.get("id") == run_id), None)


# ---------------------------------------------------------------- following the run


@dataclass(frozen=True)
class WatchTarget:
    """Where the runs of a dispatched workflow are listed, and with which credentials."""

    runs_url: str
    user_url: str
    repo: str
    workflow: str
    branch: str
    token_env: str
    headers: dict[str, str] = field(repr=False)


def watch_target(job: JobSpec, env: Environment, source: str = "runbook") -> WatchTarget:
    """The listing of the job's dispatch workflow's runs (`GET .../workflows/{workflow}/runs`)."""
    spec = job.dispatch
    if spec is None:
        raise UsageError(f"job {job.name} has no [dispatch] table")
    where = f"job {job.name} in {source}"
    url = dispatch_url(spec, env, where)
    workflow_url = url[: -len("/dispatches")]
    base = env.resolve(spec.api_url, f"{where} (dispatch.api_url)").rstrip("/")
    token = env.secret(spec.token_env, where)
    headers = {
        "Accept": ACCEPT,
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": f"cronctl/{__version__}",
        "Authorization": f"Bearer {token}",
    }
    return WatchTarget(
        runs_url=workflow_url + "/runs",
        user_url=base + "/user",
        repo=env.resolve(spec.repo, f"{where} (dispatch.repo)"),
        workflow=env.resolve(spec.workflow, f"{where} (dispatch.workflow)"),
        branch=ref_name(env.resolve(spec.ref, f"{where} (dispatch.ref)")),
        token_env=spec.token_env,
        headers=headers,
    )


@dataclass
class Watch:
    """What following a dispatch found: its run (as `logs` shows GitHub runs), or why there is none to judge."""

    since: datetime
    run: Run | None = None  # the dispatch's run, last seen state
    candidates: list[Run] = field(default_factory=list)  # several runs could be it: none is taken
    note: SourceNote = field(default_factory=lambda: SourceNote(NAME, "ok"))
    actor: str | None = None  # the token's login, when it was used to narrow the runs
    waited: float = 0.0  # seconds since the dispatch was sent
    requests: int = 0
    interrupted: bool = False

    @property
    def finished(self) -> bool:
        return self.run is not None and self.run.status != "running"


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def watch_run(
    client: Any,
    job: str,
    target: WatchTarget,
    sent: Dispatched,
    timeout: float,
    *,
    say: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    claimed: Collection[int] = (),
) -> Watch:
    """Follow the run `sent` created until it completes or `timeout` seconds after the dispatch was sent.

    The run is the one GitHub named (`workflow_run_id`), else the one run of the workflow's listing (event
    `workflow_dispatch`, created since the dispatch, on the dispatched ref, by the token's user when known) that
    could be it (`claimed`: runs earlier dispatches of this command took); when several could, none is taken.
    Each listing is one exchange with its own deadline and is
    conditional (a 304 costs no rate limit); `say` hears each new state of the run.
    """
    from cronctl.sources.http_deadline import aborted, pause

    wait = sleep or pause
    until = sent.started + timeout
    watch = Watch(since=sent.since)
    kept: dict[str, tuple[str, Any]] = {}
    run_id = sent.run_id
    if run_id is None:
        watch.actor = _token_login(client, target, until, clock, watch)
    params: dict[str, Any] = {"event": "workflow_dispatch", "created": f">={_stamp(watch.since)}", "per_page": 100}
    if run_id is None:
        params["branch"] = target.branch
        if watch.actor:
            params["actor"] = watch.actor
    pauses = iter(POLL_INTERVALS)
    last_state: str | None = None
    while True:
        if aborted():
            watch.interrupted = True
            watch.note = SourceNote(NAME, "error", "interrupted while waiting for the workflow run")
            break
        left = until - clock()
        if left <= 0:
            break
        try:
            runs = _list(client, target, params, min(EXCHANGE_TIMEOUT, left), kept, watch)
        except _Refused as refused:
            watch.note = SourceNote(NAME, "error", refused.message)
            break
        except _Transient as transient:  # one listing failed; the next may not, while time is left
            watch.note = SourceNote(NAME, "timeout" if transient.timeout else "error", transient.message)
            runs = None
        if runs is not None:
            watch.note = SourceNote(NAME, "ok")
            if run_id is None:
                possible = candidates(runs, watch.since, target.branch, watch.actor, claimed)
                if len(possible) > 1:
                    watch.candidates = [r for r in (to_run(job, d) for d in possible) if r is not None]
                    break
                if possible:
                    run_id = int(possible[0]["id"])  # the first run seen that can be ours; later ones are not
            data = find_run(runs, run_id) if run_id is not None else None
            if data is not None:
                watch.run = to_run(job, data)
                state = f"{data.get('status')}/{data.get('conclusion')}"
                if say is not None and state != last_state:
                    say(_state_line(data))
                last_state = state
                if watch.finished:
                    break
        left = until - clock()
        if left <= 0:
            break
        wait(min(next(pauses, POLL_INTERVALS[-1]), left))
    watch.waited = max(0.0, clock() - sent.started)
    return watch


def _state_line(data: Mapping[str, Any]) -> str:
    status, conclusion = data.get("status"), data.get("conclusion")
    state = f"completed: {conclusion}" if status == "completed" else str(status)
    return f"workflow run {data.get('id')} {state}: {data.get('html_url') or '-'}"


class _Transient(Exception):
    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout


def _get(
    client: Any, url: str, headers: Mapping[str, str], params: Mapping[str, Any] | None, seconds: float, watch: Watch
) -> tuple[int, dict[str, str], bytes]:
    """One GET within its own deadline: (status, lower-case headers, body)."""
    import httpx

    from cronctl.sources.http_deadline import DeadlineExceeded, deadline, read_limited

    host = urlsplit(url).netloc or url
    try:
        with deadline(seconds):
            request = client.build_request("GET", url, params=params, headers=dict(headers), timeout=seconds)
            watch.requests += 1
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                body, _, truncated = read_limited(response, MAX_BODY, decoded=True)
            finally:
                response.close()
    except (httpx.TimeoutException, DeadlineExceeded):
        raise _Transient(f"GitHub API at {host} gave no complete answer within {seconds:g}s", timeout=True) from None
    except httpx.HTTPError as exc:
        text = redact.redact(f"GitHub API at {host} could not be read: {type(exc).__name__}: {exc}")
        raise _Transient(" ".join(text.split())[:300]) from None
    if truncated:
        raise _Refused(f"GitHub's answer is larger than {MAX_BODY} bytes")
    return int(response.status_code), {k.lower(): v for k, v in response.headers.items()}, body


def _list(
    client: Any,
    target: WatchTarget,
    params: Mapping[str, Any],
    seconds: float,
    kept: dict[str, tuple[str, Any]],
    watch: Watch,
) -> list[Mapping[str, Any]]:
    """The first page of the workflow's runs for `params`, conditionally (an unchanged page is a free 304)."""
    headers = dict(target.headers)
    known = kept.get("runs")
    if known is not None:
        headers["If-None-Match"] = known[0]
    status, answer, body = _get(client, target.runs_url, headers, params, seconds, watch)
    if status == 304 and known is not None:
        runs: list[Mapping[str, Any]] = known[1]
        return runs
    if status != 200:
        raise _Refused(_listing_failure(status, answer, body, target))
    try:
        document = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _Refused(f"GitHub's answer for {target.repo} is not JSON (HTTP 200)") from None
    items = document.get("workflow_runs") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise _Refused(f"GitHub's answer for {target.repo} is not a list of workflow runs")
    runs = [item for item in items if isinstance(item, dict)]
    etag = answer.get("etag")
    if etag:
        kept["runs"] = (etag, runs)
    return runs


def _listing_failure(status: int, headers: Mapping[str, str], body: bytes, target: WatchTarget) -> str:
    words = _server_words(body)
    said = f": {words}" if words else ""
    variable = f"${target.token_env}"
    if is_rate_limited(status, headers, words):
        reset = rate_limit_reset(headers, datetime.now(UTC))
        return f"GitHub API rate limit reached; resets at {reset:%H:%M}Z"
    if status == 401:
        return f"GitHub token in {variable} was refused (401){said}"
    if status == 403:
        return (
            f"GitHub token in {variable} lacks the `actions: read` permission (fine-grained) / `repo` scope "
            f"(classic) for {target.repo} (403{said})"
        )
    if status == 404:
        return f"workflow {target.workflow} not found in {target.repo} (HTTP 404) while listing its runs"
    return f"GitHub API answered HTTP {status} listing the runs of {target.workflow} in {target.repo}{said}"


def _token_login(
    client: Any, target: WatchTarget, until: float, clock: Callable[[], float], watch: Watch
) -> str | None:
    """The login of the token's user (`GET /user`), to tell this dispatch's run from other people's; None when the
    token has no user (a GitHub App or Actions token answers 403) or the answer does not say."""
    left = until - clock()
    if left <= 0:
        return None
    try:
        status, _, body = _get(client, target.user_url, target.headers, None, min(USER_TIMEOUT, left), watch)
        document = json.loads(body.decode("utf-8")) if status == 200 else None
    except (_Transient, _Refused, ValueError, UnicodeDecodeError):
        return None
    return _login(document)


def _server_words(body: bytes, limit: int = 200) -> str:
    """GitHub's own `message`, one line, masked."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    message = document.get("message") if isinstance(document, dict) else None
    if not isinstance(message, str):
        return ""
    text = redact.redact(" ".join(message.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
