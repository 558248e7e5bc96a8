"""Tests never reach a vendor's real API (GitHub, Vercel, Supabase), whatever the environment holds.

The shipped runbooks read GitHub Actions, Vercel and Supabase history with variables a CI runner or a developer's
shell may set for real (GitHub Actions runners export GITHUB_REPOSITORY, GITHUB_TOKEN and GITHUB_API_URL). Import
the autouse fixture `no_vendor_api` into a test module that triages or logs a shipped runbook:

- the environment the CLI sees (which wins over `.env` and profile vars) gets GITHUB_API_URL pointing at a closed
  local port, and every vendor variable of the shipped runbooks set empty (the sources read nothing without a
  token or a repository); a test that serves a vendor with a stand-in sets its own values, which win;
- no proxy variable is left to relay a request elsewhere;
- a lookup of a vendor's API host fails, and fails the test: nothing has asked for it (the fixture's value is
  the list of hosts asked for, for a test of the guard itself).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from cronctl_sandbox.cluster import free_port

VENDOR_HOSTS = frozenset({"api.github.com", "api.vercel.com", "api.supabase.com"})
# The shipped runbooks' vendor variables (runbooks/*.toml, .env.example): set empty, they read as unset.
VENDOR_VARIABLES = (
    "GITHUB_REPOSITORY",
    "GITHUB_TOKEN",
    "VERCEL_TOKEN",
    "VERCEL_PROJECT_ID",
    "VERCEL_TEAM_ID",
    "SUPABASE_ACCESS_TOKEN",
    "SUPABASE_PROJECT_REF",
)
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _host(value: Any) -> str:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return text.strip("[]").rstrip(".").lower()


@pytest.fixture(autouse=True)
def no_vendor_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    for name in VENDOR_VARIABLES:
        monkeypatch.setenv(name, "")
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    asked: list[str] = []
    resolve = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and _host(host) in VENDOR_HOSTS:
            asked.append(_host(host))
            raise socket.gaierror(socket.EAI_NONAME, f"{_host(host)}: a test may not reach a vendor's API")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield asked
    assert not asked, f"the test asked for a vendor's real API: {sorted(set(asked))}"
