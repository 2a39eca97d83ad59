"""Schedules: an interval (``"30s"``, ``"15m"``, ``"6h"``, ``"1d"``) or a five-field cron line."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

# apscheduler costs ~40 ms to import: loaded only when a cron schedule is actually used.
if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class ScheduleError(ValueError):
    """A schedule string that is neither an interval nor a cron expression."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: exactly one of ``interval`` and ``cron`` is set."""

    text: str
    interval: timedelta | None = None
    cron: str | None = None

    def trigger(self, timezone: str = "UTC") -> CronTrigger | None:
        return cron_trigger(self.cron, timezone) if self.cron else None


_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAY_NUMBER = re.compile(r"\d+")


def standard_weekdays(field: str) -> str:
    """Cron's day-of-week numbers (0 or 7 = Sunday) as names.

    APScheduler 3 counts weekday 0 as Monday, so ``"0 6 * * 0"`` would run on Mondays;
    names mean the same to both, so numbers are translated before APScheduler sees them.
    """
    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ScheduleError(f"day of week {number} is out of range (0-7)")
        return _WEEKDAYS[number]

    if "/" in field:  # steps ("*/2") count positions, not days: leave them to APScheduler
        return field
    return _WEEKDAY_NUMBER.sub(name, field)


def cron_trigger(expression: str, timezone: str = "UTC") -> CronTrigger:
    """An APScheduler trigger for a standard five-field cron line."""
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = expression.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=standard_weekdays(weekday), timezone=timezone)


#: Longest interval accepted: a page checked less than once a year is not being watched.
MAX_INTERVAL = timedelta(days=366)


@functools.lru_cache(maxsize=256)
def parse_schedule(text: str) -> Schedule:
    """Parse a schedule; raises :class:`ScheduleError` naming what is wrong.

    Cached: a long target list repeats a handful of schedules, and a cron line is checked
    for a next run time (an impossible date such as ``"0 0 31 2 *"`` never fires).
    """
    match = _INTERVAL.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if seconds < 1:
            raise ScheduleError(f"schedule {text!r}: interval must be at least 1 second")
        if seconds > MAX_INTERVAL.total_seconds():
            raise ScheduleError(f"schedule {text!r}: interval must be at most 366 days")
        return Schedule(text, interval=timedelta(seconds=seconds))
    if len(text.split()) == 5:
        try:
            trigger = cron_trigger(text)
        except ValueError as exc:
            raise ScheduleError(f"schedule {text!r}: bad cron expression ({exc})") from None
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ScheduleError(f"schedule {text!r}: this cron line never fires (no such date)")
        return Schedule(text, cron=text)
    raise ScheduleError(
        f"schedule {text!r}: use an interval like '30s', '15m', '6h', '1d' "
        "or a five-field cron expression like '0 6 * * *'")
