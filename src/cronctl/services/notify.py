"""Notifications on change: `cronctl triage --notify URL` and the runbook's `[notify]` table.

After each snapshot the triage JSON is reduced to its *status* and its *set of problems* (job states that are not
ok, backlog / check verdicts, stale locks, matched findings, a failed collection; silenced entries left out, and
free text such as counts and ages never part of it). When either differs from the previous state kept for this
runbook, profile and `--job` scope in cronctl's state dir, one message is sent: a Slack-compatible incoming-webhook
message (a summary in Slack's markdown, most urgent first) or a generic JSON webhook (the triage JSON plus
`previous_status` and `change`). The state advances only after a successful send, so a failed notice is retried
by the next run. A first run with no state sends only when the status is not ok.

A failing webhook never changes triage's exit code: it is one line on stderr and an audit record. One deadline
(http_deadline) covers the whole exchange; redirects are not followed; the URL is a secret (Slack's carries its
token) and is masked everywhere, shown only as its kind and host.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cronctl import redact

KINDS = ("slack", "webhook")
DEFAULT_TIMEOUT = 10.0
MAX_MESSAGE = 3000  # characters of a Slack message (Slack truncates `text` far later; chat reads the top)
MAX_LISTED = 15  # problems listed in a message; the rest are counted
RESPONSE_LIMIT = 4096
STATE_VERSION = 1
_OK_STATES = ("ok", "running")
_RANK = {"crit": 3, "unknown": 2, "warn": 1, "ok": 0}
_KIND_ORDER = {"collection": 0, "finding": 1, "job": 2, "backlog": 3, "check": 4, "lock": 5}
STATUS_WORD = {"ok": "OK", "warn": "WARNING", "crit": "CRITICAL", "unknown": "UNKNOWN"}


# ---------------------------------------------------------------- what counts as a change


@dataclass(frozen=True)
class Problem:
    """One problem of a snapshot: `key` identifies it across runs, `text` describes it (not compared)."""

    kind: str  # collection | finding | job | backlog | check | lock
    name: str
    state: str
    severity: str  # crit | unknown | warn
    text: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.state)


def _silenced(entry: Mapping[str, Any]) -> bool:
    return bool(entry.get("silenced"))


def problems(doc: Mapping[str, Any]) -> list[Problem]:
    """The problems in a triage JSON document, most urgent first."""
    out: list[Problem] = []
    if doc.get("error"):
        out.append(Problem("collection", "collection", "failed", "unknown", str(doc["error"])))
    for job in doc.get("jobs") or []:
        state = str(job.get("state"))
        severity = str(job.get("severity") or _job_severity(state))
        if severity == "ok" or (state in _OK_STATES and "severity" not in job) or _silenced(job):
            continue
        out.append(Problem("job", str(job.get("name")), state, severity, str(job.get("reason") or "")))
    for backlog in doc.get("backlog") or []:
        verdict = str(backlog.get("verdict"))
        if verdict not in ("warn", "crit", "error") or _silenced(backlog):
            continue
        value = backlog.get("value")
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        detail = backlog.get("error") or f"value {shown}"
        severity = "warn" if verdict == "error" else verdict
        out.append(Problem("backlog", str(backlog.get("name")), verdict, severity, str(detail)))
    for lock in doc.get("locks") or []:
        if not lock.get("stale") or _silenced(lock):
            continue
        name = str(lock.get("name") or lock.get("job"))
        out.append(Problem("lock", name, str(lock.get("state")), "warn", str(lock.get("reason") or "")))
    for check in doc.get("checks") or []:
        verdict = str(check.get("verdict"))
        if verdict not in ("warn", "crit", "error") or _silenced(check):
            continue
        severity = "warn" if verdict == "error" else verdict
        out.append(Problem("check", str(check.get("name")), verdict, severity, str(check.get("detail") or "")))
    for finding in doc.get("findings") or []:
        severity = str(finding.get("severity"))
        if finding.get("ruled_out") or severity not in ("warn", "crit") or _silenced(finding):
            continue
        name = str(finding.get("id") or finding.get("symptom"))
        if finding.get("job"):
            name = f"{name} ({finding['job']})"
        text = str(finding.get("symptom") or "")
        if finding.get("action"):
            text += f" → {finding['action']}"
        out.append(Problem("finding", name, severity, severity, text))
    unique = {p.key: p for p in out}
    return sorted(unique.values(), key=lambda p: (-_RANK.get(p.severity, 1), _KIND_ORDER.get(p.kind, 9), p.name))


def _job_severity(state: str) -> str:
    from cronctl.evaluate.health import STATE_TONE

    return STATE_TONE.get(state, "warn")


@dataclass(frozen=True)
class Change:
    kind: str  # new | changed | recovered
    previous_status: str | None
    added: tuple[Problem, ...]
    resolved: tuple[tuple[str, str, str], ...]


def compare(previous: Mapping[str, Any] | None, status: str, current: Sequence[Problem]) -> Change | None:
    """What changed since `previous` (a saved state), or None when nothing did. With no saved state only a status
    that is not ok is news."""
    keys = {p.key for p in current}
    if previous is None:
        if status == "ok":
            return None
        return Change("new", None, tuple(current), ())
    before: set[tuple[str, str, str]] = set()
    for item in previous.get("problems") or []:
        if isinstance(item, list) and len(item) == 3:
            before.add((str(item[0]), str(item[1]), str(item[2])))
    old = previous.get("status")
    old_status = str(old) if old is not None else None
    if old_status == status and before == keys:
        return None
    added = tuple(p for p in current if p.key not in before)
    resolved = tuple(sorted(k for k in before if k not in keys))
    kind = "recovered" if status == "ok" else "new" if old_status == "ok" else "changed"
    return Change(kind, old_status, added, resolved)


# ---------------------------------------------------------------- where the previous state lives


def state_dir() -> Path:
    """$CRONCTL_STATE_DIR, else $XDG_STATE_HOME/cronctl (~/.local/state/cronctl): where the audit log lives too."""
    explicit = os.environ.get("CRONCTL_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cronctl"


def state_path(runbook_path: Path, runbook_name: str, profile: str | None, scope: str | None) -> Path:
    """One file per runbook (its resolved path), profile and `--job` scope."""
    try:
        where = str(runbook_path.resolve())
    except OSError:
        where = str(runbook_path)
    digest = hashlib.sha256("\0".join([where, profile or "", scope or ""]).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", runbook_name)[:40].strip("-.") or "runbook"
    parts = [slug, profile, scope]
    name = "@".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", p)[:40] for p in parts if p)
    return state_dir() / "notify" / f"{name}.{digest}.json"


def load_state(path: Path) -> dict[str, Any] | None:
    from cronctl.userfiles import read_bounded

    try:
        data = json.loads(read_bounded(path, 1 << 20).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable or corrupt: as if there were none (the next send rewrites it)
    return data if isinstance(data, dict) and data.get("version") == STATE_VERSION else None


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Atomically, readable by its owner only."""
    from cronctl.output.cells import safe_json

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(safe_json(dict(state), indent=1) + "\n")
    os.replace(temporary, path)


