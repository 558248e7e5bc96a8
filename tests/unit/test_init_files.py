"""`cronctl init --from-vercel` / `--from-github`: seed 001's vercel.json and seed 004's workflows as test data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import run_cli
from cronctl.init.github import curl_commands
from cronctl.init.yamlish import loads
from cronctl.runbook.loader import load_runbook

VERCEL_JSON = {
    "crons": [
        {"path": "/api/cron/refresh-tokens", "schedule": "0 */6 * * *"},
        {"path": "/api/cron/sync-campaigns", "schedule": "0 */1 * * *"},
        {"path": "/api/cron/cleanup-expired-tokens", "schedule": "0 2 * * *"},
    ],
    "functions": {"app/api/cron/refresh-tokens/route.ts": {"maxDuration": 300}},
}

T5 = """\
name: Generate T5 invoices   # nightly
on:
  schedule:
    - cron: '0 1 * * *'
  workflow_dispatch: {}
jobs:
  invoke:
    runs-on: ubuntu-latest
    env:
      SUPABASE_URL: ${{ secrets.SUPABASE_URL }}
      SUPABASE_SERVICE_ROLE_KEY: ${{ secrets.SUPABASE_SERVICE_ROLE_KEY }}
    steps:
      - name: Call function
        run: |
          curl -sS -X POST "${SUPABASE_URL}/functions/v1/generate-t5-invoices" \\
            -H "Authorization: Bearer ${SUPABASE_SERVICE_ROLE_KEY}" \\
            -H "apikey: ${SUPABASE_SERVICE_ROLE_KEY}" \\
            -H "Content-Type: application/json" \\
            -d '{}'
"""

ESCALATION = """\
name: "Run escalation orchestration"
on:
  workflow_dispatch:
    inputs:
      force:
        description: Force
        default: 'false'
  schedule:
  - cron: "0 2 * * *"
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v4
    - name: Invoke
      env:
        CRON_SECRET: ${{ secrets.CRON_SECRET }}
      run: >-
        curl --fail -X POST "${{ secrets.SUPABASE_URL }}/functions/v1/run-escalation-orchestration"
        -H "Authorization: Bearer $CRON_SECRET" -H 'Content-Type: application/json'
        --data-raw '{"force":false}' --max-time 60 | jq .success
"""

ZOOM = """\
name: schedule-create-zoom
on:
  schedule:
    - cron: '*/15 * * * *'
  workflow_dispatch:
    inputs:
      force_invoke:
        type: boolean
jobs:
  schedule:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-node@v4
      - run: node scheduler.js
        env:
          EDGE_FUNCTION_URL: ${{ secrets.EDGE_FUNCTION_URL }}
"""

WORKER = """\
on:
  schedule: [{cron: '* * * * *'}]
jobs:
  worker:
    runs-on: ubuntu-latest
    steps:
      - run: |
          curl -X POST "$SUPABASE_URL/functions/v1/notification-worker" -H "Authorization: Bearer $KEY" {DATA}
