"""A credential typed into a cron.job command is a hygiene finding: named by where it sits, never shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cronctl.evaluate.hygiene import CHECKS, credential_places, hygiene_checks
from cronctl.records import CronRow, HygieneFacts
from cronctl.runbook.model import HistorySpec, JobSpec

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.Qm9ndXNTaWduYXR1cmUxMjM"
KEY = "sk_live_51Hq8ZbAcDeFgHiJkLmNoP"
POST = "SELECT net.http_post(url := 'https://abc.supabase.co/functions/v1/send', headers := {headers})"


@pytest.mark.parametrize(
    ("command", "places"),
    [
        (POST.format(headers=f"jsonb_build_object('Authorization', 'Bearer {JWT}')"), ["header Authorization"]),
        (
            POST.format(headers=f"""'{{"Content-Type": "application/json", "apikey": "{KEY}"}}'::jsonb"""),
            ["header apikey"],
        ),
        (POST.format(headers=f"jsonb_build_object('X-Cron-Secret', '{KEY}')"), ["header X-Cron-Secret"]),
        (
            POST.format(headers=f"jsonb_build_object('Authorization', 'Bearer {JWT}', 'apikey', '{JWT}')"),
            ["header Authorization", "header apikey"],
        ),
        (f"SELECT net.http_get('https://api.example.test/v1/sync?apikey={KEY}')", ["query parameter apikey"]),
        (
            f"SELECT net.http_get('https://api.example.test/v1/sync?page=2&access_token={JWT}')",
            ["query parameter access_token"],
        ),
        (f"SELECT net.http_get('https://x.test/hook', params := jsonb_build_object('x', 1)) -- {JWT}", ["a JWT"]),
    ],
    ids=["bearer-jwt", "jsonb-apikey", "secret-header", "two-headers", "query-apikey", "query-token", "bare-jwt"],
)
def test_a_credential_literal_is_found_and_named(command: str, places: list[str]) -> None:
    assert credential_places(command) == places


@pytest.mark.parametrize(
    "command",
    [
        # Read when the job runs: nothing to find.
        POST.format(headers="jsonb_build_object('Authorization', 'Bearer ' || public.get_secret('service_role_key'))"),
        POST.format(
            headers="jsonb_build_object('Authorization', 'Bearer ' || (SELECT decrypted_secret FROM "
            "vault.decrypted_secrets WHERE name = 'service_role_key'))"
        ),
        "SELECT net.http_get('https://api.example.test/v1/sync?apikey=' || public.get_secret('api_key'))",
        "SELECT net.http_get('https://api.example.test/v1/sync?page=12&limit=500')",
        POST.format(headers="jsonb_build_object('Content-Type', 'application/json')"),
        "DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'",
        "CALL public.refresh_materialized_views()",
    ],
)
def test_a_command_that_reads_its_secret_at_run_time_is_clean(command: str) -> None:
    assert credential_places(command) == []


def _facts(*rows: CronRow) -> HygieneFacts:
    return HygieneFacts(role="postgres", cron_installed=True, settings_visible=True, cron_jobs=rows)


def test_the_finding_names_the_job_and_the_header_and_never_the_value() -> None:
    leaky = CronRow("send-emails", "* * * * *", POST.format(headers=f"jsonb_build_object('Authorization', "
                                                            f"'Bearer {JWT}')"), True)  # fmt: skip
    query = CronRow("sync", "*/5 * * * *", f"SELECT net.http_get('https://x.test/s?apikey={KEY}')", False)
    clean = CronRow("tick", "* * * * *", "SELECT 1", True)
    job = JobSpec(name="emails", url="https://x.test", history=HistorySpec(pg_cron="send-emails"))
    [check] = [c for c in hygiene_checks(_facts(leaky, query, clean), [job], NOW) if c.id == "cron_credentials"]
    assert check.verdict == "warn"
    assert (
        "the command of cron job send-emails carries a credential literal (header Authorization)" in check.detail
        and "the command of cron job sync carries a credential literal (query parameter apikey)" in check.detail
    )
    assert "anyone who can read cron.job can read it" in check.detail and "Vault" in check.detail
    assert check.jobs == ("emails", "sync")  # the runbook's name where it maps the cron job
    shown = json.dumps(check.to_json())
    for secret in (JWT, KEY, JWT[:12], KEY[:12]):
        assert secret not in shown


def test_clean_commands_pass_and_unreadable_ones_are_not_judged() -> None:
    [check] = [c for c in hygiene_checks(_facts(CronRow("tick", "* * * * *", "SELECT 1", True)), [], NOW)
               if c.id == "cron_credentials"]  # fmt: skip
    assert check.verdict == "ok" and "1 cron job" in check.detail
    unreadable = HygieneFacts(role="ro", cron_installed=True, cron_jobs=None)
    assert "cron_credentials" not in {c.id for c in hygiene_checks(unreadable, [], NOW)}
    assert "cron_credentials" in CHECKS
