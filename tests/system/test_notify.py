"""Notifications on change (`triage --notify URL`, `[notify]`), against a local receiver that records what it got."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cli_runner import run_cli
from cronctl.services import notify
from hostile_server import HostileServer
from ops_systems import Receiver, runbook_text, set_state, write_runbook

SECRET = "Sx9-notify-bearer-7f3c1e0b2a"


def _env(tmp_path: Path, dsn: str, hook: str | None = None, **extra: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "OPS_DATABASE_URL": dsn,
        "CRONCTL_STATE_DIR": str(tmp_path / "state"),
        "CRONCTL_AUDIT_FILE": str(tmp_path / "audit.jsonl"),
        "OPS_SECRET": SECRET,
    }
    if hook is not None:
        env["OPS_HOOK"] = hook
    env.update(extra)
    return env


def _audit(tmp_path: Path) -> list[dict]:
    path = tmp_path / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _notify_table(kind: str = "webhook", timeout: str = "5s") -> str:
    return f'[notify]\nurl = "${{OPS_HOOK}}"\nkind = "{kind}"\ntimeout = "{timeout}"\n'


def test_sent_only_on_change_including_recovery(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table()))
    with Receiver() as receiver:
        env = _env(tmp_path, clean_db, receiver.url("/hook/abcdefghijklmnop"))
        set_state(clean_db, "ok")
        first = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert first.exit_code == 0, first.output
        assert receiver.requests == []  # healthy on the first run: nothing to say, the state is recorded
        assert list((tmp_path / "state" / "notify").glob("*.json"))

        set_state(clean_db, "failing")
        failing = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert failing.exit_code == 2
        assert len(receiver.requests) == 1
        body = receiver.bodies()[0]
        assert body["previous_status"] == "ok" and body["status"] == "crit" and body["change"] == "new"
        assert json.loads(failing.stdout)["status"] == "crit"
        assert {"jobs", "findings", "checks", "backlog", "locks", "generated_at"} <= set(body)
        assert body["jobs"][0]["name"] == "collect" and body["jobs"][0]["state"] == "failing"
        assert receiver.requests[0][1]["content-type"] == "application/json"
        assert "notified webhook (127.0.0.1) for ops: new (was OK)" in failing.stderr

        again = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert again.exit_code == 2 and len(receiver.requests) == 1  # same status, same problems: silent

        # A different failure message is not a change: only the status and the set of problems count.
        set_state(clean_db, "failing", message="HTTP 502: bad gateway")
        assert run_cli("triage", "-r", str(runbook), "-f", "json", env=env).exit_code == 2
        assert len(receiver.requests) == 1

        set_state(clean_db, "ok")
        recovered = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert recovered.exit_code == 0
        assert len(receiver.requests) == 2
        last = receiver.bodies()[1]
        assert last["status"] == "ok" and last["previous_status"] == "crit" and last["change"] == "recovered"
    records = [r for r in _audit(tmp_path) if r["action"] == "notify"]
    assert [r["result"] for r in records] == ["sent", "sent"]
    assert records[0]["details"]["change"] == "new" and records[1]["details"]["previous_status"] == "crit"


def test_slack_message_most_urgent_first_and_escaped(clean_db: str, tmp_path: Path) -> None:
    backlog = "SELECT 7 AS value"  # warn (>= 5): less urgent than the failing job
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table("slack"), backlog_sql=backlog))
    with Receiver() as receiver:
        env = _env(tmp_path, clean_db, receiver.url())
        set_state(clean_db, "failing", message="HTTP 500 <!channel> & <https://evil.example|click>")
        result = run_cli("triage", "-r", str(runbook), env=env)
        assert result.exit_code == 2, result.output
        assert len(receiver.requests) == 1
        body = receiver.bodies()[0]
        assert set(body) == {"text"}
        text = body["text"]
        assert text.startswith("*CRITICAL* · triage: ops")
        assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "&amp;" in text
        lines = text.splitlines()
        job = next(i for i, line in enumerate(lines) if "job *collect* failing" in line)
        backlog_line = next(i for i, line in enumerate(lines) if "backlog *pending* warn" in line)
        assert job < backlog_line
        assert lines[job].startswith("• [crit]") and lines[backlog_line].startswith("• [warn]")


def test_notify_flag_overrides_and_masks_the_url_and_secrets(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(secret_env="OPS_SECRET"))
    with Receiver() as receiver:
        hook = receiver.url("/services/T01/B02/supersecrettokenvalue42")
        env = _env(tmp_path, clean_db, hook)
        set_state(clean_db, "failing", message=f"HTTP 401: rejected Bearer {SECRET}")
        result = run_cli("triage", "-r", str(runbook), "--notify", "${OPS_HOOK}", "--notify-kind", "webhook",
                         "-f", "json", env=env)  # fmt: skip
        assert result.exit_code == 2, result.output
        assert len(receiver.requests) == 1
        path, _, raw = receiver.requests[0]
        assert path == "/services/T01/B02/supersecrettokenvalue42"
        assert SECRET not in raw.decode() and "****" in raw.decode()
        audit = (tmp_path / "audit.jsonl").read_text()
        for text in (result.stdout, result.stderr, audit):
            assert "supersecrettokenvalue42" not in text and SECRET not in text
        state = next((tmp_path / "state" / "notify").glob("*.json")).read_text()
        assert SECRET not in state and "supersecrettokenvalue42" not in state


@pytest.mark.parametrize("status", [500, 302])
def test_failing_webhook_is_reported_and_keeps_the_exit_code(clean_db: str, tmp_path: Path, status: int) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table()))
    set_state(clean_db, "failing")
    with Receiver(status=status, answer=b"no_service") as receiver:
        env = _env(tmp_path, clean_db, receiver.url("/hook/abcdefghijklmnop"))
        result = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert result.exit_code == 2  # the verdict's code, not the notification's
        assert json.loads(result.stdout)["status"] == "crit"
        assert f"HTTP {status}" in result.stderr and "failed" in result.stderr
        assert "exit code is unchanged" in result.stderr
        records = [r for r in _audit(tmp_path) if r["action"] == "notify"]
        assert records[-1]["result"] == "failed" and records[-1]["details"]["http_status"] == status
        # The state did not advance: the next run tries again, and succeeds once the receiver is fixed.
        receiver.status = 200
        retried = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert retried.exit_code == 2
        assert len(receiver.requests) == 2
        assert receiver.bodies()[1]["previous_status"] is None and receiver.bodies()[1]["change"] == "new"


def test_a_silent_webhook_is_cut_off_by_its_deadline(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table(timeout="0.5s")))
    set_state(clean_db, "failing")
    with HostileServer() as hostile:
        env = _env(tmp_path, clean_db, f"{hostile.url}/drip-head/token-abcdefghijkl")
        began = time.monotonic()
        result = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        took = time.monotonic() - began
    assert result.exit_code == 2
    assert "no complete answer within 0.5s" in result.stderr
    assert took < 6, took


def test_unreachable_database_notifies_unknown(tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table()))
    with Receiver() as receiver:
        env = _env(tmp_path, "postgresql://nobody:pw@127.0.0.1:9/none", receiver.url("/hook/abcdefghijklmnop"))
        result = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert result.exit_code == 3
        assert "cannot connect" in result.stderr
        body = receiver.bodies()[0]
        assert body["status"] == "unknown" and body["previous_status"] is None
        assert "cannot connect" in body["error"]
        again = run_cli("triage", "-r", str(runbook), "-f", "json", env=env)
        assert again.exit_code == 3 and len(receiver.requests) == 1


def test_watch_notifies_once_per_change(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table()))
    set_state(clean_db, "failing")
    with Receiver() as receiver:
        env = _env(tmp_path, clean_db, receiver.url("/hook/abcdefghijklmnop"))
        result = run_cli("triage", "-r", str(runbook), "--watch", "--interval", "0.2", "--max-rounds", "3",
                         "-f", "json", env=env)  # fmt: skip
        assert result.exit_code == 2, result.output
        assert len(receiver.requests) == 1


def test_state_is_kept_per_profile(clean_db: str, tmp_path: Path) -> None:
    profiles = {"staging": {"OPS_DATABASE_URL": clean_db}, "prod": {"OPS_DATABASE_URL": clean_db}}
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table(), profiles=profiles))
    set_state(clean_db, "failing")
    with Receiver() as receiver:
        env = _env(tmp_path, clean_db, receiver.url("/hook/abcdefghijklmnop"), OPS_DATABASE_URL=None)  # type: ignore[arg-type]
        for profile in ("staging", "prod", "staging"):
            assert run_cli("triage", "-r", str(runbook), "-p", profile, "-f", "json", env=env).exit_code == 2
        assert [b["profile"] for b in receiver.bodies()] == ["staging", "prod"]
    assert len(list((tmp_path / "state" / "notify").glob("*.json"))) == 2


def test_no_notify_and_bad_options(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table()))
    set_state(clean_db, "failing")
    with Receiver() as receiver:
        env = _env(tmp_path, clean_db, receiver.url("/hook/abcdefghijklmnop"))
        assert run_cli("triage", "-r", str(runbook), "--no-notify", "-f", "json", env=env).exit_code == 2
        assert receiver.requests == []
        bad = run_cli("triage", "-r", str(runbook), "--notify", "ftp://example.com/x", env=env)
        assert bad.exit_code == 3 and "--notify: not an http(s) URL" in bad.stderr
        kind = run_cli("triage", "-r", str(runbook), "--notify-kind", "teams", env=env)
        assert kind.exit_code == 3 and "--notify-kind" in kind.stderr
        past = run_cli("triage", "-r", str(runbook), "--notify", "${OPS_HOOK}", "--at", "2024-01-01T00:00Z", env=env)
        assert past.exit_code == 3 and "--at" in past.stderr
        # `--at` judges the past: the runbook's [notify] is not used.
        assert run_cli("triage", "-r", str(runbook), "--at", "2024-01-01T00:00Z", "-f", "json", env=env).exit_code
        assert receiver.requests == []


def test_unset_notify_variable_is_a_warning_not_an_exit_code(clean_db: str, tmp_path: Path) -> None:
    runbook = write_runbook(tmp_path / "rb.toml", runbook_text(notify=_notify_table()))
    set_state(clean_db, "failing")
    result = run_cli("triage", "-r", str(runbook), "-f", "json", env=_env(tmp_path, clean_db, OPS_HOOK=None))  # type: ignore[arg-type]
    assert result.exit_code == 2
    assert "OPS_HOOK is not set" in result.stderr


def test_runbook_notify_validation(tmp_path: Path) -> None:
    literal = write_runbook(tmp_path / "a.toml", runbook_text(notify='[notify]\nurl = "https://hooks.slack.com/x"\n'))
    result = run_cli("jobs", "-r", str(literal))
    assert result.exit_code == 2 and "notify.url" in result.stderr and "hooks.slack.com/x" not in result.stderr
    kind = write_runbook(tmp_path / "b.toml", runbook_text(notify='[notify]\nurl = "${X}"\nkind = "teams"\n'))
    assert "notify.kind" in run_cli("jobs", "-r", str(kind)).stderr


# ---------------------------------------------------------------- pure parts


def _doc(status: str, jobs: list[tuple[str, str]], **more: object) -> dict:
    return {"status": status, "runbook": "x", "jobs": [{"name": n, "state": s, "reason": "r"} for n, s in jobs],
            **more}  # fmt: skip


def test_compare_semantics() -> None:
    ok = _doc("ok", [("a", "ok")])
    failing = _doc("crit", [("a", "failing")])
    assert notify.compare(None, "ok", notify.problems(ok)) is None
    first = notify.compare(None, "crit", notify.problems(failing))
    assert first is not None and first.kind == "new" and first.previous_status is None
    saved = {"status": "crit", "problems": [list(p.key) for p in notify.problems(failing)]}
    assert notify.compare(saved, "crit", notify.problems(failing)) is None
    worse = _doc("crit", [("a", "failing"), ("b", "missed")])
    change = notify.compare(saved, "crit", notify.problems(worse))
    assert change is not None and change.kind == "changed" and [p.name for p in change.added] == ["b"]
    back = notify.compare(saved, "ok", notify.problems(ok))
    assert back is not None and back.kind == "recovered" and back.resolved == (("job", "a", "failing"),)


def test_silenced_problems_do_not_count() -> None:
    doc = _doc("ok", [])
    doc["jobs"] = [{"name": "a", "state": "failing", "severity": "crit", "silenced": {"until": "later"}}]
    assert notify.problems(doc) == []


def test_problems_are_ordered_by_urgency() -> None:
    doc = _doc("crit", [("w", "unverified"), ("c", "missed")], backlog=[{"name": "b", "verdict": "crit", "value": 9}])
    assert [(p.severity, p.kind, p.name) for p in notify.problems(doc)] == [
        ("crit", "job", "c"), ("crit", "backlog", "b"), ("warn", "job", "w"),
    ]  # fmt: skip