"""

NOT_SCHEDULED = """\
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: pytest
"""


WORKER = WORKER.replace("{DATA}", """-d '{"limit":5,"runs":1}'""")


def write_workflows(root: Path) -> Path:
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "generate-t5-invoices.yaml").write_text(T5)
    (workflows / "run-escalation-orchestration.yml").write_text(ESCALATION)
    (workflows / "schedule-create-zoom.yaml").write_text(ZOOM)
    (workflows / "run-worker-queue.yaml").write_text(WORKER)
    (workflows / "ci.yml").write_text(NOT_SCHEDULED)
    return workflows


def test_yaml_subset() -> None:
    data = loads(T5)
    assert data["name"] == "Generate T5 invoices"
    assert data["on"]["schedule"] == [{"cron": "0 1 * * *"}]
    assert data["on"]["workflow_dispatch"] == {}
    step = data["jobs"]["invoke"]["steps"][0]
    assert step["name"] == "Call function"
    assert step["run"].startswith('curl -sS -X POST "${SUPABASE_URL}')
    assert step["run"].endswith("-d '{}'\n")
    esc = loads(ESCALATION)
    assert esc["on"]["schedule"] == [{"cron": "0 2 * * *"}]
    assert esc["on"]["workflow_dispatch"]["inputs"]["force"]["default"] == "false"
    assert "\n" not in esc["jobs"]["run"]["steps"][1]["run"]
    assert loads(WORKER)["on"]["schedule"] == [{"cron": "* * * * *"}]
    assert loads(NOT_SCHEDULED)["on"] == ["push"]


def test_curl_reading() -> None:
    [args] = curl_commands(loads(T5)["jobs"]["invoke"]["steps"][0]["run"])
    assert args[:3] == ["-sS", "-X", "POST"]
    assert "Authorization: Bearer ${SUPABASE_SERVICE_ROLE_KEY}" in args


def test_init_from_vercel(tmp_path: Path) -> None:
    vercel = tmp_path / "vercel.json"
    vercel.write_text(json.dumps(VERCEL_JSON))
    out = tmp_path / "ads.toml"
    result = run_cli("init", "--from-vercel", str(vercel), "-o", str(out), "-f", "json")
    assert result.exit_code == 0, result.output
    runbook = load_runbook(out)
    assert list(runbook.jobs) == ["refresh-tokens", "sync-campaigns", "cleanup-expired-tokens"]
    job = runbook.jobs["refresh-tokens"]
    assert (job.method, job.url, job.scheduler) == ("GET", "${APP_URL}/api/cron/refresh-tokens", "vercel")
    assert (job.auth.kind, job.auth.secret_env) == ("bearer", "CRON_SECRET")
    assert job.timeout == 300
    assert "maxDuration" in out.read_text()  # a TODO for the routes without one

    listed = run_cli("jobs", "-r", str(out), "-f", "json")
    schedules = {j["name"]: j["schedule"] for j in json.loads(listed.stdout)["jobs"]}
    assert schedules == {
        "refresh-tokens": "0 */6 * * *",
        "sync-campaigns": "0 */1 * * *",
        "cleanup-expired-tokens": "0 2 * * *",
    }


def test_init_from_github_workflows(tmp_path: Path) -> None:
    workflows = write_workflows(tmp_path)
    out = tmp_path / "billing.toml"
    result = run_cli("init", "--from-github", str(workflows), "-o", str(out), "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert any("ci.yml" in s for s in data["skipped_sources"])
    runbook = load_runbook(out)
    assert set(runbook.jobs) == {
        "generate-t5-invoices",
        "run-escalation-orchestration",
        "schedule-create-zoom",
        "run-worker-queue",
    }
    t5 = runbook.jobs["generate-t5-invoices"]
    assert t5.url == "${SUPABASE_URL}/functions/v1/generate-t5-invoices"
    assert (t5.auth.kind, t5.auth.secret_env, t5.auth.apikey_env) == (
        "bearer",
        "SUPABASE_SERVICE_ROLE_KEY",
        "SUPABASE_SERVICE_ROLE_KEY",
    )
    assert t5.body == {} and t5.scheduler == "github"
    assert t5.dispatch is not None and t5.dispatch.workflow == "generate-t5-invoices.yaml"
    esc = runbook.jobs["run-escalation-orchestration"]
    assert esc.url == "${SUPABASE_URL}/functions/v1/run-escalation-orchestration"
    assert esc.body == {"force": False} and esc.timeout == 60
    assert esc.auth.secret_env == "CRON_SECRET"
    zoom = runbook.jobs["schedule-create-zoom"]
    assert zoom.url is None and zoom.dispatch is not None
    assert "no curl found" in out.read_text()
    worker = runbook.jobs["run-worker-queue"]
    assert worker.url == "${SUPABASE_URL}/functions/v1/notification-worker"
    assert worker.body == {"limit": 5, "runs": 1}
    assert worker.dispatch is None  # the workflow has no workflow_dispatch

    listed = run_cli("jobs", "-r", str(out), "-f", "json")
    assert listed.exit_code == 0, listed.output
    schedules = {j["name"]: j["schedule"] for j in json.loads(listed.stdout)["jobs"]}
    assert schedules == {
        "generate-t5-invoices": "0 1 * * *",
        "run-escalation-orchestration": "0 2 * * *",
        "schedule-create-zoom": "*/15 * * * *",
        "run-worker-queue": "* * * * *",
    }


def test_merge_github_into_vercel_runbook(tmp_path: Path) -> None:
    vercel = tmp_path / "vercel.json"
    vercel.write_text(json.dumps(VERCEL_JSON))
    out = tmp_path / "cronctl.toml"
    assert run_cli("init", "--from-vercel", str(vercel), "-o", str(out)).exit_code == 0
    before = out.read_text()
    result = run_cli("init", "--from-github", str(write_workflows(tmp_path)), "-o", str(out), "--merge")
    assert result.exit_code == 0, result.output
    after = out.read_text()
    assert after.startswith(before.rstrip("\n"))
    assert len(load_runbook(out).jobs) == 7


@pytest.mark.parametrize("bad", ["{", '{"crons": []}', "[]"])
def test_bad_vercel_json(tmp_path: Path, bad: str) -> None:
    vercel = tmp_path / "vercel.json"
    vercel.write_text(bad)
    result = run_cli("init", "--from-vercel", str(vercel), "-o", str(tmp_path / "x.toml"))
    assert result.exit_code == 2
    assert "vercel.json" in result.stderr
    assert "Traceback" not in result.output


def test_force_keeps_the_previous_runbook_and_a_runbook_option_is_not_a_write_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    vercel = tmp_path / "vercel.json"
    vercel.write_text(json.dumps(VERCEL_JSON))
    existing = tmp_path / "hand.toml"
    run_cli("init", "--from-vercel", str(vercel), "-o", str(existing))
    hand_written = existing.read_text() + "\n# a hand edit\n"
    existing.write_text(hand_written)

    # -r names the runbook to read, not a file to replace: without --merge the draft goes to ./cronctl.toml.
    result = run_cli("init", "--from-vercel", str(vercel), "-r", str(existing))
    assert result.exit_code == 0, result.output
    assert existing.read_text() == hand_written
    assert (tmp_path / "cronctl.toml").is_file()

    result = run_cli("init", "--from-vercel", str(vercel), "-o", str(existing), "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hand.toml.bak").read_text() == hand_written
    assert "# a hand edit" not in existing.read_text()
    assert "hand.toml.bak" in result.stderr
