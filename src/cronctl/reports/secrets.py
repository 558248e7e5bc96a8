"""`cronctl secrets`: which secrets each job needs and their state, a fresh secret, and a rotation's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cronctl.evaluate.secrets import Strength, judge_secret, judge_stored
from cronctl.output.report import KeyValues, Report, Table, Text
from cronctl.records import SecretRow
from cronctl.redact import looks_secret
from cronctl.runbook.env import Environment
from cronctl.runbook.model import Runbook

POST_ROTATION = (
    "Trigger a manual test request: cronctl trigger <job> (jobs that use the key: {jobs})",
    "Check the history for failures: cronctl logs <job> (cron.job_run_details, net._http_response) and the "
    "function's logs",
    "Update every consumer that reads the secret (Edge Functions, services, CI secrets)",
    "Revoke the old key at the provider only after the consumers are verified",
)


@dataclass
class SecretState:
    name: str
    where: str  # env | table
    needed_by: list[str] = field(default_factory=list)
    origin: str = "unset"  # env | .env | profile | unset | table
    strength: Strength | None = None
    updated_at: datetime | None = None
    description: str | None = None

    @property
    def state(self) -> str:
        level = self.strength.level if self.strength else "missing"
        return {"missing": "missing", "placeholder": "placeholder"}.get(level, "set")


def env_secrets(runbook: Runbook, env: Environment) -> list[SecretState]:
    """Secrets the runbook's jobs read from the environment (auth variables and secret-looking names)."""
    states: dict[str, SecretState] = {}
    for job in runbook.jobs.values():
        names = [*job.auth.env_vars(), *(n for n in job.env if looks_secret(n))]
        for name in dict.fromkeys(names):
            state = states.setdefault(name, SecretState(name, "env"))
            state.needed_by.append(job.name)
    for state in states.values():
        state.origin = env.origin(state.name)
        state.strength = judge_secret(env.get(state.name))
    return list(states.values())


def table_secrets(rows: list[SecretRow], users: dict[str, list[str]]) -> list[SecretState]:
    return [
        SecretState(
            row.key,
            "table",
            needed_by=users.get(row.key, []),
            origin="table",
            strength=judge_stored(row.length, row.placeholder, row.edge_quote_or_space),
            updated_at=row.updated_at,
            description=row.description,
        )
        for row in rows
    ]


def check_report(
    runbook: Runbook, states: list[SecretState], table_name: str | None, table_error: str | None
) -> Report:
    rows = []
    data_rows = []
    for s in states:
        strength = s.strength
        where = f"{table_name}" if s.where == "table" else ("env / .env" if s.origin == "unset" else s.origin)
        rows.append(
            [
                s.name,
                where,
                ", ".join(s.needed_by) or "-",
                s.state,
                f"{strength.level}: {strength.detail}" if strength else "-",
                s.updated_at or "-",
            ]
        )
        data_rows.append(
            {
                "name": s.name,
                "where": s.where,
                "origin": s.origin,
                "needed_by": s.needed_by,
                "state": s.state,
                "strength": strength.level if strength else None,
                "length": strength.length if strength else 0,
                "detail": strength.detail if strength else None,
                "updated_at": s.updated_at,
            }
        )
    bad = [s for s in states if s.strength is None or not s.strength.ok]
    sections: list[Any] = [
        Table(["secret", "where", "needed by", "state", "strength", "last rotated"], rows, wrap=(2, 4)),
    ]
    if table_error:
        sections.append(Text(f"{table_name}: not read ({table_error})", tone="warn"))
    if bad:
        sections.append(
            Text("Fix: export missing variables (or add them to .env); set placeholders with "
                 "`cronctl secrets rotate <key>`; make new secrets with `cronctl secrets generate`.", tone="warn")
        )  # fmt: skip
    return Report(
        data={
            "runbook": runbook.name,
            "table": {"name": table_name, "error": table_error},
            "secrets": data_rows,
            "problems": len(bad),
        },
        sections=sections,
        title=f"{runbook.name}: secrets (values are never shown)",
        headline=f"{len(bad)} of {len(states)} secrets need attention" if bad else f"all {len(states)} secrets set",
        tone="crit" if bad else "ok",
        exit_code=1 if bad or table_error else 0,
    )


def generate_report(secret: str, nbytes: int) -> Report:
    return Report(
        data={"secret": secret, "bytes": nbytes, "encoding": "base64", "length": len(secret)},
        sections=[Text(secret)],
    )


def rotate_report(
    *,
    key: str,
    table: str,
    method: str,
    statement: str,
    length: int,
    strength: Strength,
    dry_run: bool,
    updated_at: datetime | None,
    users: list[str],
) -> Report:
    checklist = [step.format(jobs=", ".join(users) or "see cron.job") for step in POST_ROTATION]
    data = {
        "key": key,
        "table": table,
        "method": method,
        "statement": statement,
        "new_value_length": length,
        "strength": strength.level,
        "dry_run": dry_run,
        "rotated": not dry_run,
        "updated_at": updated_at,
        "used_by": users,
        "next_steps": checklist,
    }
    items: list[tuple[str, Any]] = [
        ("key", key),
        ("table", table),
        ("through", statement),
        ("new value", f"{length} characters ({strength.level}: {strength.detail})"),
    ]
    if updated_at is not None:
        items.append(("updated_at", updated_at))
    sections: list[Any] = [
        KeyValues(items),
        Table(["#", "after rotating"], [[i + 1, step] for i, step in enumerate(checklist)], wrap=(1,)),
    ]
    if not strength.ok:
        sections.insert(1, Text(f"The new value is {strength.level}: {strength.detail}", tone="warn"))
    return Report(
        data=data,
        sections=sections,
        title=f"secrets rotate {key}",
        headline=f"dry run: would rotate '{key}' in {table}; nothing changed" if dry_run else f"rotated '{key}'",
        tone="info" if dry_run else "ok",
    )
