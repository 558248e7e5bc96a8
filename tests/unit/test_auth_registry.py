"""Every registered auth kind: loads from a runbook, validates, sends headers a receiver accepts, prints no secret."""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cronctl import auth
from cronctl.auth.base import Incoming, Secrets, SignContext
from cronctl.errors import RunbookError
from cronctl.runbook import model
from cronctl.runbook.loader import parse_runbook
from cronctl.runbook.model import AuthSpec

KINDS = auth.names()
# One value every scheme can sign with (Standard Webhooks wants base64 after `whsec_`).
SECRET = "whsec_" + base64.b64encode(b"registry-test-key-0123456789abcd").decode()
WRONG = "whsec_" + base64.b64encode(b"another-key-entirely-0123456789").decode()
# A value for every runbook key a scheme may read; a scheme with a new key adds its sample here.
SAMPLES = {
    "secret_env": "TEST_SECRET",
    "apikey_env": "TEST_SECRET",
    "header": "X-Test-Auth",
    "template": "{method} {path}\n{timestamp}\n{body}",
    "encoding": "base64",
    "prefix": "v1=",
    "timestamp_header": "X-Test-Timestamp",
}
NOW = 1_700_000_000
CTX = SignContext(
    body='{"name":"정산","n":1}'.encode(), request_id="msg_test", timestamp=NOW, method="POST", path="/fn"
)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "runbook-format.md"


def load_auth(table: dict[str, Any]) -> AuthSpec:
    data = {"runbook": {"name": "t"}, "jobs": {"j": {"url": "https://x.test/fn", "auth": table}}}
    return parse_runbook(data, Path("t.toml")).jobs["j"].auth


def needed_only(kind: str) -> dict[str, Any]:
    return {"kind": kind, **{key: SAMPLES[key] for key in auth.scheme(kind).needs}}


def every_key(kind: str) -> AuthSpec:
    return load_auth({"kind": kind, **{key: SAMPLES[key] for key in auth.scheme(kind).accepts}})


def received(headers: dict[str, str], body: bytes = CTX.body, now: float = NOW) -> Incoming:
    lowered = {name.lower(): value for name, value in headers.items()}
    return Incoming(method=CTX.method, path=CTX.path, headers=lowered, body=body, now=now)


def test_the_registry_is_the_runbook_vocabulary() -> None:
    assert KINDS == model.AUTH_KINDS
    assert len(set(KINDS)) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_module_declares_its_kind_and_keys(kind: str) -> None:
    found = auth.scheme(kind)
    assert found.kind == kind
    fields = {f.name for f in dataclasses.fields(AuthSpec)} - {"kind"}
    assert set(found.needs) <= set(found.accepts) <= fields, kind


@pytest.mark.parametrize("kind", KINDS)
def test_a_spec_with_the_needed_keys_loads_and_validates(kind: str) -> None:
    spec = load_auth(needed_only(kind))
    assert spec.kind == kind
    assert auth.scheme(kind).validate(spec) is None


@pytest.mark.parametrize("kind", [k for k in KINDS if auth.scheme(k).needs])
def test_each_needed_key_is_required_and_named(kind: str) -> None:
    for key in auth.scheme(kind).needs:
        table = needed_only(kind)
        del table[key]
        with pytest.raises(RunbookError, match=rf"jobs\.j\.auth\.{key}: auth kind '{kind}' needs"):
            load_auth(table)


@pytest.mark.parametrize("kind", KINDS)
def test_display_headers_name_the_same_headers_and_hide_every_secret(kind: str) -> None:
    spec = every_key(kind)
    real = auth.request_headers(spec, Secrets(secret=SECRET, apikey=SECRET), CTX)
    shown = auth.display_headers(spec, CTX)
    assert set(real) == set(shown)
    for name, value in shown.items():
        assert SECRET not in value, name
        assert SECRET[len("whsec_") :] not in value, name
        if real[name] not in (CTX.request_id, "application/json"):
            assert real[name] != value, name  # a signature or secret is never printed as sent
    if auth.scheme(kind).needs:
        assert any("$TEST_SECRET" in v or "<computed at send time>" in v for v in shown.values()), shown


