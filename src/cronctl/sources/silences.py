"""Where silences are kept: the database table `cronctl.silences` (every operator of the system sees it) or, when
the role may not write it, a local state file ($CRONCTL_STATE_DIR / $XDG_STATE_HOME/cronctl/silences/).

Reads filter by the time judged; writes remove expired silences first, so an expired silence vanishes by itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronctl.evaluate.silences import Silence
from cronctl.queries import load

TABLE = "cronctl.silences"
LOCAL_LIMIT = 1024 * 1024  # bytes: a silences file is a few lines


@dataclass(frozen=True)
class SilenceCatalog:
    """What the catalog says about `cronctl.silences` for this role."""

    role: str
    database: str
    schema_present: bool
    schema_usage: bool
    schema_create: bool
    database_create: bool
    table_present: bool
    can_select: bool
    can_insert: bool
    can_delete: bool

    @property
    def readable(self) -> bool:
        return self.table_present and self.schema_usage and self.can_select

    @property
    def writable(self) -> bool:
        return self.readable and self.can_insert and self.can_delete

    @property
    def creatable(self) -> bool:
        """The table is missing and this role may create it (and its schema, when that is missing too)."""
        if self.table_present:
            return False
        if self.schema_present:
            return self.schema_usage and self.schema_create
        return self.database_create

    def why_not_writable(self) -> str:
        role = self.role
        if self.table_present and not self.schema_usage:
            return f"role {role} has no USAGE on schema cronctl"
        if self.table_present:
            missing = [p for p, ok in (("SELECT", self.can_select), ("INSERT", self.can_insert),
                                       ("DELETE", self.can_delete)) if not ok]  # fmt: skip
            return f"role {role} lacks {', '.join(missing)} on {TABLE}"
        if self.schema_present:
            return f"{TABLE} does not exist and role {role} may not create objects in schema cronctl"
        return f"{TABLE} does not exist and role {role} may not create schemas in database {self.database}"

    def why_not_readable(self) -> str | None:
        if not self.table_present:
            return None
        if not self.schema_usage:
            return f"{TABLE} is not visible to role {self.role}: needs GRANT USAGE ON SCHEMA cronctl TO {self.role}"
        if not self.can_select:
            return f"{TABLE} is not visible to role {self.role}: needs GRANT SELECT ON {TABLE} TO {self.role}"
        return None


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
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


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
    from cronctl.output.cells import safe_json
    from cronctl.statedir import write_private

    items = [
        {"id": s.id, "job": s.job, "created_at": s.created_at, "until": s.until, "author": s.author, "reason": s.reason}
        for s in silences
    ]
    write_private(path, safe_json({"version": 1, "silences": items}) + "\n")


def new_local_id() -> str:
    return f"local-{uuid.uuid4().hex[:12]}"
