"""What each hour cost and earned: spot, grid energy, support (or Norgespris), income.

Pure: hours + spot prices + tariff + public rules in, figures out. Amounts in NOK including VAT
(households pay it; none in VAT-exempt zones); income is export at spot, without VAT. The
capacity charge is monthly and not spread over hours (see ``tariffs.capacity``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hanport.reader.energy import HOUR, HourEnergy
from hanport.reader.prices.store import SpotPrice
from hanport.reader.tariffs.calendar import is_holiday, is_weekend, local
from hanport.reader.tariffs.public import PublicRules
from hanport.reader.tariffs.registry import Tariff


@dataclass(frozen=True, slots=True)
class CostPlan:
    """The household's choices: its tariff, bidding zone, and whether it has Norgespris."""

    tariff: Tariff
    zone: str
    rules: PublicRules
    norgespris: bool = False
    holiday_home: bool = False
    vat_percent: float | None = None  # overrides the zone's VAT

    @property
    def vat(self) -> float:
        return self.vat_percent / 100 if self.vat_percent is not None else self.rules.vat(self.zone)


@dataclass(frozen=True, slots=True)
class HourCost:
    start: int
    import_kwh: float
    export_kwh: float
    spot_nok_per_kwh: float | None  # excl. VAT, as traded
    grid_nok_per_kwh: float | None  # energy charge + levies, incl. VAT
    support_nok: float | None  # strømstøtte, or Norgespris's settlement (negative when spot is low)
    cost_nok: float | None  # spot + grid energy − support, incl. VAT
    income_nok: float | None  # export at spot


def hourly_spot(prices: Iterable[SpotPrice]) -> dict[int, float]:
    """Spot price per hour start: quarter-hour prices are averaged over the hour's minutes."""
    weighted: dict[int, list[float]] = {}
    for price in prices:
        t0, t1 = int(price.start.timestamp()), int(price.end.timestamp())
        while t0 < t1:
            h = t0 // HOUR * HOUR
            end = min(t1, h + HOUR)
            slot = weighted.setdefault(h, [0.0, 0.0])
            slot[0] += price.nok_per_kwh * (end - t0)
            slot[1] += end - t0
            t0 = end
    return {h: s[0] / s[1] for h, s in weighted.items() if s[1] == HOUR}


def grid_energy_price(start: int, plan: CostPlan) -> float | None:
    """The grid's price per kWh in the hour at ``start`` (incl. levies and VAT), or None when
    the tariff has no energy charge on record or the date's levies are unknown. The charge is the
    tariff's price list in force on the hour's local date."""
    when = local(start)
    charge = plan.tariff.period_on(when.date()).energy
    levies = plan.rules.levies_on(when.date()) if plan.tariff.country == "NO" else None
    if charge is None or (plan.tariff.country == "NO" and levies is None):
        return None
    low = not charge.day_from <= when.hour < charge.day_to
    low |= charge.night_on_weekends and is_weekend(when.date())
    low |= charge.night_on_holidays and is_holiday(when.date(), plan.tariff.country)
    own = charge.night if low else charge.day
    public = levies.consumption_tax + levies.enova if levies is not None else 0.0
    return round((own + public) * (1 + plan.vat), 6)


def _month_key(start: int) -> tuple[int, int]:
    when = local(start)
    return when.year, when.month


def _month_average(spot: dict[int, float]) -> dict[tuple[int, int], float]:
    sums: dict[tuple[int, int], list[float]] = {}
    for h, price in spot.items():
        slot = sums.setdefault(_month_key(h), [0.0, 0.0])
        slot[0] += price
        slot[1] += 1
    return {k: s[0] / s[1] for k, s in sums.items()}


def _support_per_kwh(
    start: int, price: float, plan: CostPlan, month_avg: dict[tuple[int, int], float]
) -> tuple[float, float] | None:
    """(NOK/kWh excl. VAT the state pays or takes, monthly cap in kWh) in this hour."""
    day = local(start).date()
    if plan.norgespris:
        fixed = plan.rules.norgespris_on(day)
        if fixed is not None:
            cap = fixed.cap_kwh_holiday_home if plan.holiday_home else fixed.cap_kwh
            return price - fixed.nok_per_kwh, cap
    support = plan.rules.support_on(day)
    if support is None:
        return None
    basis = price if support.basis == "hour" else month_avg[_month_key(start)]
    return support.share * max(0.0, basis - support.threshold), support.cap_kwh


