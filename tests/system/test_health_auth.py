"""A health endpoint is called with its auth as the scheme builds it: every registered kind, checked by the
sandbox job server the way that kind's receiver checks it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from cronctl import auth
from cronctl.errors import CronctlError
from cronctl.runbook.env import Environment
from cronctl.runbook.model import AuthSpec, HealthSpec
from cronctl.sources.health import fetch_health
from cronctl_sandbox.jobserver import JobServer, Route, health_check, health_payload

SECRET = "whsec_" + base64.b64encode(b"health-auth-test-key-0123456789").decode()
WRONG = "whsec_" + base64.b64encode(b"another-health-key-0123456789ab").decode()
SAMPLES = {"secret_env": "HEALTH_SECRET", "apikey_env": "HEALTH_SECRET", "header": "X-Health-Auth",
           "prefix": "v1=", "timestamp_header": "X-Health-Timestamp"}  # fmt: skip


def _spec(kind: str) -> AuthSpec:
    scheme = auth.scheme(kind)
    keys = {key: SAMPLES[key] for key in scheme.accepts if key in SAMPLES}
    return scheme.with_defaults(AuthSpec(kind=kind, **keys))


@pytest.mark.parametrize("kind", auth.names())
def test_every_kind_authenticates_the_health_call(kind: str) -> None:
    spec = _spec(kind)
    checks = {"nightly": health_check(datetime(2026, 1, 1, tzinfo=UTC))}
    route = Route("GET", "/api/cron/health", spec=spec, secret=SECRET, responses=health_payload(checks))
    with JobServer([route]) as server:
        health = HealthSpec(name="app", url=f"{server.url}/api/cron/health", auth=spec, timeout=5.0)
        found = fetch_health(health, Environment({"HEALTH_SECRET": SECRET}))
        assert set(found) == {"nightly"} and found["nightly"].status == "succeeded"
        if auth.scheme(kind).needs:
            with pytest.raises(CronctlError, match="HTTP 401") as caught:
                fetch_health(health, Environment({"HEALTH_SECRET": WRONG}))
            assert WRONG not in caught.value.message and SECRET not in caught.value.message
