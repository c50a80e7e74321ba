"""Local time facts tariffs depend on: the local date and hour, weekends and public holidays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

from hanport.reader.energy import LOCAL_TZ


def local(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, LOCAL_TZ)


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    # the library counts every Sunday as a Norwegian/Swedish holiday unless told not to;
    # tariffs treat weekends by their own flag
    days = holidays.country_holidays(country, years=year, include_sundays=False)
    return frozenset(days.keys())


def is_holiday(day: dt.date, country: str) -> bool:
    return day in _holidays(country, day.year)


def is_weekend(day: dt.date) -> bool:
    return day.weekday() >= 5
