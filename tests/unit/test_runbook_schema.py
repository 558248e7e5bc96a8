"""The runbook schema is the model: the loader takes exactly the keys the model's fields name, and every closed
vocabulary rejects a misspelled word with the closest one."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cronctl.errors import RunbookError
from cronctl.evaluate import classify, health, verdict
from cronctl.runbook import model, schema
from cronctl.runbook.loader import load_runbook, parse_runbook
from cronctl.sources.external.vercel import VercelSpec

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).parent / "snapshots" / "runbooks-loaded.json"

# Every key of every table, each at least once and away from its default (so that each changes what loads).
EVERY_KEY = """\
[runbook]
name = "every-key"
description = "uses every key the schema has"

[connection]
database_url = "${DB_URL}"
redis_url = "${CACHE_URL:-}"
statement_timeout = "7s"
connect_timeout = "3s"

[profiles.local]
vars = { APP_URL = "http://localhost:3000" }
env_file = ".env.local"

[jobs.send]
description = "send"
schedule = "*/5 * * * *"
timezone = "Europe/Berlin"
method = "PUT"
url = "${APP_URL}/functions/v1/send"
headers = { "Content-Type" = "application/json" }
body = { limit = 5 }
timeout = "40s"
env = ["APP_URL"]
idempotent = true
confirm = false
grace = "2m"
trigger_type_field = "trigger_type"
idempotency_header = "Idempotency-Key"
scheduler = "external"
fail_after = 2
recover_after = 3
expect = "disabled"
success = { status = [200], require = ["ok == true"], skipped = ["skipped == true"], summary = "summary" }
lock = { backend = "table", key = "send-lock", table = "locks", margin = "10m" }

[jobs.send.auth]
kind = "hmac"
secret_env = "KEY"
header = "X-Signature"
apikey_env = "APIKEY"
template = "{id}.{body}"
encoding = "base64"
prefix = "sha256="
timestamp_header = "X-Timestamp"

[jobs.send.history]
pg_cron = true
pg_net = true
run_log = "runs"
run_log_key = "send-key"
health = "app"
github = true
vercel = true
supabase = true

[jobs.send.dispatch]
repo = "owner/name"
workflow = "send.yaml"
ref = "release"
token_env = "GH_TOKEN"
api_url = "https://github.example.test/api/v3"
inputs = { limit = "5" }

[jobs.refresh]
url = "https://example.test/refresh"
lock = { backend = "redis", key = "refresh:lock", ttl = "5m" }

[run_logs.runs]
table = "cron_runs"
schema = "app"
id_column = "run_id"
job_column = "cron_name"
started_column = "began_at"
finished_column = "ended_at"
status_column = "state"
message_column = "error_message"
records_column = "records_count"
extra_columns = { changed = "changed_records" }
order_column = "began_at"
statuses = { running = ["running"], succeeded = ["success"], failed = ["error"], partial = ["partial"] }

[lock_tables.locks]
table = "job_lock"
schema = "app"
name_column = "name"
holder_column = "holder"
acquired_column = "taken_at"
expires_column = "expires_at"

[lock_tables.other]  # two lock tables: a table lock must name its own
table = "other_lock"

[health.app]
url = "https://example.test/health"
timeout = "20s"

[health.app.auth]
kind = "hmac"
secret_env = "KEY"
header = "X-Signature"
apikey_env = "APIKEY"
template = "{id}.{body}"
encoding = "base64"
prefix = "sha256="
timestamp_header = "X-Timestamp"

[backlogs.queue]
sql = "select count(*) as value from queue"
description = "queued"
warn = 2
crit = 10
job = "send"

[queries.recent]
sql = "select * from cron_runs where id > %(after)s"
description = "recent runs"
params = { after = "int" }
defaults = { after = 0 }

[[failure_groups]]
name = "QUOTA"
pattern = "quota exceeded"
status = [402]

