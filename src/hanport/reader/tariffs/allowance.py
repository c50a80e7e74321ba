"""The running period's allowance by a tariff's own capacity rule (``tariffs.capacity``).

The Norwegian stepped rule (three daily maxima, every hour counts, steps) keeps
:func:`hanport.reader.energy.hour_allowance`. Any other rule comes here: a Swedish weekday
window without holidays, a price per kW instead of steps, quarter-hour maxima. Pure: the
month's periods in, the running period's limit out; no clock and no I/O.

- A period outside the rule's window, on a weekend or a holiday the rule skips does not count:
  no limit, and the reason.
- A price per kW (no steps): every kW more raises the charge, so the limit is where the
  month's figure would begin to rise. The figure is the average of the ``count`` highest
  (daily maxima for ``top_days``) counted periods; early in the month, with fewer than
  ``count`` of them, the month's figure still takes ``count`` of them at its end, so every kWh
  above the day's own maximum so far raises it (``reason`` "fewer_than_count").
- Steps: the limit is where the step would rise, as in the Norwegian rule, over the counted
  periods.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from hanport.reader.energy import HOUR, MAX_POWER_HOLD_S, CapacityStep
from hanport.reader.tariffs.calendar import is_holiday, local
from hanport.reader.tariffs.capacity import QUARTER
from hanport.reader.tariffs.registry import CapacityRule, Tariff

__all__ = [
    "RuleAllowance",
    "is_norwegian_stepped",
    "not_counted",
    "period_length",
    "rule_allowance",
    "running_period",
]


def is_norwegian_stepped(tariff: Tariff) -> bool:
    """Whether the tariff's rule is the Norwegian one ``energy.hour_allowance`` computes: the
    three highest daily maximum hours, every hour of every day, priced by steps."""
    rule = tariff.rule
    return (
        rule.kind == "top_days"
        and rule.count == 3
        and rule.resolution == "hour"
        and rule.window_hours == (0, 24)
        and not rule.weekdays_only
        and not rule.skip_holidays
        and bool(tariff.steps)
    )


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


@dataclass(frozen=True, slots=True)
class RuleAllowance:
    """The running period's allowance by the tariff's rule.

    ``limit_kwh``: the most the period may import without raising the month's capacity charge
    (None when it does not count, or on the top step); ``reason``: why it does not count, or
    "fewer_than_count" / "top_step"; ``step``: the month's step (None for a price per kW);
    ``over_cost_per_kwh``: what each kWh above the limit adds to the month's charge, in the
    tariff's currency excl. VAT (price per kW rules only)."""

    period_start: int
    period_s: int
    counts: bool
    limit_kwh: float | None
    reason: str | None
    step: CapacityStep | None
    over_cost_per_kwh: float | None


def _peaks(
    loads: Sequence[tuple[int, float]], rule: CapacityRule, day: dt.date
) -> tuple[float | None, list[float]]:
    """(the running period's own day's maximum so far or None, the other peaks, highest first):
    for ``top_days`` the other days' maxima, else every other counted period."""
    if rule.kind != "top_days":
        return None, sorted((kw for _, kw in loads), reverse=True)
    best: dict[dt.date, float] = {}
    for start, kw in loads:
        d = local(start).date()
        best[d] = max(best.get(d, kw), kw)
    own = best.pop(day, None)
    return own, sorted(best.values(), reverse=True)


def _step_index(kw: float, steps: Sequence[CapacityStep]) -> int:
    for i, step in enumerate(steps):
        if step.contains(kw):
            return i
    return len(steps) - 1 if kw >= steps[-1].from_kw else 0


def rule_allowance(
    periods: Iterable[tuple[int, float]],
    running: int,
    tariff: Tariff,
    steps: Sequence[CapacityStep] = (),
) -> RuleAllowance:
    """The allowance of the period starting at ``running`` by ``tariff``'s rule.

    ``periods``: the month's (start, kWh) at the rule's resolution (hours or quarter-hours);
    the running period's own entry, if any, is left out. ``steps``: the step table when the
    tariff has one (with VAT, as the household pays); empty for a price per kW.
    """
    rule = tariff.rule
    size = period_length(rule)
    per_hour = HOUR / size  # kWh in a period → its average kW
    reason = not_counted(running, rule, tariff.country)
    if reason is not None:
        return RuleAllowance(running, size, False, None, reason, None, None)
    loads = [
        (s, kwh * per_hour)
        for s, kwh in periods
        if s != running and not_counted(s, rule, tariff.country) is None
    ]
    day = local(running).date()
    own, others = _peaks(loads, rule, day)
    if steps:
        counted = sorted([*others, *([own] if own is not None else [])], reverse=True)[: rule.count]
        average = sum(counted) / len(counted) if counted else 0.0
        step = steps[_step_index(average, steps)]
        if step.to_kw is None:
            return RuleAllowance(running, size, True, None, "top_step", step, None)
        k = min(rule.count - 1, len(others))
        limit_kw = max(own or 0.0, (k + 1) * step.to_kw - sum(others[:k]))
        return RuleAllowance(running, size, True, round(limit_kw / per_hour, 6), None, step, None)
    fewer = len(others) < rule.count
    limit_kw = max(own or 0.0, 0.0 if fewer else others[rule.count - 1])
    prices = tariff.on(day).per_kw_by_month
    over = round(prices[day.month - 1] * per_hour / rule.count, 4) if prices else None
    return RuleAllowance(
        running,
        size,
        True,
        round(limit_kw / per_hour, 6),
        "fewer_than_count" if fewer else None,
        None,
        over,
    )


def running_period(
    samples: Sequence[tuple[float, float | None]], now: float, size: int
) -> tuple[float, float]:
    """(import kWh so far, projected import kWh) of the period of ``size`` seconds that ``now``
    lies in, from that period's (time, import W) pushes: each push's power holds until the next
    (at most ``MAX_POWER_HOLD_S``), the latest until ``now``, and for the projection until the
    period ends (as ``energy.this_hour`` does for the hour)."""
    start = int(now // size) * size
    inside = [s for s in samples if start <= s[0] <= now]
    if not inside:
        return 0.0, 0.0
    used = 0.0
    for (t0, p0), (t1, _) in pairwise(inside):
        used += (p0 or 0.0) * min(t1 - t0, MAX_POWER_HOLD_S) / 3.6e6
    t_last, p_last = inside[-1]
    used += (p_last or 0.0) * min(now - t_last, MAX_POWER_HOLD_S) / 3.6e6
    projection = used + (p_last or 0.0) * (start + size - now) / 3.6e6
    return round(used, 6), round(projection, 6)