def hour_costs(
    hours: Sequence[HourEnergy], prices: Iterable[SpotPrice], plan: CostPlan
) -> list[HourCost]:
    """Each hour's figures, in order; None where its price is not known. Support counts the
    month's first ``cap`` kWh only, in hour order (hours must be sorted by start)."""
    spot = hourly_spot(prices)
    month_avg = _month_average(spot)
    used_in_month: dict[tuple[int, int], float] = {}
    result = []
    for hour in hours:
        price = spot.get(hour.start)
        grid = grid_energy_price(hour.start, plan)
        if price is None:
            result.append(
                HourCost(hour.start, hour.import_kwh, hour.export_kwh, None, grid, None, None, None)
            )
            continue
        month = _month_key(hour.start)
        already = used_in_month.get(month, 0.0)
        used_in_month[month] = already + hour.import_kwh
        support = 0.0
        rate = _support_per_kwh(hour.start, price, plan, month_avg)
        if plan.tariff.country == "NO" and rate is not None:
            covered = max(0.0, min(hour.import_kwh, rate[1] - already))
            support = rate[0] * covered * (1 + plan.vat)
        energy = hour.import_kwh * price * (1 + plan.vat)
        cost = energy + (hour.import_kwh * grid if grid is not None else 0.0) - support
        result.append(
            HourCost(
                hour.start,
                hour.import_kwh,
                hour.export_kwh,
                round(price, 6),
                grid,
                round(support, 4),
                round(cost, 4) if grid is not None else None,
                round(hour.export_kwh * price, 4),
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class CostTotal:
    key: str
    spot_nok_per_kwh: float | None  # import-weighted average
    grid_nok_per_kwh: float | None
    support_nok: float | None
    cost_nok: float | None
    income_nok: float | None
    priced_cost_nok: float | None = None  # the cost of the hours with one (None: no such hour)
    unpriced_hours: int = 0  # hours whose cost is not known (no price, or no grid price)


def _sum(values: list[float | None]) -> float | None:
    return (
        None
        if not values or any(v is None for v in values)
        else round(sum(v for v in values if v is not None), 4)
    )


def _weighted(pairs: list[tuple[float, float | None]]) -> float | None:
    if not pairs or any(v is None for _, v in pairs):
        return None
    kwh = sum(k for k, _ in pairs)
    if kwh <= 0:
        return None
    return round(sum(k * v for k, v in pairs if v is not None) / kwh, 6)


def totals(costs: Iterable[HourCost], key: Callable[[int], str]) -> list[CostTotal]:
    """Sum hours into periods named by ``key(start)`` (e.g. local day or month); a period with
    any unpriced hour has None totals rather than a sum that looks complete but is not;
    ``priced_cost_nok`` sums the hours that have a cost and ``unpriced_hours`` counts the rest."""
    groups: dict[str, list[HourCost]] = {}
    for cost in costs:
        groups.setdefault(key(cost.start), []).append(cost)
    return [
        CostTotal(
            name,
            _weighted([(c.import_kwh, c.spot_nok_per_kwh) for c in group]),
            _weighted([(c.import_kwh, c.grid_nok_per_kwh) for c in group]),
            _sum([c.support_nok for c in group]),
            _sum([c.cost_nok for c in group]),
            _sum([c.income_nok for c in group]),
            _sum([c.cost_nok for c in group if c.cost_nok is not None]),
            sum(1 for c in group if c.cost_nok is None),
        )
        for name, group in groups.items()
    ]


def cheapest_hours(
    prices: Iterable[SpotPrice], after: dt.datetime, count: int
) -> list[tuple[int, float]]:
    """The ``count`` cheapest whole hours starting at or after ``after``, by start time."""
    spot = hourly_spot(prices)
    ahead = [(h, p) for h, p in spot.items() if h >= after.timestamp()]
    return sorted(sorted(ahead, key=lambda hp: (hp[1], hp[0]))[:count])
