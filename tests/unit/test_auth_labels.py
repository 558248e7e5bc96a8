"""How reports name a job's auth: each scheme names itself (`cronctl jobs`, `cronctl init`), never a secret."""

from __future__ import annotations

import pytest

from cronctl import auth
from cronctl.reports.schedules import auth_label
from cronctl.runbook.model import AuthSpec, JobSpec


@pytest.mark.parametrize(
    ("spec", "short", "with_variables"),
    [
        (AuthSpec(), "none", "none"),
        (AuthSpec("bearer", "CRON_SECRET"), "bearer", "bearer $CRON_SECRET"),
        (AuthSpec("bearer", "KEY", apikey_env="KEY"), "bearer+apikey", "bearer $KEY + apikey $KEY"),
        (AuthSpec("apikey", "KEY", apikey_env="KEY"), "apikey", "apikey $KEY"),
        (AuthSpec("header", "S", "X-Cron-Secret"), "header X-Cron-Secret", "header $S (X-Cron-Secret)"),
        (AuthSpec("hmac", "S", "X-Signature"), "hmac", "hmac $S (X-Signature)"),
        (AuthSpec("stripe", "S"), "stripe", "stripe $S"),
    ],
)
def test_each_scheme_names_itself(spec: AuthSpec, short: str, with_variables: str) -> None:
    assert auth.label(spec) == short
    assert auth.label(spec, variables=True) == with_variables


@pytest.mark.parametrize("kind", auth.names())
def test_every_kind_has_a_label_that_starts_with_its_name_and_shows_no_value(kind: str) -> None:
    spec = auth.scheme(kind).with_defaults(AuthSpec(kind, "TEST_SECRET", "X-Test", apikey_env="TEST_KEY"))
    assert auth.label(spec).startswith(kind)
    shown = auth.label(spec, variables=True)
    assert shown.startswith(kind)
    assert "TEST_SECRET" in shown or kind in ("none", "apikey")  # variables by name; values are never known here


def test_jobs_report_asks_the_registry() -> None:
    job = JobSpec(name="j", url="https://x.test", auth=AuthSpec("header", "S", "X-Cron-Secret"))
    assert auth_label(job) == "header X-Cron-Secret"
    assert auth_label(JobSpec(name="sql")) == "-"  # no url and no workflow: pg_cron runs its SQL
