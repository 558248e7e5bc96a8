"""`cronctl init --from-github` reads workflows with a real YAML parser (anchors, aliases, multi-line scalars;
invalid YAML refused with file and line), keeps every schedule, finds curl wherever a script runs it; and
`--from-vercel` matches `functions` glob patterns for maxDuration. Hand-written files, no third-party copies."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cli_runner import run_cli
from cronctl.init.github import curl_commands, drafts_from_workflow
from cronctl.init.vercel import glob_regex
from cronctl.init.yamlish import YamlError, loads
from cronctl.runbook.loader import load_runbook

ANCHORS = textwrap.dedent(
    """\
    name: Sync partners
    "on":
      schedule:
        - cron: "*/30 * * * *"
        - cron: '15 4 * * 1-5'
      workflow_dispatch:
    x-call: &call
      runs-on: ubuntu-latest
      env: &env
        BASE: ${{ vars.PARTNER_URL }}
    jobs:
      sync:
        <<: *call
        env:
          <<: *env
          EXTRA: 1
        steps:
          - name: call
            run: curl --fail -X POST
              "$BASE/api/sync"
              -H "Authorization:Bearer ${{ secrets.PARTNER_TOKEN }}"
              --max-time 45
    """
)

SUBSHELL = textwrap.dedent(
    """\
    on:
      schedule:
        - cron: '0 6 * * *'
    env:
      HEALTH_URL: https://status.example.test/cron/health
    jobs:
      check:
        runs-on: ubuntu-latest
        steps:
          - run: |
              set -euo pipefail
              HTTP=$(curl -s -o /tmp/out -w "%{http_code}" \\
                -H "x-cron-secret: $CRON_SECRET" "$HEALTH_URL")
              test "$HTTP" = 200
    """
)

INVALID = textwrap.dedent(
    """\
    on:
      schedule:
        - cron: '0 1 * * *'
    jobs:
      run:
        steps:
          - run: curl -H "Authorization: Bearer $KEY" https://x.test
    """
)


def test_anchors_aliases_and_multi_line_plain_scalars() -> None:
    data = loads(ANCHORS, "sync.yml")
    assert data["on"]["workflow_dispatch"] is None
    job = data["jobs"]["sync"]
    assert job["runs-on"] == "ubuntu-latest" and job["env"]["BASE"] == "${{ vars.PARTNER_URL }}"
    assert job["steps"][0]["run"].startswith('curl --fail -X POST "$BASE/api/sync" -H')


def test_yes_no_on_stay_strings() -> None:
    data = loads("on: push\nenv:\n  A: yes\n  B: off\n  C: true\n")
    assert data == {"on": "push", "env": {"A": "yes", "B": "off", "C": True}}


@pytest.mark.parametrize(
    ("text", "line"),
    [(INVALID, 7), ("on:\n  schedule: [\n", 3), ("a: 1\n\tb: 2\n", 2), ("a: 1\n---\nb: 2\n", None)],
)
def test_invalid_yaml_is_refused_with_file_and_line(text: str, line: int | None) -> None:
    with pytest.raises(YamlError) as caught:
        loads(text, "wf.yml")
    assert str(caught.value).startswith(f"wf.yml:{line}:" if line else "wf.yml:")


def test_every_schedule_is_kept_as_its_own_job() -> None:
    drafts = drafts_from_workflow("sync.yml", loads(ANCHORS))
    assert [(d.name, d.schedule) for d in drafts] == [("sync", "*/30 * * * *"), ("sync-2", "15 4 * * 1-5")]
    for d in drafts:
        assert (d.method, d.url, d.timeout, d.workflow) == ("POST", "${PARTNER_URL}/api/sync", 45.0, "sync.yml")
        assert (d.auth.kind, d.auth.secret_env) == ("bearer", "PARTNER_TOKEN")
        assert any("2 schedules" in n for n in d.notes)


def test_curl_inside_command_substitution_and_env_url() -> None:
    [args] = curl_commands(loads(SUBSHELL)["jobs"]["check"]["steps"][0]["run"])
    assert args[-1] == "$HEALTH_URL" and "%{http_code}" in args
    [draft] = drafts_from_workflow("health.yml", loads(SUBSHELL))
    assert draft.url == "https://status.example.test/cron/health" and draft.method == "GET"
    assert (draft.auth.kind, draft.auth.header, draft.auth.secret_env) == ("header", "x-cron-secret", "CRON_SECRET")
    assert draft.workflow is None  # no workflow_dispatch: fired by its URL


@pytest.mark.parametrize(
    "script",
    [
        'echo start && curl -X POST "$U/a" | jq .',
        "out=`curl -s -X POST $U/a`",
        "if ! curl -fsS -X POST ${U}/a; then exit 1; fi",
        "curl \\\n  -X POST \\\n  ${U}/a\n",
        "curl -X POST $U/a -d '{\n  \"n\": 1\n}'",
    ],
)
def test_curl_is_found_wherever_a_script_runs_it(script: str) -> None:
    [args] = curl_commands(script)
    assert "POST" in args and any(a.endswith("/a") for a in args)


def test_init_from_github_writes_and_refuses_invalid_files(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "sync.yml").write_text(ANCHORS)
    (folder / "health.yaml").write_text(SUBSHELL)
    (folder / "broken.yml").write_text(INVALID)
    out = tmp_path / "gh.toml"
    result = run_cli("init", "--from-github", str(folder), "-o", str(out), "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert any("broken.yml:7" in s and "not valid YAML" in s for s in data["skipped_sources"])
    runbook = load_runbook(out)
    assert {"sync", "sync-2", "health"} <= set(runbook.jobs)
    assert runbook.jobs["sync-2"].schedule == "15 4 * * 1-5"


VERCEL = {
    "crons": [
        {"path": "/api/cron/refresh-tokens", "schedule": "0 */6 * * *"},
        {"path": "/api/cron/sync-campaigns", "schedule": "0 * * * *"},
        {"path": "/api/reports/daily", "schedule": "0 7 * * *"},
        {"path": "/api/cleanup", "schedule": "0 2 * * *"},
        {"path": "/api/other", "schedule": "0 3 * * *"},
    ],
    "functions": {
        "app/api/cron/*/route.ts": {"maxDuration": 120},
        "app/api/cron/refresh-tokens/route.ts": {"maxDuration": 300},
        "src/pages/api/reports/**/*.{js,ts}": {"maxDuration": 60},
        "api/clean?p.py": {"maxDuration": 10},
        "api/cleanup.go": {"maxDuration": 15},
    },
}


def test_vercel_functions_globs_decide_max_duration(tmp_path: Path) -> None:
    vercel = tmp_path / "vercel.json"
    vercel.write_text(json.dumps(VERCEL))
    out = tmp_path / "v.toml"
    result = run_cli("init", "--from-vercel", str(vercel), "-o", str(out))
    assert result.exit_code == 0, result.output
    jobs = load_runbook(out).jobs
    assert jobs["refresh-tokens"].timeout == 300  # the most specific pattern wins
    assert jobs["sync-campaigns"].timeout == 120
    assert jobs["reports-daily"].timeout == 60
    assert jobs["cleanup"].timeout == 15
    assert "maxDuration" in out.read_text()  # /api/other has none: a TODO


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("api/*.js", "api/a.js", True),
        ("api/*.js", "api/x/a.js", False),
        ("api/**/*.js", "api/x/y/a.js", True),
        ("api/**/*.js", "api/a.js", True),
        ("app/**/route.{ts,js}", "app/api/cron/x/route.js", True),
        ("./api/a.ts", "api/a.ts", True),
    ],
)
def test_glob_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is matches