@contextlib.contextmanager
def state_lock(path: Path, timeout: float) -> Iterator[bool]:
    """An exclusive lock on `path`'s lock file for at most `timeout` seconds of waiting: two timers firing together
    send one notice, not two. Yields False when the lock could not be had."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        until = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= until:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- messages


def _slack_escape(text: str) -> str:
    """Slack's three control characters: data can never ping `<!channel>` or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def system_label(doc: Mapping[str, Any]) -> str:
    name = str(doc.get("runbook") or "?")
    return f"{name} ({doc['profile']})" if doc.get("profile") else name


def slack_text(doc: Mapping[str, Any], change: Change, current: Sequence[Problem]) -> str:
    """The Slack message: the new status and what it was, then the problems most urgent first, then what cleared."""
    status = str(doc.get("status"))
    was = STATUS_WORD.get(change.previous_status or "", change.previous_status or "")
    head = f"*{STATUS_WORD.get(status, status.upper())}* · triage: {_slack_escape(system_label(doc))}"
    if change.kind == "recovered":
        head += f" · recovered (was {was})"
    elif was:
        head += f" · was {was}"
    lines = [head]
    if current:
        lines.append(f"{len(current)} problem(s), most urgent first:")
        new = {p.key for p in change.added}
        for problem in current[:MAX_LISTED]:
            marker = " _(new)_" if problem.key in new and change.previous_status is not None else ""
            text = f": {_slack_escape(_one_line(problem.text))}" if problem.text else ""
            lines.append(f"• [{problem.severity}] {problem.kind} *{_slack_escape(problem.name)}* "
                         f"{_slack_escape(problem.state)}{text}{marker}")  # fmt: skip
        if len(current) > MAX_LISTED:
            lines.append(f"• … and {len(current) - MAX_LISTED} more (`cronctl triage` shows all)")
    else:
        lines.append(f"All {len(doc.get('jobs') or [])} job(s) healthy.")
    if change.resolved:
        shown = ", ".join(f"{kind} {name} {state}" for kind, name, state in change.resolved[:MAX_LISTED])
        more = f" and {len(change.resolved) - MAX_LISTED} more" if len(change.resolved) > MAX_LISTED else ""
        lines.append(f"Cleared: {_slack_escape(shown)}{more}")
    when = doc.get("generated_at")
    if when:
        lines.append(f"_cronctl triage at {_slack_escape(str(when))}_")
    text = "\n".join(lines)
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 40].rsplit("\n", 1)[0] + "\n• … (cut to fit one message)"
    return text


