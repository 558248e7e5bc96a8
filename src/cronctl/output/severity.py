"""One severity vocabulary for the human eye: ok / warn / crit / unknown, the same symbol and colour everywhere.

Each command keeps its own words in JSON (a job is `failing`, a doctor check `fail`, a trigger `error`): that is
the documented contract. What people read is the same four severities, each with one symbol and one colour, so a
red `✗` means the same thing in `triage`, `doctor`, `locks` and `trigger`. Symbols carry the meaning on their own
(`NO_COLOR`, a pasted Markdown block); colour only repeats it.

A word can mean different things in different commands (a platform check that is `error` could not be read:
unknown; a trigger that is `error` got no answer: crit), so every word is looked up in its command's vocabulary.
"""

from __future__ import annotations

SEVERITIES = ("ok", "warn", "crit", "unknown")
SYMBOL = {"ok": "✓", "warn": "!", "crit": "✗", "unknown": "?"}
STYLE = {"ok": "green", "warn": "yellow", "crit": "bold red", "unknown": "magenta"}
LABEL = {"ok": "OK", "warn": "WARNING", "crit": "CRITICAL", "unknown": "UNKNOWN"}

_OK, _WARN, _CRIT, _UNKNOWN = SEVERITIES

# Vocabularies: each command's own words → severity.
VOCABULARY: dict[str, dict[str, str]] = {
    # triage job states (DESIGN.md §4; docs/commands/triage.md)
    "job": {
        "ok": _OK,
        "running": _OK,
        "late": _WARN,
        "degraded": _WARN,
        "unverified": _WARN,
        "overrunning": _WARN,
        "never_run": _WARN,
        "disabled": _WARN,
        "missed": _CRIT,
        "failing": _CRIT,
        "stuck": _CRIT,
        "unknown": _UNKNOWN,
    },
    # one run's status, from any history source (logs, pgcron history)
    "run": {
        "succeeded": _OK,
        "success": _OK,
        "ok": _OK,
        "running": _UNKNOWN,
        "starting": _UNKNOWN,
        "connecting": _UNKNOWN,
        "sending": _UNKNOWN,
        "pending": _UNKNOWN,
        "unverified": _UNKNOWN,
        "unknown": _UNKNOWN,
        "partial": _WARN,
        "skipped": _WARN,
        "never_run": _WARN,
        "failed": _CRIT,
        "error": _CRIT,
        "timeout": _CRIT,
    },
    # lock verdicts
    "lock": {"held": _OK, "stale": _WARN, "expired": _WARN, "orphaned": _WARN},
    # triage platform checks, backlog verdicts, finding severities, report tones
    "check": {
        "ok": _OK,
        "info": _OK,
        "warn": _WARN,
        "crit": _CRIT,
        "error": _UNKNOWN,
        "skipped": _UNKNOWN,
        "timeout": _UNKNOWN,
        "unknown": _UNKNOWN,
    },
    # doctor's checklist
    "doctor": {"pass": _OK, "warn": _WARN, "fail": _CRIT, "skip": _UNKNOWN},
    # trigger verdicts
    "trigger": {"ok": _OK, "skipped": _WARN, "failed": _CRIT, "error": _CRIT, "unverified": _UNKNOWN},
}


def severity_of(word: str | None, vocabulary: str) -> str:
    """The severity a command's word stands for; a word the vocabulary does not know is `unknown`."""
    if word is None:
        return _UNKNOWN
    return VOCABULARY[vocabulary].get(word.lower(), _UNKNOWN)


def symbol(severity: str) -> str:
    return SYMBOL.get(severity, SYMBOL[_UNKNOWN])


def style(severity: str) -> str:
    return STYLE.get(severity, STYLE[_UNKNOWN])