@pytest.mark.parametrize("kind", KINDS)
def test_a_receiver_accepts_what_is_sent_and_rejects_a_wrong_secret(kind: str) -> None:
    spec = every_key(kind)
    secrets = Secrets(secret=SECRET, apikey=SECRET)
    headers = auth.request_headers(spec, secrets, CTX)
    assert auth.verify(spec, secrets, received(headers))
    if auth.scheme(kind).needs:
        wrong = auth.request_headers(spec, Secrets(secret=WRONG, apikey=WRONG), CTX)
        assert not auth.verify(spec, secrets, received(wrong))
        assert not auth.verify(spec, secrets, received({}))


@pytest.mark.parametrize("kind", [k for k in KINDS if "secret_env" in auth.scheme(k).needs])
def test_a_missing_secret_value_is_a_clear_error(kind: str) -> None:
    with pytest.raises(ValueError, match=f"auth kind '{kind}' needs a secret value"):
        auth.request_headers(every_key(kind), Secrets(), CTX)


@pytest.mark.parametrize("kind", KINDS)
def test_apikey_rides_along_with_every_kind_that_reads_it(kind: str) -> None:
    spec = dataclasses.replace(load_auth(needed_only(kind)), apikey_env="SUPABASE_KEY")
    shown = auth.display_headers(spec, CTX)
    if "apikey_env" in auth.scheme(kind).accepts:
        assert shown["apikey"] == "$SUPABASE_KEY"
    else:
        assert "apikey" not in shown


def test_signed_schemes_fail_when_the_body_changes() -> None:
    for kind in ("standard-webhooks", "stripe", "github", "hmac"):
        spec = every_key(kind)
        secrets = Secrets(secret=SECRET, apikey=SECRET)
        headers = auth.request_headers(spec, secrets, CTX)
        assert not auth.verify(spec, secrets, received(headers, body=CTX.body + b" ")), kind


def test_timestamped_schemes_refuse_a_stale_request() -> None:
    for kind in ("standard-webhooks", "stripe", "hmac"):
        spec = every_key(kind)
        secrets = Secrets(secret=SECRET, apikey=SECRET)
        headers = auth.request_headers(spec, secrets, CTX)
        assert not auth.verify(spec, secrets, received(headers, now=NOW + 3600)), kind


def test_an_unknown_kind_suggests_the_closest() -> None:
    with pytest.raises(RunbookError, match=r"jobs\.j\.auth\.kind: 'barer' is not one of: .*did you mean 'bearer'"):
        load_auth({"kind": "barer", "secret_env": "TEST_SECRET"})
    with pytest.raises(ValueError, match="unknown auth kind 'stripee' \\(did you mean 'stripe'\\?\\)"):
        auth.scheme("stripee")


def test_ad_hoc_forms_come_from_the_registry() -> None:
    from cronctl.cli.trigger import AD_HOC_AUTH

    assert auth.ad_hoc_forms() == AD_HOC_AUTH
    for kind in auth.names():
        forms = auth.forms(kind)
        if set(auth.scheme(kind).needs) <= {"secret_env", "apikey_env"}:
            assert forms, f"{kind} needs only its secret: give it an --auth form"
        for form in forms:
            assert form.partition(":")[0] in (kind, "bearer+apikey"), form


def test_every_kind_has_its_line_in_the_runbook_format_doc() -> None:
    section = DOCS.read_text().split("### `auth`", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"^- `([a-z-]+)`:", section, flags=re.MULTILINE))
    assert documented == set(KINDS)


def test_building_the_trigger_command_imports_no_scheme() -> None:
    code = (
        "import sys, cronctl.auth, cronctl.cli.trigger\n"
        "loaded = [m for m in sys.modules if m.startswith('cronctl.auth.')]\n"
        "assert not loaded and 'hashlib' not in sys.modules, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
