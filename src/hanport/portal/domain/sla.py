"""SLA clock on Norwegian working days (RME's guideline: open within three working days)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "OSLO",
    "REGULATOR_WORKING_DAYS",
    "WORKING_DAYS_RANGE",
    "add_working_days",
    "is_working_day",
    "sla_due",
]

OSLO = ZoneInfo("Europe/Oslo")
#: the default deadline; a grid company may configure its own ([sla] working_days)
REGULATOR_WORKING_DAYS = 3
#: the deadlines a configuration may set, in working days
WORKING_DAYS_RANGE = (1, 30)


@lru_cache(maxsize=64)
def _norwegian_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NO", years=year))


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a Norwegian public holiday (Sundays count as holidays too)."""
    return day.weekday() < 5 and day not in _norwegian_holidays(day.year)


def add_working_days(start: datetime, days: int) -> datetime:
    """The moment `days` working days after `start` (local Oslo time).

    A request on a non-working day starts counting at the next working day, so an order on
    Saturday is due at the end of the third working day after it.
    """
    local = start.astimezone(OSLO)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    if is_working_day(local.date()):
        return datetime.combine(day, local.time(), OSLO)
    # counting starts on the next working day, so the whole of the last day is allowed
    return datetime.combine(day, time(23, 59, 59), OSLO)


def sla_due(submitted_at: datetime, working_days: int = REGULATOR_WORKING_DAYS) -> datetime:
    """When an order submitted at `submitted_at` breaches the deadline of `working_days`
    working days (the regulator's guideline: three)."""
    return add_working_days(submitted_at, working_days)