[[failure_modes]]
symptom = "401"
cause = "secret"
action = "reset it"
severity = "crit"
job = "send"
group = "AUTH"
state = "failing"
verdict = "failed"
http_status = 401
message = "unauthori[sz]ed"
check = "queue"

[secrets_table]
table = "app_secrets"
schema = "app"
key_column = "name"
value_column = "secret"
updated_column = "changed_at"
description_column = "note"
placeholder_prefix = "todo"
rotate_function = "rotate_app_secret"

[exit_condition]
consecutive_ok = 2
backlogs_clear = ["queue"]

[defaults]
fail_after = 3
recover_after = 2

[notify]
url = "${SLACK_WEBHOOK_URL}"
kind = "webhook"
timeout = "20s"

[vercel]
project = "prj_1"
team = "team_1"
token_env = "VERCEL_API_TOKEN"
api_url = "https://vercel.example.test"
plan = "hobby"
timeout = "20s"

[supabase]
project_ref = "abcdefghijklmnop"
token_env = "SUPABASE_TOKEN"
api_url = "https://supabase.example.test"
timeout = "20s"
"""

TABLES = list(schema.tables())
TABLE_PATHS = {table.path for table in TABLES}


def _every_key() -> dict[str, Any]:
    return tomllib.loads(EVERY_KEY)


def _written_keys(data: dict[str, Any], path: str = "") -> set[tuple[str, str]]:
    """(schema table path, key) for every key the document writes, following the schema's tables."""
    found: set[tuple[str, str]] = set()
    for key, value in data.items():
        found.add((path, key))
        child = f"{path}.{key}" if path else key
        if child in TABLE_PATHS and isinstance(value, dict):
            found |= _written_keys(value, child)
        elif f"{child}.<name>" in TABLE_PATHS and isinstance(value, dict):
            for item in value.values():
                found |= _written_keys(item, f"{child}.<name>")
        elif f"{child}[]" in TABLE_PATHS and isinstance(value, list):
            for item in value:
                found |= _written_keys(item, f"{child}[]")
    return found


