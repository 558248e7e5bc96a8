"""Cron schedules: parsing (Vixie five-field, aliases, pg_cron's `N seconds` and `$`), fire times, human text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from itertools import islice

from cronctl.errors import ScheduleError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SECONDS = re.compile(r"^\s*(\d+)\s*(?:s|sec|secs|second|seconds)\s*$", re.IGNORECASE)
# cronsim walks calendars lazily; an expression that never fires is caught by checking a few years ahead.
_HORIZON = timedelta(days=366 * 5)


def get_timezone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone '{name}' (use an IANA name like Europe/Berlin or UTC)") from None


@dataclass(frozen=True)
class Schedule:
    expression: str  # as written
    cron: str | None  # five-field form given to cronsim; None for interval schedules
    every_seconds: int | None  # pg_cron 1.5+ `N seconds`
    tz_name: str = "UTC"

    @staticmethod
    def parse(expression: str, tz: str = "UTC") -> Schedule:
        return _parse(expression.strip(), tz)

    @property
    def tz(self) -> tzinfo:
        return get_timezone(self.tz_name)

    @property
    def min_pg_cron_version(self) -> str | None:
        """The oldest pg_cron that accepts this schedule, when 1.4 does not."""
        if self.every_seconds is not None:
            return "1.5"
        if self.cron and "$" in self.expression:
            return "1.6"
        return None

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
        if self.every_seconds is not None:
            unit = "second" if self.every_seconds == 1 else f"{self.every_seconds} seconds"
            return f"Every {unit}"
        assert self.cron is not None
        from cronsim import CronSim

        text: str = CronSim(self.cron, datetime(2000, 1, 1, tzinfo=UTC)).explain()
        if self.tz_name.upper() not in ("UTC", "GMT"):
            text += f" ({self.tz_name})"
        else:
            text += " (UTC)"
        return text

    def _iterate(self, start: datetime, *, reverse: bool) -> Iterator[datetime]:
        start = _aware(start).astimezone(self.tz)
        if self.every_seconds is not None:
            step = timedelta(seconds=self.every_seconds)
            # Count from a fixed origin so previous and next fire times agree whatever N is.
            anchor = datetime(1970, 1, 1, tzinfo=UTC)
            if reverse:
                current = anchor + ((start - anchor) // step) * step
                if current >= start:
                    current -= step
                while True:
                    yield current.astimezone(UTC)
                    current -= step
            else:
                current = anchor + ((start - anchor) // step + 1) * step
                while True:
                    yield current.astimezone(UTC)
                    current += step
        assert self.cron is not None
        from cronsim import CronSim

        for when in CronSim(self.cron, start, reverse=reverse):
            yield when.astimezone(UTC)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@lru_cache(maxsize=256)
def _parse(expression: str, tz: str) -> Schedule:
    get_timezone(tz)
    if not expression:
        raise ScheduleError("empty cron expression")
    seconds = _SECONDS.match(expression)
    if seconds:
        count = int(seconds.group(1))
        if not 1 <= count <= 59:
            raise ScheduleError(f"invalid schedule '{expression}': 'N seconds' takes 1 to 59 seconds")
        return Schedule(expression, None, count, tz)
    lowered = expression.lower()
    if lowered == "@reboot":
        raise ScheduleError("'@reboot' has no fire times to check against")
    if lowered.startswith("@"):
        if lowered not in ALIASES:
            raise ScheduleError(f"unknown schedule alias '{expression}' (known: {', '.join(ALIASES)})")
        cron = ALIASES[lowered]
    else:
        fields = expression.split()
        if len(fields) != 5:
            raise ScheduleError(
                f"invalid cron expression '{expression}': expected 5 fields "
                f"(minute hour day-of-month month day-of-week), got {len(fields)}"
            )
        _check_steps(expression, fields)
        # pg_cron 1.6 writes the last day of the month as `$`; cronsim spells it `L`.
        fields[2] = fields[2].replace("$", "L")
        cron = " ".join(fields)
    from cronsim import CronSim, CronSimError

    try:
        probe = CronSim(cron, datetime(2000, 1, 1, tzinfo=UTC))
        first = next(probe, None)
    except CronSimError as exc:
        raise ScheduleError(f"invalid cron expression '{expression}': {exc}") from None
    except (ValueError, StopIteration) as exc:
        raise ScheduleError(f"invalid cron expression '{expression}': {exc}") from None
    if first is None or first - datetime(2000, 1, 1, tzinfo=UTC) > _HORIZON:
        raise ScheduleError(f"cron expression '{expression}' never fires")
    return Schedule(expression, cron, None, tz)


_FIELD_LIMITS = (("minute", 59), ("hour", 23), ("day-of-month", 31), ("month", 12), ("day-of-week", 7))


def _check_steps(expression: str, fields: list[str]) -> None:
    """Vixie cron rejects a step larger than its field's range (`*/61`); cronsim would quietly accept it."""
    for (name, limit), field_text in zip(_FIELD_LIMITS, fields, strict=True):
        for part in field_text.split(","):
            _, slash, step = part.partition("/")
            if slash and step.isdigit() and not 1 <= int(step) <= limit:
                raise ScheduleError(f"invalid cron expression '{expression}': {name} step /{step} is out of range")
