"""Cron schedules exactly as pg_cron reads them: parsing, fire times, human text, and what each version accepts.

The parser is a port of pg_cron's own (`src/entry.c`, Vixie cron's `load_entry` cut down to the schedule, and
`TryParseInterval` in `src/job_metadata.c`), so it accepts what pg_cron accepts and reads it the way pg_cron
does, quirks included (measured against pg_cron 1.4.2, see tests/system/test_schedule_parity.py):

- a field is a list of `*`, `n`, `a-b` and `a-b/s` / `*/s`; `n/s` (a step without a range), `L`, `W`, `?` and
  `@every` are errors; a step larger than the field (`*/61`) is fine and selects only the first value;
- a reversed range (`5-1`) selects nothing, so `0 0 * * 5-1` is valid and never fires;
- after a field's last range, anything up to the next blank is skipped: `1#2` is `1` (every Monday);
- everything after the fifth field is ignored (crontab's command part): `* * * * * *` fires once a minute;
- `@reboot` runs only when the scheduler starts; aliases are lower-case only (`@DAILY` is refused);
- day of month and day of week: when either field starts with `*` both must match, otherwise either may;
- `N second` / `N seconds` (1-59, any case) is an interval schedule from pg_cron 1.5; `$` (last day of the
  month) in the day-of-month field from 1.6.

Fire times follow pg_cron's scheduler: every minute whose wall-clock time in the schedule's zone matches the
fields fires. In a daylight-saving gap the skipped local times never fire; in an overlap a matching local time
fires twice (pg_cron checks each real minute in `cron.timezone`; 1.4 always runs in GMT).
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from itertools import islice, pairwise

from cronctl.errors import ScheduleError
from cronctl.records import aware

VERSIONS = ("1.4", "1.5", "1.6")
NEWEST = VERSIONS[-1]
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DOWS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FIELDS = (  # name, low, high, names (pg_cron's MonthNames / DowNames)
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DOWS),
)
_MAX_LENGTH = 1000  # pg_cron's MAX_FILE_BUFFER_LENGTH: a schedule this long or longer is refused
# TryParseInterval: sscanf(lower(text), " %u secon%c%c %c"): 'second' at the very end, or 'seconds' + blanks.
_INTERVAL = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)[ \t\n\r\f\v]*secon(?:d|ds[ \t\n\r\f\v]*)", re.ASCII)
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NAMES = tuple(calendar.month_name)
_SEARCH_YEARS = 30  # fire times are looked for this far ahead / back (every calendar repeats within 28 years)
_DST_SLACK = timedelta(hours=3)  # more than any zone's daylight-saving shift
_WINDOW = timedelta(hours=12)  # no zone shifts twice within this


def get_timezone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone '{name}' (use an IANA name like Europe/Berlin or UTC)") from None


class NeverFiresError(ScheduleError):
    """pg_cron accepts the schedule, but it has no fire times (`@reboot`, `0 0 31 2 *`, `0 0 * * 5-1`)."""


# ---------------------------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class CronEntry:
    """What pg_cron's parser makes of a schedule: one set per field, Vixie's star flags, `$`, and what was
    skipped over (so explain can say what pg_cron ignores)."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    doms: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    dows: frozenset[int] = frozenset()  # 0-6, Sunday = 0 (7 folded into 0)
    dom_star: bool = False
    dow_star: bool = False
    last_dom: bool = False  # `$` (pg_cron 1.6)
    reboot: bool = False
    every_seconds: int | None = None
    ignored: tuple[str, ...] = ()  # human notes: parts of the text pg_cron skips without reading

    @property
    def fires(self) -> bool:
        if self.reboot:
            return False
        if self.every_seconds is not None:
            return True
        if not (self.minutes and self.hours and self.months):
            return False
        dates = any(d <= _longest_month(m) for m in self.months for d in self.doms) or self.last_dom
        if self.dom_star or self.dow_star:
            return dates and bool(self.dows)
        return dates or bool(self.dows)

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.doms or (self.last_dom and day.day == calendar.monthrange(day.year, day.month)[1])
        dow = (day.isoweekday() % 7) in self.dows
        return (dom and dow) if (self.dom_star or self.dow_star) else (dom or dow)


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


