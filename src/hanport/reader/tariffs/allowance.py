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

from hanport.reader.energy import HOUR, CapacityStep, step_index
from hanport.reader.tariffs.calendar import local
from hanport.reader.tariffs.capacity import not_counted, period_length
from hanport.reader.tariffs.registry import CapacityRule, Tariff

__all__ = [
    "RuleAllowance",
    "is_norwegian_stepped",
    "rule_allowance",
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
        step = steps[step_index(average, steps)]
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