def payload(kind: str, doc: Mapping[str, Any], change: Change, current: Sequence[Problem]) -> dict[str, Any]:
    if kind == "slack":
        return {"text": slack_text(doc, change, current)}
    return {**doc, "previous_status": change.previous_status, "change": change.kind}


def _jsonable(value: Any) -> Any:
    from cronctl.output.cells import json_default

    return json.loads(json.dumps(value, default=json_default))


def encode(body: Mapping[str, Any]) -> bytes:
    """The body as sent: every secret masked by value, still valid JSON."""
    from cronctl.output.cells import safe_json

    text = safe_json(dict(body))
    json.loads(text)  # masking replaces whole values inside strings; prove the document still parses
    return text.encode("utf-8")


# ---------------------------------------------------------------- sending


def describe(url: str, kind: str) -> str:
    """What a person may see of a webhook URL: its kind and host (the path and query carry the token)."""
    try:
        host = urlsplit(url).hostname or "?"
    except ValueError:
        host = "?"
    return f"{kind} ({host})"


def register_url(url: str) -> None:
    """The webhook URL is a credential: mask it, and its path and query on their own, in every later output."""
    redact.register(url)
    redact.register_url_password(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(tail) >= 12:
        redact.register(tail)
    if len(parts.query) >= 8:
        redact.register(parts.query)


def check_url(url: str, where: str) -> None:
    from cronctl.errors import UsageError

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"{where}: not an http(s) URL (value not shown)")