class _Reject(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Reader:
    """pg_cron's in-memory FILE: get_char returns '\\0' at the end (never EOF), unget pushes back."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def get(self) -> str:
        self.pos += 1
        return self.text[self.pos - 1] if self.pos <= len(self.text) else "\0"

    def unget(self) -> None:
        self.pos -= 1

    def rest(self) -> str:
        return self.text[self.pos :]


def _isalnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def parse_entry(text: str, version: str = NEWEST) -> CronEntry:
    """pg_cron's ParseSchedule for `version`: a CronEntry, or ScheduleError saying why pg_cron refuses it."""
    if version not in VERSIONS:
        raise ValueError(f"unknown pg_cron version {version}")
    try:
        return _parse_cron(text, version)
    except _Reject as cron_error:
        if version != "1.4":
            seconds = _interval(text)
            if seconds is not None:
                return CronEntry(every_seconds=seconds)
        raise ScheduleError(_message(text, cron_error.why, version)) from None


def _message(text: str, why: str, version: str) -> str:
    shown = text if len(text) <= 80 else text[:77] + "..."
    message = f"invalid cron expression '{shown}': {why}"
    if version == "1.4" and _interval(text) is not None:
        message += " ('N seconds' needs pg_cron 1.5+)"
    return message


def _interval(text: str) -> int | None:
    lowered = "".join(c.lower() if c.isascii() else c for c in text)
    match = _INTERVAL.fullmatch(lowered)
    if not match:
        return None
    value = int(match.group(1))
    if value < 0:
        value %= 2**32  # %u reads "-1" as a huge number
    return value if 0 < value < 60 else None


def _parse_cron(text: str, version: str) -> CronEntry:
    if len(text) >= _MAX_LENGTH:
        raise _Reject(f"longer than {_MAX_LENGTH - 1} characters")
    reader = _Reader(text)
    _skip_comments(reader)
    ch = reader.get()
    ignored: list[str] = []
    if ch == "@":
        word = ""
        while True:
            ch = reader.get()
            if ch in " \t\n\0":
                break
            word += ch
        if ch != "\0" and reader.rest().strip():
            ignored.append(f"pg_cron ignores what follows @{word}: {reader.rest().strip()!r}")
        if word in ("reboot", "restart"):
            return CronEntry(reboot=True, ignored=tuple(ignored))
        alias = ALIASES.get("@" + word)
        if alias is None:
            hint = " (aliases are lower-case)" if ("@" + word.lower()) in ALIASES else ""
            raise _Reject(f"unknown schedule alias '@{word}'{hint}; pg_cron knows {', '.join(ALIASES)}, @reboot")
        entry = _parse_cron(alias, version)
        # pg_cron's @-forms set DOW_STAR (yearly, monthly, weekly) exactly as the five fields they stand for do.
        return replace(entry, ignored=tuple(ignored))
    sets: list[frozenset[int]] = []
    stars: list[bool] = []
    last_dom = False
    for index, (name, low, high, names) in enumerate(_FIELDS):
        stars.append(ch == "*")
        bits, ch, skipped, dollar = _get_list(reader, ch, name, low, high, names, version)
        last_dom = last_dom or dollar
        if skipped:
            if "#" in skipped and index == 4:
                ignored.append(f"pg_cron ignores '{skipped}' in the day-of-week field (no nth weekday)")
            else:
                ignored.append(f"pg_cron ignores '{skipped}' after the {name} field's value")
        sets.append(bits)
    rest = (ch + reader.rest()).strip() if ch != "\0" else ""
    if rest:
        ignored.append(f"pg_cron reads five fields and ignores the rest: {rest!r}")
    dows = frozenset(d % 7 for d in sets[4])
    return CronEntry(
        minutes=sets[0],
        hours=sets[1],
        doms=sets[2],
        months=sets[3],
        dows=dows,
        dom_star=stars[2],
        dow_star=stars[4],
        last_dom=last_dom,
        ignored=tuple(ignored),
    )


def _skip_comments(reader: _Reader) -> None:
    while True:
        ch = reader.get()
        while ch in " \t":
            ch = reader.get()
        if ch not in "\n#":
            reader.unget()
            return
        while ch != "\n":
            if ch == "\0":
                # pg_cron's skip_comments loops for ever here (get_char never returns EOF): refuse it instead.
                raise _Reject("a '#' comment without a following line: pg_cron's parser never returns on it")
            ch = reader.get()


def _get_list(
    reader: _Reader, ch: str, name: str, low: int, high: int, names: tuple[str, ...] | None, version: str
) -> tuple[frozenset[int], str, str, bool]:
    bits: set[int] = set()
    dollar = False
    while True:
        ch, is_dollar = _get_range(reader, ch, bits, name, low, high, names, version)
        dollar = dollar or is_dollar
        if ch == ",":
            ch = reader.get()
            continue
        break
    skipped = ""
    while ch not in " \t\n\0":  # Skip_Nonblanks
        skipped += ch
        ch = reader.get()
    while ch in " \t":  # Skip_Blanks
        ch = reader.get()
    return frozenset(bits), ch, skipped, dollar


def _get_range(
    reader: _Reader,
    ch: str,
    bits: set[int],
    name: str,
    low: int,
    high: int,
    names: tuple[str, ...] | None,
    version: str,
) -> tuple[str, bool]:
    if ch == "$" and name == "day-of-month" and version == "1.6":
        return reader.get(), True
    if ch == "*":
        num1, num2 = low, high
        ch = reader.get()
    else:
        num1, ch = _get_number(reader, ch, name, low, names)
        if ch != "-":
            if ch == "/":
                raise _Reject(f"{name} step '{num1}/…' needs a range ('*/n' or 'a-b/n')")
            if not low <= num1 <= high:
                raise _Reject(f"{name} value {num1} is out of range ({low}-{high})")
            bits.add(num1)
            return ch, False
        ch = reader.get()
        num2, ch = _get_number(reader, ch, name, low, names)
    step = 1
    if ch == "/":
        ch = reader.get()
        step, ch = _get_number(reader, ch, name, 0, None)
        if step <= 0:
            raise _Reject(f"{name} step must be at least 1")
    if not (low <= num1 <= high and low <= num2 <= high):
        raise _Reject(f"{name} range {num1}-{num2} is out of range ({low}-{high})")
    bits.update(range(num1, num2 + 1, step))  # a reversed range selects nothing, as in pg_cron
    return ch, False


def _get_number(reader: _Reader, ch: str, name: str, low: int, names: tuple[str, ...] | None) -> tuple[int, str]:
    token = ""
    while _isalnum(ch):
        token += ch
        if len(token) >= 1000:
            raise _Reject(f"{name} value is too long")
        ch = reader.get()
    if not token:
        shown = "end of text" if ch == "\0" else repr(ch)
        raise _Reject(f"{name} field: expected a number, a name or '*', found {shown}")
    if names:
        lowered = token.lower()
        if lowered in names:
            return names.index(lowered) + low, ch
    if token.isdigit():
        return int(token), ch
    what = "names like JAN or MON" if names else "numbers"
    raise _Reject(f"{name} field: '{token}' is not understood (pg_cron takes {what}; no L, W or ?)")


def _fields_error(text: str) -> str | None:
    """Plainer messages for the commonest mistakes: fewer than five fields, a misspelt 'N seconds'."""
    stripped = text.strip()
    if stripped.startswith(("@", "#")) or not stripped:
        return None
    seconds = re.fullmatch(r"([+-]?[0-9]+)\s*([A-Za-z]+)", stripped)
    if seconds:
        if seconds.group(2).lower() in ("second", "seconds"):
            return f"invalid schedule '{text}': 'N seconds' takes 1 to 59 seconds"
        return f"invalid schedule '{text}': pg_cron needs the word 'second' or 'seconds' ('30 seconds', 1 to 59)"
    count = len(stripped.split())
    if count < 5:
        return (
            f"invalid cron expression '{text}': expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {count}"
        )
    return None


# ------------------------------------------------------------------------------- versions and schedulers


@dataclass(frozen=True)
class VersionVerdict:
    version: str
    accepted: bool
    meaning: str  # what this version makes of it, or why it refuses it


def compatibility(expression: str) -> list[VersionVerdict]:
    """For each pg_cron version (1.4, 1.5, 1.6): accepted or rejected, and what it means there."""
    out = []
    for version in VERSIONS:
        try:
            entry = parse_entry(expression, version)
        except ScheduleError as exc:
            out.append(VersionVerdict(version, False, str(exc)))
            continue
        out.append(VersionVerdict(version, True, describe_entry(entry)))
    return out


def scheduler_rules(expression: str, scheduler: str) -> tuple[list[str], list[str]]:
    """(refusals, warnings) of Vercel or GitHub Actions for a schedule: their own rules, in UTC only."""
    text = expression.strip()
    fields = text.split()
    refused: list[str] = []
    warnings: list[str] = []
    if scheduler not in ("vercel", "github"):
        return refused, warnings
    label = "Vercel" if scheduler == "vercel" else "GitHub Actions"
    if text.startswith("@") or len(fields) != 5 or _interval(text) is not None:
        return [f"{label} takes exactly five cron fields (no aliases, no 'N seconds')"], warnings
    if scheduler == "vercel" and any(re.search(r"[^0-9*,/-]", f) for f in fields):
        refused.append("Vercel takes numbers only (no MON, JAN, L, W, #, ? or $)")
    if scheduler == "github" and any(re.search(r"[^0-9A-Za-z*,/-]", f) for f in fields):
        refused.append("GitHub Actions takes numbers, names, * , - and / only (no L, W, #, ? or $)")
    if scheduler == "vercel" and fields[2] != "*" and fields[4] != "*":
        refused.append("Vercel cannot set both day of month and day of week: one of them must be *")
    if not refused:
        try:
            runs = Schedule.parse(text, "UTC").next_runs(datetime(2001, 1, 1, tzinfo=UTC), 3)
        except ScheduleError:
            runs = []
        gaps = [(b - a).total_seconds() for a, b in pairwise(runs)]
        if scheduler == "github" and gaps and min(gaps) < 300:
            warnings.append("GitHub Actions runs a schedule at most every 5 minutes, often 5-30 minutes late")
        if scheduler == "vercel" and gaps and min(gaps) < 86400:
            warnings.append("Vercel's Hobby plan runs crons at most once a day")
    return refused, warnings


# ----------------------------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class Schedule:
    expression: str  # as written
    entry: CronEntry = field(compare=False)
    tz_name: str = "UTC"
    min_version: str | None = None  # the oldest pg_cron that accepts it, when 1.4 does not

    @staticmethod
    def parse(expression: str, tz: str = "UTC") -> Schedule:
        """A schedule that fires; ScheduleError when pg_cron refuses it, NeverFiresError when it has no fire
        times (pg_cron accepts it, but there is nothing to judge runs against)."""
        return _parse(expression, tz)

    @property
    def every_seconds(self) -> int | None:
        return self.entry.every_seconds

    @property
    def cron(self) -> str | None:
        """The five fields (as written, or an alias's expansion); None for interval schedules."""
        if self.entry.every_seconds is not None:
            return None
        return ALIASES.get(self.expression.strip(), self.expression.strip())

    @property
    def tz(self) -> tzinfo:
        return get_timezone(self.tz_name)

    @property
    def min_pg_cron_version(self) -> str | None:
        return self.min_version

    @property
    def ignored(self) -> tuple[str, ...]:
        return self.entry.ignored

    def next_runs(self, after: datetime, count: int = 1) -> list[datetime]:
        return list(islice(self._iterate(after, reverse=False), count))

    def next_run(self, after: datetime) -> datetime | None:
        runs = self.next_runs(after, 1)
        return runs[0] if runs else None

    def previous_runs(self, before: datetime, count: int = 1) -> list[datetime]:
        return list(islice(self._iterate(before, reverse=True), count))

    def previous_run(self, before: datetime) -> datetime | None:
        runs = self.previous_runs(before, 1)
        return runs[0] if runs else None

    def runs_between(self, start: datetime, end: datetime, cap: int = 100) -> list[datetime]:
        """Fire times in (start, end], at most `cap` of them (missed-slot counting is capped)."""
        result: list[datetime] = []
        for when in self._iterate(start, reverse=False):
            if when > end or len(result) >= cap:
                break
            result.append(when)
        return result

    def typical_interval(self, around: datetime) -> float:
        """Seconds between two consecutive fires near `around`; grace and history windows scale with it."""
        if self.every_seconds is not None:
            return float(self.every_seconds)
        runs = self.next_runs(around, 2)
        if len(runs) < 2:
            return 86400.0
        return (runs[1] - runs[0]).total_seconds()

    def describe(self) -> str:
        text = describe_entry(self.entry)
        if self.every_seconds is not None:
            return text
        zone = self.tz_name if self.tz_name.upper() not in ("UTC", "GMT") else "UTC"
        return f"{text} ({zone})"

    # -- fire times: every minute whose local wall-clock time matches, exactly as pg_cron's ShouldRunTask

    def _iterate(self, start: datetime, *, reverse: bool) -> Iterator[datetime]:
        start = aware(start).astimezone(UTC)
        if self.every_seconds is not None:
            yield from self._iterate_seconds(start, reverse=reverse)
            return
        current: datetime | None = start
        while current is not None:
            current = self._step(current, reverse)
            if current is not None:
                yield current

    def _iterate_seconds(self, start: datetime, *, reverse: bool) -> Iterator[datetime]:
        assert self.every_seconds is not None
        step = timedelta(seconds=self.every_seconds)
        # Count from a fixed origin so previous and next fire times agree whatever N is.
        anchor = datetime(1970, 1, 1, tzinfo=UTC)
        if reverse:
            current = anchor + ((start - anchor) // step) * step
            if current >= start:
                current -= step
            while True:
                yield current
                current -= step
        else:
            current = anchor + ((start - anchor) // step + 1) * step
            while True:
                yield current
                current += step

    def _step(self, moment: datetime, reverse: bool) -> datetime | None:
        """The first fire time strictly after (or before) `moment`, an aware UTC datetime."""
        tz = self.tz
        local = moment.astimezone(tz).replace(tzinfo=None)
        offset = (moment - _WINDOW).astimezone(tz).utcoffset()
        if tz is not UTC and offset is not None and offset == (moment + _WINDOW).astimezone(tz).utcoffset():
            # No daylight-saving shift near `moment`: wall clock and instants move together.
            for naive in self._candidates(local, reverse):
                when = (naive - offset).replace(tzinfo=UTC)
                if abs(when - moment) > _WINDOW:
                    break
                if (when < moment) if reverse else (when > moment):
                    return when
            else:
                return None
        if tz is UTC:
            for naive in self._candidates(local, reverse):
                when = naive.replace(tzinfo=UTC)
                if (when < moment) if reverse else (when > moment):
                    return when
            return None
        # Local wall-clock times and instants are in order except across a daylight-saving shift: look from a
        # few hours before, and keep looking a few hours past the first hit for an earlier (later) instant.
        origin = local + _DST_SLACK if reverse else local - _DST_SLACK
        best: datetime | None = None
        best_local: datetime | None = None
        for naive in self._candidates(origin, reverse):
            if best_local is not None and abs(naive - best_local) > _DST_SLACK:
                break
            for when in _instants(naive, tz):
                later = (when < moment) if reverse else (when > moment)
                if later and (best is None or ((when > best) if reverse else (when < best))):
                    best, best_local = when, naive
        return best

    def _candidates(self, origin: datetime, reverse: bool) -> Iterator[datetime]:
        """Matching local wall-clock minutes from `origin` (inclusive) onward, or backward."""
        entry = self.entry
        hours = sorted(entry.hours)
        minutes = sorted(entry.minutes)
        if not hours or not minutes:
            return
        origin = origin.replace(second=0, microsecond=0)
        day = origin.date()
        step = timedelta(days=-1 if reverse else 1)
        for offset in range(366 * _SEARCH_YEARS):
            if offset:
                try:
                    day = day + step
                except OverflowError:
                    return
            if not entry.day_matches(day):
                continue
            first_day = offset == 0
            day_hours = hours[::-1] if reverse else hours
            for hour in day_hours:
                if first_day and ((hour > origin.hour) if reverse else (hour < origin.hour)):
                    continue
                same_hour = first_day and hour == origin.hour
                if same_hour:
                    if reverse:
                        mins = minutes[: bisect.bisect_right(minutes, origin.minute)][::-1]
                    else:
                        mins = minutes[bisect.bisect_left(minutes, origin.minute) :]
                else:
                    mins = minutes[::-1] if reverse else minutes
                for minute in mins:
                    yield datetime(day.year, day.month, day.day, hour, minute)


def _instants(naive: datetime, tz: tzinfo) -> list[datetime]:
    """The real instants (0, 1 or 2) at which the wall clock in `tz` shows `naive`."""
    out: list[datetime] = []
    for fold in (0, 1):
        when = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if when.astimezone(tz).replace(tzinfo=None) == naive and when not in out:
            out.append(when)
    return sorted(out)


@lru_cache(maxsize=512)
def _parse(expression: str, tz: str) -> Schedule:
    get_timezone(tz)
    if not expression.strip():
        raise ScheduleError("empty cron expression")
    try:
        entry = parse_entry(expression, NEWEST)
    except ScheduleError:
        raise ScheduleError(_fields_error(expression) or _best_message(expression)) from None
    min_version = None
    try:
        parse_entry(expression, "1.4")
    except ScheduleError:
        min_version = "1.5" if entry.every_seconds is not None else "1.6"
    schedule = Schedule(expression, entry, tz, min_version)
    if entry.reboot:
        raise NeverFiresError(
            f"'{expression.strip()}' runs only when the pg_cron scheduler starts (server start or restart); "
            "it has no fire times to judge runs against"
        )
    if not entry.fires:
        raise NeverFiresError(f"cron expression '{expression}' never fires: {never_fires_reason(entry)}")
    return schedule


def _best_message(expression: str) -> str:
    try:
        parse_entry(expression, NEWEST)
    except ScheduleError as exc:
        return str(exc)
    return f"invalid cron expression '{expression}'"  # pragma: no cover


def never_fires_reason(entry: CronEntry) -> str:
    if entry.reboot:
        return "@reboot runs only when the pg_cron scheduler starts (server start or restart), never on a schedule"
    empty = [
        name
        for name, values in (("minute", entry.minutes), ("hour", entry.hours), ("month", entry.months))
        if not values
    ]
    if empty:
        return f"the {empty[0]} field selects nothing (a reversed range like 5-1 is empty in pg_cron)"
    if (entry.dom_star or entry.dow_star) and not entry.dows:
        return "the day-of-week field selects nothing (a reversed range like 5-1 is empty in pg_cron)"
    return "no month has those days"


def explain_expression(expression: str) -> tuple[CronEntry, str, bool]:
    """(entry, meaning, fires) for any schedule the newest pg_cron accepts; ScheduleError otherwise."""
    if not expression.strip():
        raise ScheduleError("empty cron expression")
    try:
        entry = parse_entry(expression, NEWEST)
    except ScheduleError:
        raise ScheduleError(_fields_error(expression) or _best_message(expression)) from None
    return entry, describe_entry(entry), entry.fires


# --------------------------------------------------------------------------------------------- human text


def describe_entry(entry: CronEntry) -> str:
    if entry.reboot:
        return "Once when the pg_cron scheduler starts (never on a schedule)"
    if entry.every_seconds is not None:
        unit = "second" if entry.every_seconds == 1 else f"{entry.every_seconds} seconds"
        return f"Every {unit}"
    if not entry.fires:
        return "Never: " + never_fires_reason(entry)
    text = _time_text(entry)
    days = _day_text(entry)
    months = _month_text(entry)
    if days == "every day" and (text.startswith("Every") or months):
        days = ""
    return " ".join(part for part in (text, days, months) if part)


def _ranges(values: frozenset[int] | set[int], names: tuple[str, ...] | None = None) -> str:
    ordered = sorted(values)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{_show(ordered[i], names)}–{_show(ordered[j], names)}")
        else:
            parts.extend(_show(v, names) for v in ordered[i : j + 1])
        i = j + 1
    return ", ".join(parts)


def _show(value: int, names: tuple[str, ...] | None) -> str:
    return names[value] if names else str(value)


def _step_of(values: frozenset[int], low: int, high: int) -> int | None:
    """s when `values` is exactly low, low+s, low+2s, … (a `*/s` field), else None."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != low:
        return None
    step = ordered[1] - ordered[0]
    return step if ordered == list(range(low, high + 1, step)) else None


def _time_text(entry: CronEntry) -> str:
    minutes, hours = entry.minutes, entry.hours
    all_minutes, all_hours = len(minutes) == 60, len(hours) == 24
    if all_minutes and all_hours:
        return "Every minute"
    minute_step = _step_of(minutes, 0, 59)
    if all_hours:
        if all_minutes:
            return "Every minute"
        if minute_step and 60 % minute_step == 0:
            return f"Every {minute_step} minutes"
        if len(minutes) == 1:
            (minute,) = minutes
            return "Every hour, on the hour" if minute == 0 else f"Every hour at minute {minute}"
        return f"Every hour at minutes {_ranges(minutes)}"
    if len(minutes) * len(hours) <= 6:
        times = sorted(f"{h:02d}:{m:02d}" for h in hours for m in minutes)
        return "At " + ", ".join(times)
    hour_step = _step_of(hours, 0, 23)
    hour_text = f"every {hour_step} hours" if hour_step else f"hours {_ranges(hours)}"
    if all_minutes:
        return f"Every minute of {hour_text}"
    if minute_step and 60 % minute_step == 0:
        return f"Every {minute_step} minutes of {hour_text}"
    if len(minutes) == 1:
        (minute,) = minutes
        return f"At minute {minute} of {hour_text}"
    return f"At minutes {_ranges(minutes)} of {hour_text}"


def _day_text(entry: CronEntry) -> str:
    every_dom = len(entry.doms) == 31 and not entry.last_dom
    every_dow = len(entry.dows) == 7
    dom_text = ""
    if entry.doms and not every_dom:
        dom_text = f"on day{'s' if len(entry.doms) > 1 else ''} {_ranges(entry.doms)} of the month"
    if entry.last_dom:
        last = "on the last day of the month"
        dom_text = f"{dom_text} and {last}" if dom_text else last
    dow_text = f"on {_ranges(entry.dows, _DAY_NAMES)}" if entry.dows and not every_dow else ""
    if entry.dom_star or entry.dow_star:
        # Both must match: a `*` field (even `*/2`) restricts only through its own values.
        if dom_text and dow_text:
            return f"{dom_text}, if it is a {_ranges(entry.dows, _DAY_NAMES)}"
        return dom_text or dow_text or "every day"
    # Neither starts with `*`: either may match (Vixie cron's rule, kept by pg_cron).
    if dom_text and dow_text:
        return f"{dom_text} and {dow_text}"
    return dom_text or dow_text or "every day"


def _month_text(entry: CronEntry) -> str:
    if len(entry.months) == 12:
        return ""
    return "in " + _ranges(entry.months, _MONTH_NAMES)
