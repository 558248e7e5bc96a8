"""Where silences are kept: the database table `cronctl.silences` (every operator of the system sees it) or, when
the role may not write it, a local state file ($CRONCTL_STATE_DIR / $XDG_STATE_HOME/cronctl/silences/).

Reads filter by the time judged; writes remove expired silences first, so an expired silence vanishes by itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronctl.queries import load
from cronctl.records import SILENCES_TABLE, Silence, SilenceCatalog, aware

TABLE = SILENCES_TABLE
LOCAL_LIMIT = 1024 * 1024  # bytes: a silences file is a few lines


def catalog_query() -> tuple[str, dict[str, Any]]:
    return load("silences_catalog"), {}


def parse_catalog(rows: Sequence[Sequence[Any]]) -> SilenceCatalog:
    (role, database, schema_present, usage, schema_create, database_create, table_present, can_select, can_insert,
     can_delete) = rows[0]  # fmt: skip
    return SilenceCatalog(str(role), str(database), bool(schema_present), bool(usage), bool(schema_create),
                          bool(database_create), bool(table_present), bool(can_select), bool(can_insert),
                          bool(can_delete))  # fmt: skip


def fetch_catalog(conn: Any) -> SilenceCatalog:
    query, params = catalog_query()
    return parse_catalog(conn.execute(query, params).fetchall())


def active_query(runbook: str, at: datetime) -> tuple[str, dict[str, Any]]:
    return load("silences_active"), {"runbook": runbook, "at": at}


def parse_active(rows: Sequence[Sequence[Any]], runbook: str) -> list[Silence]:
    return [
        Silence(
            id=f"db-{sid}",
            runbook=runbook,
            job=job,
            created_at=created,
            until=until,
            author=str(author),
            reason=str(reason),
            store="database",
        )
        for sid, job, created, until, author, reason in rows
    ]


def fetch_active(conn: Any, runbook: str, at: datetime) -> list[Silence]:
    query, params = active_query(runbook, at)
    with conn.transaction():
        return parse_active(conn.execute(query, params).fetchall(), runbook)


def create_statements(catalog: SilenceCatalog) -> list[str]:
    """What creating the table takes, given what exists (empty when it exists)."""
    if catalog.table_present:
        return []
    out = []
    if not catalog.schema_present:
        out += [load("silences_create_schema"), load("silences_grant_usage")]
    out += [load("silences_create_table"), load("silences_comment"), load("silences_grant_select")]
    return out


# --- the local state file -------------------------------------------------------------------------------------


def local_path(runbook: str, profile: str | None) -> Path:
    from cronctl.statedir import state_dir, state_key

    return state_dir() / "silences" / f"{state_key(runbook, profile)}.json"


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a time")
    return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def read_local(path: Path, runbook: str) -> list[Silence]:
    """Every silence in the file (expired ones too: the caller filters); an unreadable file is an error."""
    from cronctl.errors import SourceUnavailable
    from cronctl.userfiles import read_bounded

    try:
        raw = read_bounded(path, LOCAL_LIMIT)
    except FileNotFoundError:
        return []
    except (OSError, TimeoutError) as exc:
        raise SourceUnavailable(f"cannot read local silences {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        items = document.get("silences", []) if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise ValueError("no list of silences")
        out = []
        for item in items:
            job = item.get("job")
            out.append(
                Silence(
                    id=str(item["id"]),
                    runbook=runbook,
                    job=str(job) if job is not None else None,
                    created_at=_parse_time(item["created_at"]),
                    until=_parse_time(item["until"]),
                    author=str(item.get("author") or "?"),
                    reason=str(item.get("reason") or ""),
                    store="local",
                )
            )
        return out
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SourceUnavailable(f"local silences {path}: not a cronctl silences file ({exc})") from None


def write_local(path: Path, silences: Sequence[Silence]) -> None:
    from cronctl.redact import redact
    from cronctl.statedir import write_private

    items = [_local_item(s) for s in silences]
    # ASCII JSON: no control or invisible character reaches the file as itself; known secrets are masked.
    write_private(path, redact(json.dumps({"version": 1, "silences": items})) + "\n")


def _local_item(silence: Silence) -> dict[str, Any]:
    def utc(value: datetime) -> str:
        return aware(value).astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {"id": silence.id, "job": silence.job, "created_at": utc(silence.created_at), "until": utc(silence.until),
            "author": silence.author, "reason": silence.reason}  # fmt: skip


def new_local_id() -> str:
    return f"local-{uuid.uuid4().hex[:12]}"
