"""When each target runs: triggers with jitter, and first run times that survive restarts.

Pure functions of (schedule, last check, now), so the daemon's restart behaviour is testable
without a clock: a target checked 2 hours ago on a 6-hour schedule runs in 4 hours (a restart
does not re-check everything), and overdue targets run soon but spread over a short window
(a restart after a long outage does not hit every site in the same second).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .schedule import Schedule, parse_schedule, standard_weekdays

#: Overdue checks after a restart are spread over at most this many seconds.
OVERDUE_WINDOW = 60.0
#: Interval digests are aligned to this epoch, so "1d" means "at midnight UTC" across restarts.
DIGEST_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def period_seconds(schedule: Schedule, now: datetime | None = None) -> float:
    """The interval, or for cron the gap between its next two fire times (for jitter)."""
    if schedule.interval is not None:
        return schedule.interval.total_seconds()
    trigger = schedule.trigger()
    assert trigger is not None
    now = now or datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1)) \
        if first else None
    if first is None or second is None:
        return 86400.0
    return max(1.0, (second - first).total_seconds())


class SteadyIntervalTrigger(IntervalTrigger):
    """An interval trigger whose jitter does not add up from one run to the next.

    APScheduler 3 adds the interval to the previous *jittered* run time, so a "6h" schedule
    with 10% jitter averaged 6h18m and drifted later and later. Here the previous run is first
    put back on its slot (start + n × interval; jitter only ever delays a run, by less than
    the interval), so every run stays within its own slot.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        if previous_fire_time is not None and previous_fire_time >= self.start_date:
            slots = math.floor((previous_fire_time - self.start_date) / self.interval)
            previous_fire_time = self.start_date + self.interval * slots
        return super().get_next_fire_time(previous_fire_time, now)


def check_trigger(schedule: Schedule, jitter_fraction: float, start: datetime) -> BaseTrigger:
    """The trigger of a target's check job; jitter is a fraction of the period."""
    jitter = jitter_fraction * period_seconds(schedule, start) or None
    if schedule.interval is not None:
        return SteadyIntervalTrigger(seconds=schedule.interval.total_seconds(),
                                     start_date=start, timezone=UTC, jitter=jitter)
    assert schedule.cron is not None
    minute, hour, day, month, day_of_week = schedule.cron.split()
    # As tracker.schedule.cron_trigger (standard weekday numbers), plus jitter.
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=standard_weekdays(day_of_week), timezone=UTC, jitter=jitter)


def digest_trigger(schedule: Schedule) -> BaseTrigger:
    if schedule.interval is not None:
        return IntervalTrigger(seconds=schedule.interval.total_seconds(),
                               start_date=DIGEST_EPOCH, timezone=UTC)
    trigger = schedule.trigger()
    assert trigger is not None
    return trigger


def previous_boundary(schedule: Schedule, now: datetime) -> datetime:
    """The latest time at or before ``now`` when the schedule fired (or would have)."""
    if schedule.interval is not None:
        step = schedule.interval.total_seconds()
        elapsed = (now - DIGEST_EPOCH).total_seconds()
        return DIGEST_EPOCH + timedelta(seconds=math.floor(elapsed / step) * step)
    trigger = schedule.trigger()
    assert trigger is not None
    period = period_seconds(schedule, now)
    probe = now - timedelta(seconds=2 * period + 60)
    fire = trigger.get_next_fire_time(None, probe)
    previous = probe
    for _ in range(10_000):
        if fire is None or fire > now:
            break
        previous = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return previous


@dataclass(frozen=True)
class Planned:
    target_id: int
    schedule: Schedule
    first_run: datetime
    overdue: bool


def due_time(schedule: Schedule, last_check: datetime | None) -> datetime | None:
    """When the next check is due given the last one (None: never checked, due now)."""
    if last_check is None:
        return None
    if schedule.interval is not None:
        return last_check + schedule.interval
    trigger = schedule.trigger()
    assert trigger is not None
    return trigger.get_next_fire_time(None, last_check + timedelta(seconds=1))


def plan_first_runs(targets: Sequence[tuple[int, str, datetime | None]], now: datetime,
                    window: float = OVERDUE_WINDOW) -> list[Planned]:
    """First run per target from ``(target_id, schedule text, last check)``.

    Not overdue: at its due time. Overdue (or never checked): most overdue first, spread
    evenly over ``min(window, shortest period among them)`` seconds from now.
    """
    planned: list[Planned] = []
    overdue: list[tuple[datetime | None, int, Schedule]] = []
    for target_id, text, last_check in targets:
        schedule = parse_schedule(text)
        due = due_time(schedule, last_check)
        if due is not None and due > now:
            planned.append(Planned(target_id, schedule, due, False))
        else:
            overdue.append((due, target_id, schedule))
    if overdue:
        overdue.sort(key=lambda o: (o[0] is not None, o[0] or now, o[1]))
        span = min(window, min(period_seconds(s, now) for _, _, s in overdue))
        step = span / len(overdue)
        for index, (_, target_id, schedule) in enumerate(overdue):
            planned.append(Planned(target_id, schedule,
                                   now + timedelta(seconds=index * step), True))
    return planned
