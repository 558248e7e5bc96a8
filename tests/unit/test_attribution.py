"""Linking pg_net answers to the pg_cron runs that queued them. Pure: fixed `now`, no database.

The data is shaped like real pg_net 0.20 with pg_cron: co-firing jobs start within milliseconds of each other,
request ids come in a different order than runids, every answer of a batch carries the batch start as
`created`, and a timeout says "Timeout of N ms reached".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronctl.evaluate.attribution import attribute
from cronctl.evaluate.triage import net_judge
from cronctl.records import NetResponse, QueuedRequest, Run, TrackedRequest
from cronctl.runbook.model import SuccessRule

T0 = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5, seconds=20)
JOBS = ("dispatch", "sync", "quotas")
JUDGE = net_judge({"sync": SuccessRule(require=("success == true",))}, 4096)


def _minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def _cofiring(
    minutes: int = 5, status: dict[str, int] | None = None, body: dict[str, str] | None = None
) -> tuple[dict[str, list[Run]], list[NetResponse], list[TrackedRequest]]:
    """Three every-minute jobs firing in the same second; request ids in reverse order of runids."""
    runs: dict[str, list[Run]] = {j: [] for j in JOBS}
    answers: list[NetResponse] = []
    tracked: list[TrackedRequest] = []
    runid, request = 1000, 500
    for m in range(minutes):
        tick = _minute(m)
        for i, job in enumerate(JOBS):
            start = tick + timedelta(milliseconds=20 + 3 * i)
            pid = 7000 + runid
            runs[job].insert(
                0,
                Run(job, "pg_cron", "succeeded", start, start + timedelta(milliseconds=12), str(runid),
                    raw_status="succeeded", message="1 row", detail={"job_pid": pid}),
            )  # fmt: skip
            rid = request + (len(JOBS) - 1 - i)  # ids in a different order than runids
            code = (status or {}).get(job, 200)
            answers.append(
                NetResponse(
                    rid, tick + timedelta(milliseconds=80), code, content=(body or {}).get(job, '{"success": true}')
                )
            )
            tracked.append(TrackedRequest(rid, pid, start + timedelta(milliseconds=4), "POST", f"http://fn/{job}"))
            runid += 1
        request += len(JOBS)
    return runs, answers, tracked


def _timeouts() -> dict[str, float]:
    return dict.fromkeys(JOBS, 5.0)


def _states(result: object) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for answer in result.answers.values():  # type: ignore[attr-defined]
        out.setdefault(answer.cron, set()).add((answer.attribution, answer.status))
    return out


def test_cofiring_all_good_answers_make_every_job_ok_without_tracking() -> None:
    runs, answers, _ = _cofiring()
    states = _states(attribute(runs, answers, _timeouts(), NOW, JUDGE))
    assert states == {job: {("inferred", "succeeded")} for job in JOBS}


def test_cofiring_with_one_job_failing_makes_every_candidate_unverified_without_tracking() -> None:
    runs, answers, _ = _cofiring(status={"dispatch": 401})
    result = attribute(runs, answers, _timeouts(), NOW, JUDGE)
    assert _states(result) == {job: {("ambiguous", "unverified")} for job in JOBS}
    some = next(iter(result.answers.values()))
    assert set(some.candidates) == set(JOBS) and "401" in (some.message or "")
    assert all(len(cands) == 3 for cands in result.unplaced().values())


def test_tracking_attributes_every_answer_exactly_whatever_the_id_order() -> None:
    runs, answers, tracked = _cofiring(status={"dispatch": 401})
    result = attribute(runs, answers, _timeouts(), NOW, JUDGE, tracked=tracked)
    assert _states(result) == {
        "dispatch": {("exact", "failed")},
        "sync": {("exact", "succeeded")},
        "quotas": {("exact", "succeeded")},
    }
    owners = result.owners()
    by_id = {t.request_id: t.backend_pid for t in tracked}
    for answer in result.answers.values():
        assert answer.response is not None and by_id[answer.response.id] == answer.run.detail["job_pid"]
    assert len(owners) == len(answers)


def test_success_rule_applies_per_job_a_200_with_success_false_fails() -> None:
    runs, answers, tracked = _cofiring(body={"sync": '{"success": false, "error": "upstream 500"}'})
    states = _states(attribute(runs, answers, _timeouts(), NOW, JUDGE, tracked=tracked))
    assert states["sync"] == {("exact", "failed")} and states["dispatch"] == {("exact", "succeeded")}
    # Without tracking the same body is good for the jobs without a rule and bad for sync: not uniform.
    states = _states(attribute(runs, answers, _timeouts(), NOW, JUDGE))
    assert states["sync"] == {("ambiguous", "unverified")}


def test_a_timeout_only_one_job_sets_places_the_answer() -> None:
    runs, answers, _ = _cofiring(minutes=1)
    timeouts = {"dispatch": 5.0, "sync": 15.0, "quotas": 5.0}
    late = NetResponse(answers[1].id, answers[1].created, None, timed_out=True,
                       error_msg="Timeout of 15000 ms reached. Total time: 15001.2 ms")  # fmt: skip
    answers[1] = late
    result = attribute(runs, answers, timeouts, NOW, JUDGE)
    sync = [a for a in result.answers.values() if a.cron == "sync"]
    assert [(a.attribution, a.status) for a in sync] == [("inferred", "failed")]


def test_runs_strictly_ordered_in_time_take_ids_in_order() -> None:
    start = T0
    runs = {
        "a": [Run("a", "pg_cron", "succeeded", start, start + timedelta(seconds=1), "1")],
        "b": [Run("b", "pg_cron", "succeeded", start + timedelta(seconds=2), start + timedelta(seconds=3), "2")],
    }
    answers = [
        NetResponse(10, start + timedelta(seconds=2.5), 500),
        NetResponse(11, start + timedelta(seconds=3.5), 200),
    ]
    result = attribute(runs, answers, {"a": 5.0, "b": 5.0}, NOW, JUDGE)
    assert result.answers[("a", "1")].status == "failed" and result.answers[("b", "2")].status == "succeeded"


def test_each_run_takes_the_first_batch_after_it_was_queued() -> None:
    """pg_net stamps every answer of a batch with the batch start: a run queued while a batch was starting goes
    into the next batch. Here `early` ended before batch 1 started, `late` after it: one answer each."""
    start = T0
    runs = {
        "early": [Run("early", "pg_cron", "succeeded", start, start + timedelta(milliseconds=10), "1")],
        "late": [Run("late", "pg_cron", "succeeded", start + timedelta(milliseconds=40),
                     start + timedelta(milliseconds=60), "2")],
    }  # fmt: skip
    answers = [
        NetResponse(20, start + timedelta(milliseconds=50), 401),
        NetResponse(21, start + timedelta(milliseconds=900), 200),
    ]
    result = attribute(runs, answers, {"early": 5.0, "late": 60.0}, NOW, JUDGE)
    assert result.answers[("early", "1")].status == "failed"
    assert result.answers[("late", "2")].status == "succeeded"


def test_cofiring_runs_share_one_batch_and_stay_ambiguous_when_answers_differ() -> None:
    start = T0
    runs = {
        "short": [Run("short", "pg_cron", "succeeded", start, start + timedelta(milliseconds=10), "1")],
        "long": [Run("long", "pg_cron", "succeeded", start, start + timedelta(milliseconds=12), "2")],
    }
    batch = start + timedelta(milliseconds=300)
    answers = [NetResponse(20, batch, 401), NetResponse(21, batch, 200)]
    result = attribute(runs, answers, {"short": 5.0, "long": 60.0}, NOW, JUDGE)
    assert {a.status for a in result.answers.values()} == {"unverified"}


def test_fewer_answers_than_runs_in_a_shared_window_stays_ambiguous() -> None:
    start = T0
    runs = {
        "a": [Run("a", "pg_cron", "succeeded", start, start, "1")],
        "b": [Run("b", "pg_cron", "succeeded", start + timedelta(seconds=1), start + timedelta(seconds=1), "2")],
    }
    result = attribute(runs, [NetResponse(9, start + timedelta(seconds=2), 500)], {"a": 5.0, "b": 5.0}, NOW, JUDGE)
    assert {a.status for a in result.answers.values()} == {"unverified"}


def test_queued_request_with_a_url_only_one_job_calls_is_pending_then_stalled() -> None:
    start = NOW - timedelta(seconds=3)
    runs = {"a": [Run("a", "pg_cron", "succeeded", start, start, "1")]}
    queued = [QueuedRequest(30, "POST", "https://x.supabase.co/functions/v1/a?x=1", 5000)]
    urls = {"a": "https://x.supabase.co/functions/v1/a"}
    fresh = attribute(runs, [], {"a": 5.0}, NOW, JUDGE, queued=queued, urls=urls)
    assert fresh.answers[("a", "1")].status == "pending"
    later = attribute(runs, [], {"a": 5.0}, NOW + timedelta(minutes=5), JUDGE, queued=queued, urls=urls)
    stalled = later.answers[("a", "1")]
    assert stalled.status == "unverified" and "still queued" in (stalled.message or "")


def test_answer_not_in_yet_is_pending_and_an_expired_one_unverified() -> None:
    recent = NOW - timedelta(seconds=2)
    old = NOW - timedelta(hours=7)
    runs = {
        "a": [Run("a", "pg_cron", "succeeded", recent, recent, "2"), Run("a", "pg_cron", "succeeded", old, old, "1")]
    }
    result = attribute(runs, [], {"a": 5.0}, NOW, JUDGE)
    assert result.answers[("a", "2")].status == "pending"
    assert result.answers[("a", "1")].status == "unverified" and "expired" in (result.answers[("a", "1")].message or "")


def test_a_tracked_request_from_outside_any_run_is_never_given_to_a_run() -> None:
    """A manual net.http_post from psql lands in a job's time window: tracking says it is nobody's run."""
    start = T0
    runs = {"a": [Run("a", "pg_cron", "succeeded", start, start, "1", detail={"job_pid": 100})]}
    answers = [
        NetResponse(40, start + timedelta(seconds=0.5), 200),
        NetResponse(41, start + timedelta(seconds=0.6), 500),
    ]
    tracked = [TrackedRequest(40, 100, start), TrackedRequest(41, 999, start + timedelta(seconds=0.1))]
    result = attribute(runs, answers, {"a": 5.0}, NOW, JUDGE, tracked=tracked)
    assert result.answers[("a", "1")].status == "succeeded" and result.answers[("a", "1")].attribution == "exact"
    assert [r.id for r in result.unlinked] == [41]


def test_runs_in_non_final_or_failed_states_get_no_answer() -> None:
    start = T0
    runs = {"a": [Run("a", "pg_cron", "failed", start, start, "1", message='ERROR:  schema "net" does not exist'),
                  Run("a", "pg_cron", "running", start, None, "2")]}  # fmt: skip
    assert attribute(runs, [], {"a": 5.0}, NOW, JUDGE).answers == {}
