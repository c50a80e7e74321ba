"""The allowance by the chosen tariff's own capacity rule, read from the database.

``/api/budget`` (``reader.api``) and the load-shed signal (``reader.service``) ask here when
the chosen tariff's rule is not the Norwegian stepped one (:func:`is_norwegian_stepped`); the
arithmetic is :mod:`hanport.reader.tariffs.allowance`. Quarter-hour rules work from the
pushes' power (the meters' registers are hourly), so their figures are estimates; a month of
readings is integrated once per quarter-hour per meter and kept in a :class:`QuarterCache`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from hanport.reader.energy import HOUR, CapacityStep, hour_allowance, hour_start, this_hour
from hanport.reader.storage import queries
from hanport.reader.tariffs.allowance import RuleAllowance, is_norwegian_stepped, rule_allowance
from hanport.reader.tariffs.calendar import local
from hanport.reader.tariffs.capacity import (
    QUARTER,
    Capacity,
    capacity,
    period_length,
    quarter_hours_from_power,
)
from hanport.reader.tariffs.registry import Tariff

__all__ = [
    "QuarterCache",
    "allowance_by_rule",
    "by_own_rule",
    "month_figure",
    "period_allowance",
    "running_quarter",
]

#: readings this far before a cut are read too, so the push before it is held across the cut
_OVERLAP_S = 60.0


class QuarterCache:
    """Per meter, the month's settled quarter-hours (those before the one before the running
    one: the latest may still be arriving), computed once per running quarter-hour."""

    def __init__(self) -> None:
        self._settled: dict[str, tuple[int, list[tuple[int, float]]]] = {}

    def settled(
        self, conn: Connection, meter_id: str, month_start: int, until: int
    ) -> list[tuple[int, float]]:
        cached = self._settled.get(meter_id)
        if cached is None or cached[0] != until:
            samples = queries.import_power(conn, meter_id, month_start, until + _OVERLAP_S)
            quarters = quarter_hours_from_power(samples)
            cached = (until, sorted((q, k) for q, k in quarters.items() if q < until))
            self._settled[meter_id] = cached
        return cached[1]


def by_own_rule(tariff: Tariff | None) -> Tariff | None:
    """The tariff when the allowance must follow its own rule; None for the Norwegian stepped
    rule (or no tariff chosen), which ``energy.hour_allowance`` computes."""
    return None if tariff is None or is_norwegian_stepped(tariff) else tariff


def _month_periods(
    conn: Connection, meter_id: str, tariff: Tariff, running: int, cache: QuarterCache
) -> list[tuple[int, float]]:
    month_start, month_end = queries.month_bounds(local(running).strftime("%Y-%m"))
    if tariff.rule.resolution != "quarter_hour":
        return queries.import_hours(conn, meter_id, month_start, month_end)
    settled = running - QUARTER
    older = cache.settled(conn, meter_id, month_start, settled)
    recent = quarter_hours_from_power(
        queries.import_power(conn, meter_id, settled - _OVERLAP_S, running)
    )
    return [*older, *((q, k) for q, k in recent.items() if settled <= q < running)]


def allowance_by_rule(
    conn: Connection,
    meter_id: str,
    at: float,
    tariff: Tariff,
    steps: Sequence[CapacityStep],
    cache: QuarterCache,
) -> RuleAllowance:
    """The allowance of the period (hour or quarter-hour) ``at`` lies in, by the tariff's rule;
    ``steps`` are used only when the tariff has steps."""
    size = period_length(tariff.rule)
    running = int(at // size) * size
    periods = _month_periods(conn, meter_id, tariff, running, cache)
    return rule_allowance(periods, running, tariff, steps if tariff.steps else ())


def period_allowance(
    conn: Connection,
    meter_id: str,
    at: float,
    tariff: Tariff | None,
    steps: Sequence[CapacityStep],
    cache: QuarterCache,
) -> RuleAllowance:
    """The allowance of the period ``at`` lies in, by whichever rule applies: the chosen
    tariff's own (:func:`allowance_by_rule`), else the Norwegian stepped rule
    (:func:`hanport.reader.energy.hour_allowance`). /api/budget and the load-shed signal ask
    here, so both always agree."""
    own_rule = by_own_rule(tariff)
    if own_rule is not None:
        return allowance_by_rule(conn, meter_id, at, own_rule, steps, cache)
    running = hour_start(at)
    month_start, month_end = queries.month_bounds(local(running).strftime("%Y-%m"))
    month = queries.import_hours(conn, meter_id, month_start, month_end)
    found = hour_allowance(month, running, steps)
    reason = None if found.limit_kwh is not None else "top_step"
    return RuleAllowance(running, HOUR, True, found.limit_kwh, reason, found.step, None)


def running_quarter(conn: Connection, meter_id: str, at: float) -> tuple[float, float]:
    """(import kWh so far, projected kWh) of the quarter-hour ``at`` lies in, from the stored
    readings' power (an estimate)."""
    start = int(at // QUARTER) * QUARTER
    samples = queries.import_power(conn, meter_id, start, at + 1)
    used, projection, _ = this_hour([(t, w, None) for t, w in samples], at, period_s=QUARTER)
    return used, projection


def month_figure(
    conn: Connection, meter_id: str, tariff: Tariff, at: float, cache: QuarterCache
) -> Capacity:
    """The month's capacity figure by the tariff's rule from its periods before the one ``at``
    lies in (Home Assistant's ``capacity_average_kw`` under such a rule)."""
    size = period_length(tariff.rule)
    running = int(at // size) * size
    periods = _month_periods(conn, meter_id, tariff, running, cache)
    done = [(s, k) for s, k in periods if s < running]
    return capacity(done, tariff, estimated=tariff.rule.resolution == "quarter_hour")