def _tables_at(node: Any, parts: list[str], where: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every table of the document at a schema path, with its key path as errors spell it."""
    if not parts:
        yield node, where
        return
    part, rest = parts[0], parts[1:]
    dot = "." if where else ""
    if part == "<name>":
        for name, item in node.items():
            yield from _tables_at(item, rest, f"{where}{dot}{name}")
    elif part.endswith("[]"):
        for index, item in enumerate(node.get(part[:-2], [])):
            yield from _tables_at(item, rest, f"{where}{dot}{part[:-2]}[{index}]")
    elif isinstance(node.get(part), dict):
        yield from _tables_at(node[part], rest, f"{where}{dot}{part}")


def _locate(data: dict[str, Any], table_path: str, key: str | None = None) -> tuple[dict[str, Any], str]:
    """The first table of the document at a schema path (that writes `key`), and its key path."""
    parts = table_path.split(".") if table_path else []
    return next((node, where) for node, where in _tables_at(data, parts) if key is None or key in node)


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(data, Path("rb.toml"))
    return str(caught.value)


# ---------------------------------------------------------------- keys


def test_every_key_runbook_loads() -> None:
    runbook = parse_runbook(_every_key(), Path("rb.toml"))
    assert runbook.jobs["send"].history.outside == {"github": True, "vercel": True, "supabase": "send"}
    vercel = runbook.vendors["vercel"]
    assert isinstance(vercel, VercelSpec) and vercel.plan == "hobby"


def test_the_schema_names_exactly_the_keys_the_every_key_runbook_writes() -> None:
    """A field added to the model is a new key: this fails until EVERY_KEY (and so the loader) uses it."""
    schema_keys = {(table.path, key) for table in TABLES for key in table.keys}
    assert _written_keys(_every_key()) == schema_keys


@pytest.mark.parametrize(
    ("table", "key"), [(t, k) for t in TABLES for k in t.keys], ids=lambda x: x if isinstance(x, str) else x.path
)
def test_every_key_changes_what_loads(table: schema.Table, key: str) -> None:
    """A key the loader accepts but never reads would be a silent no-op: without it the runbook loads differently
    (or not at all, for a required key or one another key refers to)."""
    data = _every_key()
    node, _ = _locate(data, table.path, key)
    del node[key]
    try:
        changed = parse_runbook(data, Path("rb.toml"))
    except RunbookError:
        return
    assert changed != parse_runbook(_every_key(), Path("rb.toml"))


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.path or "(top level)")
def test_every_table_refuses_a_key_the_schema_does_not_name(table: schema.Table) -> None:
    data = _every_key()
    node, where = _locate(data, table.path)
    node["zz_not_a_key"] = "x"
    message = _error(data)
    assert f"rb.toml: {where + '.' if where else ''}zz_not_a_key: unknown key" in message


def test_an_unknown_key_still_suggests_the_closest() -> None:
    data = _every_key()
    data["vercel"]["plann"] = "pro"
    assert _error(data) == "rb.toml: vercel.plann: unknown key (did you mean 'plan'?)"


def test_keys_come_from_the_fields() -> None:
    assert schema.keys(VercelSpec) == ("project", "team", "token_env", "api_url", "plan", "timeout")
    assert schema.keys(model.HistorySpec)[-3:] == ("github", "vercel", "supabase")  # one per source outside
    assert "vercel" not in schema.keys(model.Runbook)  # a source's table: asked for only when written
    assert "name" not in schema.keys(model.JobSpec)  # the table's name, [jobs.<name>]
    assert schema.keys(model.Runbook)[0] == "runbook"
    assert schema.keys(model.Runbook, "runbook") == ("name", "description")
    assert "profile" not in schema.keys(model.Runbook) and "path" not in schema.keys(model.Runbook)
    paths = {table.path for table in TABLES}
    assert {"jobs.<name>.history", "vercel", "supabase", "failure_modes[]", "health.<name>.auth"} <= paths


# ---------------------------------------------------------------- closed vocabularies


def test_the_model_speaks_the_words_evaluation_produces() -> None:
    assert model.FAILURE_GROUPS == classify.GROUPS
    assert model.JOB_STATES == health.STATES
    assert model.VERDICTS == verdict.VERDICTS


VOCABULARY_KEYS = [(table, key) for table in TABLES for key in table.vocabularies]
MISSPELLINGS = [
    pytest.param(table, key, word, id=f"{table.key_path(key)}={word}")
    for table, key in VOCABULARY_KEYS
    for word in table.vocabularies[key].words
]


@pytest.mark.parametrize(("table", "key", "word"), MISSPELLINGS)
def test_a_misspelled_word_gets_the_closest_one(table: schema.Table, key: str, word: str) -> None:
    data = _every_key()
    node, where = _locate(data, table.path)
    typo = word + word[-1]
    target = f"{where}.{key}" if where else key
    if table.spec is model.RunLogSpec and key == "statuses":  # a vocabulary of keys
        node[key] = {typo: ["x"]}
        expected = f"rb.toml: {target}.{typo}: unknown key (did you mean '{word}'?)"
    elif table.spec is model.QuerySpec and key == "params":  # a vocabulary of values
        node[key] = {"after": typo}
        expected = f"rb.toml: {target}.after: '{typo}' is not a parameter type; did you mean '{word}'?"
    else:
        node[key] = typo.lower() if key == "method" else typo  # methods are read upper-cased
        if key == "method":
            typo = typo.upper()
        expected = f"rb.toml: {target}: '{typo}' is not {table.vocabularies[key].noun}; did you mean '{word}'?"
    message = _error(data)
    if table.spec is model.AuthSpec and key == "kind":  # auth kinds: the auth registry's own message (cronctl/auth)
        assert message.startswith(f"rb.toml: {target}: '{typo}'") and f"did you mean '{word}'?" in message
    elif "unknown key" in expected:
        assert message == expected
    else:  # the guess, then every word (a guess can be wrong)
        assert message.startswith(expected + " (one of: ") and word in message.rpartition("(one of: ")[2]


def test_a_misspelled_failure_group_names_the_group() -> None:
    data = _every_key()
    data["failure_modes"][0]["group"] = "AUTHH"
    group = "rb.toml: failure_modes[0].group"
    assert _error(data).startswith(f"{group}: 'AUTHH' is not a failure group; did you mean 'AUTH'? (one of: AUTH, ")
    data["failure_modes"][0]["group"] = "auth"
    assert _error(data).startswith(f"{group}: 'auth' is not a failure group; did you mean 'AUTH'?")


def test_the_runbooks_own_failure_groups_are_words_too() -> None:
    data = _every_key()
    data["failure_modes"][0]["group"] = "QUOTA"
    assert parse_runbook(copy.deepcopy(data), Path("rb.toml")).failure_modes[0].group == "QUOTA"
    data["failure_modes"][0]["group"] = "QUOTAA"
    expected = "rb.toml: failure_modes[0].group: 'QUOTAA' is not a failure group; did you mean 'QUOTA'?"
    assert _error(data).startswith(expected) and _error(data).endswith("QUOTA)")


def test_a_word_far_from_every_word_lists_them() -> None:
    data = _every_key()
    data["failure_modes"][0]["state"] = "zzz"
    assert _error(data) == f"rb.toml: failure_modes[0].state: 'zzz' is not one of: {', '.join(model.JOB_STATES)}"
    data = _every_key()
    data["jobs"]["send"]["expect"] = "off"
    assert _error(data) == "rb.toml: jobs.send.expect: 'off' is not one of: enabled, disabled"


def test_the_hmac_encoding_is_a_word_of_the_schema() -> None:
    assert schema.vocabulary(model.AuthSpec, "encoding").words == ("hex", "base64")
    data = _every_key()
    data["jobs"]["send"]["auth"]["encoding"] = "hexx"
    expected = "rb.toml: jobs.send.auth.encoding: 'hexx' is not an HMAC digest encoding; did you mean 'hex'?"
    assert _error(data) == expected + " (one of: hex, base64)"


# ---------------------------------------------------------------- the shipped runbooks load as before


def _canonical(value: Any) -> Any:
    """Loaded objects as JSON, fields by name; fields still at their default are left out, so a new field with a
    default does not change the snapshot, while any value a runbook loads differently does."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"(type)": type(value).__name__}
        for f in sorted(dataclasses.fields(value), key=lambda f: f.name):
            item = getattr(value, f.name)
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required or item != schema.default(type(value), f.name):
                out[f.name] = _canonical(item)
        return out
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return value.name
    return value


def _loaded_runbooks() -> str:
    loaded = {p.name: _canonical(load_runbook(p)) for p in sorted((ROOT / "runbooks").glob("*.toml"))}
    return json.dumps(loaded, indent=1, ensure_ascii=False, default=repr) + "\n"


def test_every_shipped_runbook_loads_as_before() -> None:
    """Snapshot of what runbooks/*.toml load into. After a deliberate change to a runbook or to a default:
    CRONCTL_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_runbook_schema.py, and review the diff."""
    current = _loaded_runbooks()
    if os.environ.get("CRONCTL_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert current == SNAPSHOT.read_text(encoding="utf-8")


@pytest.mark.parametrize("scheduler", ["github", "vercel"])
def test_a_time_zone_on_a_job_github_or_vercel_fires_is_refused(scheduler: str) -> None:
    """GitHub Actions and Vercel cron read schedules in UTC only: another zone would misjudge every slot."""
    data = _every_key()
    job = data["jobs"]["send"]
    job.update(scheduler=scheduler, timezone="Europe/Berlin")
    assert "runs schedules in UTC" in _error(data)
    job["timezone"] = "UTC"
    assert parse_runbook(copy.deepcopy(data), Path("rb.toml")).jobs["send"].scheduler == scheduler
