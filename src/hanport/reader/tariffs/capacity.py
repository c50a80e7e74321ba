"""The month's capacity figure by a tariff's rule, from hourly or quarter-hourly energies.

Meters register energy per hour; where a tariff prices quarter-hour maxima, the quarter-hours
are integrated from the pushes' power and the result is marked as an estimate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hanport.reader.energy import HOUR
from hanport.reader.tariffs.calendar import is_holiday, local
from hanport.reader.tariffs.registry import CapacityRule, Tariff

QUARTER = 900


@dataclass(frozen=True, slots=True)
class Capacity:
    """``kw``: the figure the charge is priced on; ``peaks``: (start, kW) it averages."""

    kw: float
    peaks: tuple[tuple[int, float], ...]
    estimated: bool


def period_length(rule: CapacityRule) -> int:
    """Seconds in one of the rule's periods: an hour, or a quarter-hour."""
    return QUARTER if rule.resolution == "quarter_hour" else HOUR


def not_counted(start: int, rule: CapacityRule, country: str) -> str | None:
    """Why the period at ``start`` does not count toward the capacity charge ("outside_window",
    "weekend", "holiday"), or None when it counts."""
    when = local(start)
    if not rule.window_hours[0] <= when.hour < rule.window_hours[1]:
        return "outside_window"
    if rule.weekdays_only and when.weekday() >= 5:
        return "weekend"
    if rule.skip_holidays and is_holiday(when.date(), country):
        return "holiday"
    return None


def capacity(periods: Iterable[tuple[int, float]], tariff: Tariff, *, estimated: bool) -> Capacity:
    """``periods``: (start, kWh) at the tariff's resolution (hours, or quarter-hours)."""
    rule = tariff.rule
    per_hour = HOUR / period_length(rule)  # kWh in a period → its average kW
    loads = [
        (s, kwh * per_hour) for s, kwh in periods if not_counted(s, rule, tariff.country) is None
    ]
    if rule.kind == "top_days":
        best: dict[object, tuple[int, float]] = {}
        for start, kw in loads:
            day = local(start).date()
            if day not in best or kw > best[day][1]:
                best[day] = (start, kw)
        loads = list(best.values())
    peaks = sorted(loads, key=lambda p: (-p[1], p[0]))[: rule.count]
    kw = round(sum(k for _, k in peaks) / len(peaks), 6) if peaks else 0.0
    return Capacity(kw, tuple(peaks), estimated)


def quarter_hours_from_power(
    samples: Iterable[tuple[float, float | None]], *, max_hold_s: float = 30.0
) -> dict[int, float]:
    """Integrate (time, import W) samples, sorted by time, into kWh per quarter-hour.

    Each sample's power holds until the next (at most ``max_hold_s``: a longer gap is no data).
    """
    result: dict[int, float] = {}
    previous: tuple[float, float] | None = None

    def add(t0: float, t1: float, watts: float) -> None:
        while t0 < t1:
            q = int(t0 // QUARTER) * QUARTER
            end = min(t1, q + QUARTER)
            result[q] = result.get(q, 0.0) + watts * (end - t0) / 3.6e6
            t0 = end

    for t, watts in samples:
        if previous is not None:
            add(previous[0], min(t, previous[0] + max_hold_s), previous[1])
        previous = (t, float(watts or 0.0))
    return result