def default_kind(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        host = ""
    return "slack" if host == "slack.com" or host.endswith(".slack.com") else "webhook"


def post(url: str, body: bytes, timeout: float) -> tuple[int | None, str | None]:
    """POST `body`; (HTTP status, None) on a 2xx, else (status or None, why). Never raises for network trouble."""
    import httpx

    from cronctl import __version__
    from cronctl.sources.http_deadline import DeadlineExceeded, deadline, make_client, read_limited

    headers = {"content-type": "application/json", "user-agent": f"cronctl/{__version__}"}
    try:
        with deadline(timeout), make_client(verify=url.lower().startswith("https:")) as client:
            request = client.build_request("POST", url, headers=headers, content=body, timeout=timeout)
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                kept, _, _ = read_limited(response, RESPONSE_LIMIT)
            finally:
                response.close()
    except (httpx.TimeoutException, DeadlineExceeded):
        return None, f"no complete answer within {timeout:g}s"
    except httpx.HTTPError as exc:
        return None, redact.redact(f"{type(exc).__name__}: {exc}")
    except ValueError as exc:  # a URL httpx cannot use
        return None, redact.redact(str(exc))
    status = response.status_code
    if 200 <= status < 300:
        return status, None
    said = _one_line(kept.decode("utf-8", "replace"), 200)
    where = " (a redirect: not followed)" if 300 <= status < 400 else ""
    return status, redact.redact(f"HTTP {status}{where}" + (f": {said}" if said else ""))


# ---------------------------------------------------------------- the notifier


@dataclass(frozen=True)
class Outcome:
    sent: bool
    change: str | None = None
    previous_status: str | None = None
    error: str | None = None
    http_status: int | None = None


class Notifier:
    """Compares each snapshot with the saved state and sends one notice per change."""

    def __init__(
        self,
        url_template: str,
        kind: str | None,
        timeout: float,
        resolve: Any,
        *,
        runbook_path: Path,
        runbook_name: str,
        profile: str | None,
        scope: str | None,
        origin: str,
    ) -> None:
        self.url_template = url_template
        self.kind = kind
        self.timeout = timeout
        self._resolve = resolve  # (template, where) -> str; raises CronctlError when a variable is unset
        self.runbook_path = runbook_path
        self.runbook_name = runbook_name
        self.profile = profile
        self.scope = scope
        self.origin = origin
        self.path = state_path(runbook_path, runbook_name, profile, scope)

    def observe(self, doc: Mapping[str, Any]) -> Outcome:
        """Look at one snapshot's JSON; send when it changed. Never raises for a notification problem."""
        from cronctl.errors import CronctlError

        try:
            return self._observe(_jsonable(doc))
        except CronctlError as exc:
            self._report(None, None, exc.message, None)
            return Outcome(False, error=exc.message)
        except OSError as exc:
            message = f"notify: state file {self.path}: {exc.strerror or exc}"
            self._report(None, None, message, None)
            return Outcome(False, error=message)

    def _observe(self, doc: dict[str, Any]) -> Outcome:
        status = str(doc.get("status"))
        current = problems(doc)
        with state_lock(self.path, self.timeout) as locked:
            if not locked:
                return self._failed(None, None, "another cronctl is notifying for this runbook; skipped", None)
            previous = load_state(self.path)
            change = compare(previous, status, current)
            if change is None:
                if previous is None:
                    self._save(status, current, None)
                return Outcome(False)
            url = self._resolve(self.url_template, self.origin)
            check_url(url, self.origin)
            register_url(url)
            kind = self.kind or default_kind(url)
            body = encode(payload(kind, doc, change, current))
            http_status, error = post(url, body, self.timeout)
            shown = describe(url, kind)
            if error is not None:
                return self._failed(change, shown, error, http_status)
            self._save(status, current, datetime.now(UTC))
            self._report(change, shown, None, http_status)
            return Outcome(True, change.kind, change.previous_status, None, http_status)

    def _failed(self, change: Change | None, shown: str | None, error: str, http_status: int | None) -> Outcome:
        self._report(change, shown, error, http_status)
        return Outcome(False, change.kind if change else None, change.previous_status if change else None,
                       error, http_status)  # fmt: skip

    def _save(self, status: str, current: Sequence[Problem], notified: datetime | None) -> None:
        previous = load_state(self.path) or {}
        save_state(
            self.path,
            {
                "version": STATE_VERSION,
                "runbook": self.runbook_name,
                "runbook_path": str(self.runbook_path),
                "profile": self.profile,
                "scope": self.scope,
                "status": status,
                "problems": [list(p.key) for p in current],
                "updated_at": datetime.now(UTC),
                "notified_at": notified or previous.get("notified_at"),
            },
        )

    def _report(self, change: Change | None, shown: str | None, error: str | None, http_status: int | None) -> None:
        """stderr and the audit log; an audit file that cannot be written is said on stderr, nothing more."""
        from cronctl.audit import write_audit
        from cronctl.errors import CronctlError
        from cronctl.output import terminal

        target = shown or "notification"
        label = f"{self.runbook_name}" + (f" ({self.profile})" if self.profile else "")
        if error is None and change is not None:
            was = STATUS_WORD.get(change.previous_status or "", "no earlier state")
            terminal.status(f"notified {target} for {label}: {change.kind} (was {was})")
        else:
            terminal.warn(f"notify {target} for {label} failed: {error} (triage's exit code is unchanged)")
        details = {
            "kind": self.kind,
            "change": change.kind if change else None,
            "previous_status": change.previous_status if change else None,
            "http_status": http_status,
            "error": error,
            "scope": self.scope,
            "state_file": str(self.path),
        }
        try:
            write_audit("notify", runbook=str(self.runbook_path), profile=self.profile, target=target,
                        result="sent" if error is None else "failed", details=details)  # fmt: skip
        except CronctlError as exc:
            terminal.warn(f"notify: {exc.message}")


def for_invocation(
    inv: Any,
    *,
    url: str | None,
    kind: str | None,
    enabled: bool,
    scope: str | None,
) -> Notifier | None:
    """The notifier for one triage target: `--notify URL` (a `${VAR}` in it is read from the environment) over the
    runbook's `[notify]`; None when neither is set or `--no-notify`. A bad `--notify` value is a usage error."""
    if not enabled:
        return None
    runbook = inv.runbook()
    spec = getattr(runbook, "notify", None)
    if url is None and spec is None:
        return None
    env = inv.env()
    timeout = spec.timeout if spec is not None else DEFAULT_TIMEOUT
    chosen_kind = kind or (spec.kind if spec is not None else None)
    if url is not None:
        origin = "--notify"
        resolved = env.resolve(url, origin)
        register_url(resolved)  # a literal URL given on the command line is masked from here on too
        check_url(resolved, origin)
        template = url
    else:
        assert spec is not None
        origin = f"notify.url in {runbook.path}"
        template = spec.url
    return Notifier(template, chosen_kind, timeout, env.resolve, runbook_path=runbook.path,
                    runbook_name=runbook.name, profile=runbook.profile, scope=scope, origin=origin)  # fmt: skip


def failure_document(runbook: str, profile: str | None, message: str, now: datetime | None = None) -> dict[str, Any]:
    """What a snapshot that could not be collected says: status unknown, the error, no jobs."""
    return {
        "status": "unknown",
        "generated_at": now or datetime.now(UTC),
        "runbook": runbook,
        "profile": profile,
        "error": message,
        "reasons": [message],
        "jobs": [],
        "failures": [],
        "backlog": [],
        "locks": [],
        "checks": [],
        "findings": [],
    }
