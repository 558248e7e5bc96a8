"""Which pg_cron run does each pg_net answer belong to? Pure: (runs, answers, tracking, queue, now) → one
answer per run, with how sure the link is.

`net._http_response` has no job id and no URL, and pg_cron calls a run `succeeded` as soon as its request is
queued. So the outcome of a pg_net job's run is the answer that carries its request id, and finding it is the
whole question. In order of strength:

1. **exact** — cronctl's tracking trigger recorded `(request id, backend pid, time)` when the request was
   queued; the run whose `job_pid` is that pid and whose span contains that time queued it.
2. **inferred** — the evidence leaves one possibility: a run alone with one answer in its window; a timeout
   text ("Timeout of N ms") only one candidate's timeout explains; runs that are strictly ordered in time
   (one ended before the next started) take the request ids in the same order; a queue row still waiting whose
   URL only one job calls; or a set of co-firing runs whose answers are all good (or all bad) for every
   candidate, so each run's outcome is known without knowing which answer is whose.
3. **ambiguous** — answers that several runs could own and that differ: each of those runs is `unverified`
   and names the other candidates.
4. **none** — no answer was found: still within its timeout (`pending`), expired (pg_net.ttl), or lost.

`created` is stamped when the worker starts a batch, so it bounds *when* an answer could be a run's, never how
long the request took.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from cronctl.evaluate.pgnet_link import DEFAULT_NET_TIMEOUT_MS
from cronctl.records import Attribution, NetResponse, QueuedRequest, Run, RunAnswer, TrackedRequest, aware, start_of

ATTRIBUTIONS = ("exact", "inferred", "ambiguous", "none")
SLACK = 2.0  # seconds an answer's batch may start after the request's own timeout
EARLY = 0.01  # seconds a batch may appear to start before the run (timestamp granularity)
PID_SLACK = timedelta(seconds=1)
WORKER_STALL = 60.0  # seconds past its timeout a request may wait in the queue before the worker is suspect
PG_NET_TTL = timedelta(hours=6)  # pg_net.ttl default: older answers are deleted
_TIMEOUT_TEXT = re.compile(r"Timeout of (\d+) ms", re.IGNORECASE)

# (cron job, response) → (status, message): the job's success rule applied to one answer.
Judge = Callable[[str, NetResponse], tuple[str, str | None]]


def _base_url(url: str | None) -> str | None:
    return url.split("?", 1)[0].rstrip("/") if url else None


def _calls(target: str | None, queued_url: str | None) -> bool:
    """Does a job whose command targets `target` (a literal URL, or only its path when the host comes from an
    expression such as get_secret('supabase_url')) queue requests to `queued_url`?"""
    base, queued = _base_url(target), _base_url(queued_url)
    if not base or not queued:
        return False
    if base.startswith(("http://", "https://")):
        return base == queued
    return queued.endswith(base)


def timeout_of(response: NetResponse) -> int | None:
    """The request's own timeout in ms, read from pg_net's timeout text."""
    match = _TIMEOUT_TEXT.search(response.error_msg or "")
    return int(match.group(1)) if match else None


def attribute(
    runs_by_cron: Mapping[str, Sequence[Run]],
    responses: Sequence[NetResponse],
    timeouts: Mapping[str, float],
    now: datetime,
    judge: Judge,
    *,
    tracked: Sequence[TrackedRequest] | None = None,
    queued: Sequence[QueuedRequest] = (),
    urls: Mapping[str, str | None] | None = None,
    ttl: timedelta = PG_NET_TTL,
    horizon: datetime | None = None,
    explicit_timeouts: frozenset[str] | None = None,
) -> Attribution:
    """One `RunAnswer` per succeeded pg_cron run in `runs_by_cron` (runs in other states queued nothing or
    are still running: their own status stands). `tracked` is None when tracking is not installed.

    `horizon`: before it, some co-firing job's runs were not read (the walk stops at a number of runs), so an
    answer there could belong to a run that is not here: runs before it are not linked by inference.
    `explicit_timeouts`: the jobs whose command states its timeout (a wrapper function may set its own: only
    stated timeouts can single a job out by a "Timeout of N ms" text). None: every timeout is stated."""
    now = aware(now)
    result = Attribution(tracking=tracked is not None)
    candidates = [
        (cron, run)
        for cron, runs in runs_by_cron.items()
        for run in runs
        if run.status == "succeeded" and run.started_at is not None and run.run_id is not None
    ]
    open_runs: dict[tuple[str, str], Run] = {(cron, str(run.run_id)): run for cron, run in candidates}
    by_id = {r.id: r for r in responses}
    unread: dict[tuple[str, str], Run] = {}
    open_responses: dict[int, NetResponse] = dict(by_id)
    pending_ids = {q.request_id: q for q in queued}

    if tracked is not None:
        _exact(
            result, tracked, open_runs, open_responses, pending_ids, judge, now,
            lambda cron, run: _no_answer(cron, run, timeouts, now, ttl, False), timeouts,
        )  # fmt: skip

    if horizon is not None:
        edge = aware(horizon)
        unread = {k: r for k, r in open_runs.items() if start_of(r) < edge}
        for k in unread:
            del open_runs[k]
        for old_id in [i for i, r in open_responses.items() if aware(r.created) < edge]:
            result.unlinked.append(open_responses.pop(old_id))
    _queued_by_url(result, open_runs, pending_ids, urls or {}, timeouts, now)
    stated = frozenset(timeouts) if explicit_timeouts is None else explicit_timeouts
    _infer(result, open_runs, open_responses, timeouts, judge, now, stated)
    for (cron, rid), run in unread.items():
        why = "older than the runs read for its co-firing jobs: its answer cannot be told apart"
        result.answers[(cron, rid)] = RunAnswer(cron, run, "none", "unverified", why, how="outside the linked range")
    for (cron, rid), run in open_runs.items():
        result.answers[(cron, rid)] = _no_answer(cron, run, timeouts, now, ttl, bool(pending_ids))
    result.unlinked = sorted([*result.unlinked, *open_responses.values()], key=lambda r: r.id)
    return result


def _judged(cron: str, run: Run, response: NetResponse, judge: Judge, attribution: str, how: str) -> RunAnswer:
    status, message = judge(cron, response)
    return RunAnswer(cron, run, attribution, status, message, response, how=how)


def _exact(
    result: Attribution,
    tracked: Sequence[TrackedRequest],
    open_runs: dict[tuple[str, str], Run],
    open_responses: dict[int, NetResponse],
    pending: Mapping[int, QueuedRequest],
    judge: Judge,
    now: datetime,
    no_answer: Callable[[str, Run], RunAnswer],
    timeouts: Mapping[str, float],
) -> None:
    by_pid: dict[int, list[tuple[str, str, Run]]] = {}
    for (cron, rid), run in open_runs.items():
        pid = run.detail.get("job_pid")
        if isinstance(pid, int):
            by_pid.setdefault(pid, []).append((cron, rid, run))
    for request in tracked:
        owner = _owner(by_pid.get(request.backend_pid, []), aware(request.queued_at), now)
        if owner is None:
            # Queued outside every run read here (a manual call, or a run older than the walk): it is known
            # not to be any of these runs' answer, so inference must not hand it to one of them.
            stray = open_responses.pop(request.request_id, None)
            if stray is not None:
                result.unlinked.append(stray)
            continue
        cron, rid, run = owner
        how = f"request {request.request_id} queued by pid {request.backend_pid} during run {rid}"
        response = open_responses.pop(request.request_id, None)
        if response is not None:
            result.answers[(cron, rid)] = _judged(cron, run, response, judge, "exact", how)
        elif request.request_id in pending:
            waited = (now - aware(request.queued_at)).total_seconds()
            limit = timeouts.get(cron, DEFAULT_NET_TIMEOUT_MS / 1000) + WORKER_STALL
            if waited > limit:
                status, message = "unverified", f"request {request.request_id} still queued after {int(waited)}s"
            else:
                status, message = "pending", f"request {request.request_id} still queued"
            result.answers[(cron, rid)] = RunAnswer(cron, run, "exact", status, message, how=how)
        else:
            # Its answer is gone (pg_net.ttl) or outside the read window: no other answer may be given to it.
            from dataclasses import replace

            result.answers[(cron, rid)] = replace(no_answer(cron, run), attribution="exact", how=how)
        open_runs.pop((cron, rid), None)


def _owner(runs: Sequence[tuple[str, str, Run]], queued_at: datetime, now: datetime) -> tuple[str, str, Run] | None:
    for cron, rid, run in runs:
        start = start_of(run) - PID_SLACK
        end = aware(run.finished_at) + PID_SLACK if run.finished_at is not None else now
        if start <= queued_at <= end:
            return cron, rid, run
    return None


def _queued_by_url(
    result: Attribution,
    open_runs: dict[tuple[str, str], Run],
    pending: Mapping[int, QueuedRequest],
    urls: Mapping[str, str | None],
    timeouts: Mapping[str, float],
    now: datetime,
) -> None:
    """A request still in the queue carries its URL: when one job calls that URL, its newest open run is the
    one waiting (a job runs one at a time, so older runs were picked up before it)."""
    for request in sorted(pending.values(), key=lambda q: q.request_id, reverse=True):
        jobs = [cron for cron, url in urls.items() if _calls(url, request.url)]
        if len(jobs) != 1:
            continue
        cron = jobs[0]
        mine = sorted(
            ((rid, run) for (job, rid), run in open_runs.items() if job == cron), key=lambda x: start_of(x[1])
        )
        if not mine:
            continue
        rid, run = mine[-1]
        waited = (now - start_of(run)).total_seconds()
        limit = timeouts.get(cron, DEFAULT_NET_TIMEOUT_MS / 1000) + WORKER_STALL
        if waited > limit:
            status, message = "unverified", f"request {request.request_id} still queued after {int(waited)}s"
        else:
            status, message = "pending", f"request {request.request_id} still queued"
        how = f"queued request {request.request_id} calls {request.url}, which only this job calls"
        result.answers[(cron, rid)] = RunAnswer(cron, run, "inferred", status, message, how=how)
        del open_runs[(cron, rid)]


def _wait(timeouts: Mapping[str, float]) -> float:
    """How long a queued request may wait for its batch: the worker runs one batch at a time, so a request
    queued behind a slow batch waits up to the longest timeout of any request in it."""
    return max([DEFAULT_NET_TIMEOUT_MS / 1000, *timeouts.values()])


def _window(run: Run, timeout: float, batches: Sequence[datetime]) -> tuple[datetime, datetime]:
    """When the answer's batch can have started. The request is queued between the run's start and end, and
    pg_net's worker takes every waiting request into its next batch, stamping them all with the batch start:
    so the answer carries the first batch start at or after the run's end, unless that batch started before
    the request was committed (then it is the next one). Bounded by the request's own timeout when no batch
    follows (the answer is not in yet, or the worker is busy with a slow batch)."""
    start = start_of(run)
    lo = start - timedelta(seconds=EARLY)
    wide = start + timedelta(seconds=timeout + SLACK)
    end = aware(run.finished_at) if run.finished_at is not None else start
    i = bisect_left(batches, end)
    hi = batches[i] if i < len(batches) and batches[i] <= wide else wide
    return lo, hi


def _components(
    open_runs: Mapping[tuple[str, str], Run],
    open_responses: Mapping[int, NetResponse],
    timeouts: Mapping[str, float],
    batches: Sequence[datetime],
) -> list[tuple[list[tuple[str, str]], list[int]]]:
    """Runs and answers that share possibilities: connected through "this answer falls in that run's window"."""
    keys = list(open_runs)
    windows = {k: _window(open_runs[k], _wait(timeouts), batches) for k in keys}
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: object, b: object) -> None:
        parent[find(a)] = find(b)

    # Windows sorted by start: each answer looks only at windows that start before it and could still be open.
    ordered = sorted(keys, key=lambda k: windows[k][0])
    starts = [windows[k][0] for k in ordered]
    widest = max((windows[k][1] - windows[k][0] for k in ordered), default=timedelta(0))
    for response in open_responses.values():
        created = aware(response.created)
        i = bisect_right(starts, created)
        j = bisect_left(starts, created - widest)
        for k in ordered[j:i]:
            if created <= windows[k][1]:
                union(("r", response.id), ("j", k))
    groups: dict[object, tuple[list[tuple[str, str]], list[int]]] = {}
    for k in keys:
        if ("j", k) in parent:
            groups.setdefault(find(("j", k)), ([], []))[0].append(k)
    for rid in open_responses:
        if ("r", rid) in parent:
            groups.setdefault(find(("r", rid)), ([], []))[1].append(rid)
    return list(groups.values())


def _infer(
    result: Attribution,
    open_runs: dict[tuple[str, str], Run],
    open_responses: dict[int, NetResponse],
    timeouts: Mapping[str, float],
    judge: Judge,
    now: datetime,
    stated: frozenset[str],
) -> None:
    batches = sorted({aware(r.created) for r in open_responses.values()})
    for run_keys, response_ids in _components(open_runs, open_responses, timeouts, batches):
        runs = {k: open_runs[k] for k in run_keys}
        answers = {i: open_responses[i] for i in response_ids}
        _settle(result, runs, answers, timeouts, judge, now, batches, stated)
        for k in run_keys:
            if k in result.answers:
                open_runs.pop(k, None)
        for i in response_ids:
            if i not in answers:
                open_responses.pop(i, None)
        if runs and answers:
            left_runs, left_answers = list(runs), list(answers)
            _ambiguous(result, runs, answers, judge)
            for k in left_runs:
                open_runs.pop(k, None)
            for i in left_answers:
                open_responses.pop(i, None)


def _settle(
    result: Attribution,
    runs: dict[tuple[str, str], Run],
    answers: dict[int, NetResponse],
    timeouts: Mapping[str, float],
    judge: Judge,
    now: datetime,
    batches: Sequence[datetime],
    stated: frozenset[str],
) -> None:
    """Apply the sure rules until none applies; what is settled leaves `runs` and `answers`."""

    def window(key: tuple[str, str]) -> tuple[datetime, datetime]:
        return _window(runs[key], _wait(timeouts), batches)

    def take(key: tuple[str, str], response: NetResponse, how: str) -> None:
        result.answers[key] = _judged(key[0], runs.pop(key), response, judge, "inferred", how)
        del answers[response.id]

    progress = True
    while progress and runs and answers:
        progress = False
        if len(runs) == 1 and len(answers) == 1:
            (key,), (response,) = list(runs), list(answers.values())
            take(key, response, "the only answer in the only run's window")
            return
        # A run whose window has closed has its answer (short of lost data): when only one answer falls in
        # that window, it is this run's, whoever else's window it also falls in. Only while there are at least
        # as many answers as runs: with fewer, some run's answer is missing and it may be this one's.
        for key in sorted(runs, key=lambda k: start_of(runs[k])) if len(answers) >= len(runs) else ():
            lo, hi = window(key)
            if hi >= now:
                continue
            inside = [a for a in answers.values() if lo <= aware(a.created) <= hi]
            if len(inside) == 1:
                take(key, inside[0], "the only answer in its closed window")
                progress = True
                break
        if progress:
            continue
        # As many answers as runs and every window closed: each run has its answer here and no answer is
        # foreign (a webhook's, a manual call's), so an answer that only one run's window holds is that run's.
        if len(answers) == len(runs) and all(window(k)[1] < now for k in runs):
            for response in sorted(answers.values(), key=lambda r: r.id):
                created = aware(response.created)
                owners = [k for k in runs if window(k)[0] <= created <= window(k)[1]]
                if len(owners) == 1:
                    take(owners[0], response, "the only run whose window holds this answer")
                    progress = True
                    break
        if progress:
            continue
        for response in sorted(answers.values(), key=lambda r: r.id):
            ms = timeout_of(response)
            if ms is None:
                continue
            if any(k[0] not in stated for k in runs):
                break  # a candidate's real timeout is not known: the text singles nobody out
            fits = [k for k in runs if round(timeouts.get(k[0], DEFAULT_NET_TIMEOUT_MS / 1000) * 1000) == ms]
            if len(fits) == 1 and len({k[0] for k in runs}) > 1:
                take(fits[0], response, f"timed out after {ms} ms, the timeout only this job's command sets")
                progress = True
                break
        if progress:
            continue
        if len(runs) == len(answers) and _strictly_ordered(list(runs.values())):
            ordered_runs = sorted(runs, key=lambda k: start_of(runs[k]))
            for key, response in zip(ordered_runs, sorted(answers.values(), key=lambda r: r.id), strict=True):
                take(key, response, "runs strictly ordered in time take request ids in the same order")
            return
    if runs and len(runs) == len(answers):
        _uniform(result, runs, answers, judge)


def _strictly_ordered(runs: Sequence[Run]) -> bool:
    """Each run ended before the next one started: their requests were queued, and numbered, in that order."""
    ordered = sorted(runs, key=start_of)
    for earlier, later in pairwise(ordered):
        if earlier.finished_at is None or aware(earlier.finished_at) >= start_of(later):
            return False
    return True


def _uniform(
    result: Attribution, runs: dict[tuple[str, str], Run], answers: dict[int, NetResponse], judge: Judge
) -> None:
    """As many answers as runs and every answer has the same outcome for every candidate job: each run has
    that outcome, whichever answer is its own."""
    verdicts = {judge(k[0], a) for k in runs for a in answers.values()}
    statuses = {status for status, _ in verdicts}
    if len(statuses) != 1:
        return
    status = statuses.pop()
    message = next((m for s, m in verdicts if m), None)
    how = f"{len(answers)} answers for {len(runs)} co-firing runs, every one {status} for every candidate"
    for key, run in list(runs.items()):
        result.answers[key] = RunAnswer(key[0], run, "inferred", status, message, how=how)
    runs.clear()
    answers.clear()


def _ambiguous(
    result: Attribution, runs: dict[tuple[str, str], Run], answers: dict[int, NetResponse], judge: Judge
) -> None:
    jobs = tuple(sorted({k[0] for k in runs}))
    possible = tuple(sorted(answers.values(), key=lambda r: r.id))
    failing = [a for a in possible if judge(jobs[0], a)[0] != "succeeded"]
    sample = failing[0].message if failing else None
    for key, run in runs.items():
        all_good = bool(possible) and all(judge(key[0], a)[0] == "succeeded" for a in possible)
        others = [j for j in jobs if j != key[0]]
        what = f"{len(failing)} of {len(possible)} answers" if failing else f"{len(possible)} answers"
        message = f"{what} of co-firing jobs ({', '.join(jobs)}) cannot be told apart" + (
            f"; failing: {sample}" if sample else ""
        )
        how = "also in the window of " + ", ".join(others) if others else "more answers than runs"
        result.answers[key] = RunAnswer(
            key[0], run, "ambiguous", "unverified", message, candidates=jobs, possible=possible, how=how,
            possible_all_good=all_good,
        )  # fmt: skip
    runs.clear()
    answers.clear()


def _no_answer(
    cron: str, run: Run, timeouts: Mapping[str, float], now: datetime, ttl: timedelta, queue_busy: bool
) -> RunAnswer:
    age = (now - start_of(run)).total_seconds()
    timeout = timeouts.get(cron, DEFAULT_NET_TIMEOUT_MS / 1000)
    if age <= timeout + SLACK + WORKER_STALL / 6:
        return RunAnswer(cron, run, "none", "pending", "answer not in yet", how="queued moments ago")
    if start_of(run) < now - ttl:
        return RunAnswer(
            cron, run, "none", "unverified", "answer expired (pg_net keeps answers for pg_net.ttl, 6 h by default)",
            how="older than pg_net.ttl",
        )  # fmt: skip
    if queue_busy and age <= timeout + WORKER_STALL:
        return RunAnswer(cron, run, "none", "pending", "request may still be queued", how="queue not drained")
    if queue_busy:
        why = f"no answer after {int(age)}s while requests are still waiting in pg_net's queue"
        return RunAnswer(cron, run, "none", "unverified", why, how="stalled")
    why = "no answer recorded (still queued, or lost: a restart empties pg_net's unlogged tables)"
    return RunAnswer(cron, run, "none", "unverified", why, how="no answer found")


def as_runs(answers: Iterable[RunAnswer], job: str) -> list[Run]:
    """The answers as Run records of source pg_net, one per pg_cron run, carrying their attribution."""
    from dataclasses import replace

    out: list[Run] = []
    for answer in answers:
        response = answer.response
        detail = {
            "attribution": answer.attribution,
            "how": answer.how,
            "pg_cron_runid": answer.run.run_id,
            "response_id": response.id if response is not None else None,
            "timed_out": response.timed_out if response is not None else None,
            "candidates": list(answer.candidates),
            "possible_answers": [_answer_json(r) for r in answer.possible],
            "possible_all_good": answer.possible_all_good,
        }
        raw = None
        if response is not None:
            raw = str(response.status_code) if response.status_code is not None else (
                "timeout" if response.timed_out else "error"
            )  # fmt: skip
        out.append(
            replace(
                answer.run,
                job=job,
                source="pg_net",
                status=answer.status,
                # pg_cron's end is when the request was queued: pg_net gives no time for the answer itself.
                finished_at=None,
                run_id=str(response.id) if response is not None else answer.run.run_id,
                raw_status=raw or answer.status,
                message=answer.message,
                http_status=response.status_code if response is not None else None,
                detail=detail,
            )
        )
    return out


def unseen_answers(runs: Sequence[Run], job: str, why: str) -> list[Run]:
    """pg_cron's `succeeded` for a pg_net job only says the request was queued: without its answer the run's
    outcome is not known (`why`: why the answers could not be read)."""
    from dataclasses import replace

    return [
        replace(
            r,
            job=job,
            source="pg_net",
            status="unverified",
            finished_at=None,
            message=why,
            raw_status="unverified",
            detail={"attribution": "none", "pg_cron_runid": r.run_id, "how": why, "candidates": []},
        )
        for r in runs
        if r.status == "succeeded"
    ]


def _answer_json(response: NetResponse) -> dict[str, object]:
    return {
        "response_id": response.id,
        "created": response.created,
        "http_status": response.status_code,
        "timed_out": response.timed_out,
        "message": response.message,
    }
