"""Adds cost figures to the API's energy rows (/api/hours, /days, /months) from the stored hours,
the cached spot prices and the configured tariff (docs/CONTRACTS.md §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from hanport.reader.cost import CostPlan, hour_costs, hourly_spot, totals
from hanport.reader.energy import HOUR, LOCAL_TZ, HourEnergy, hour_start, local_iso, parse_local
from hanport.reader.prices.store import spot_prices
from hanport.reader.storage import queries
from hanport.reader.tariffs.public import norway
from hanport.reader.tariffs.registry import load

COST_FIELDS = (
    "spot_nok_per_kwh",
    "grid_nok_per_kwh",
    "support_nok",
    "cost_nok",
    "income_nok",
    "priced_cost_nok",
    "unpriced_hours",
)


def posix_starts(rows: list[dict[str, Any]]) -> list[int]:
    """Each row's start in POSIX seconds. Rows carry local times, sorted per meter; on the night
    clocks go back, 02:00 comes twice: its second row of a meter is the later hour (fold 1)."""
    seen: set[tuple[str, str]] = set()
    starts = []
    for row in rows:
        key = (row["meter_id"], row["start"])
        naive = dt.datetime.fromisoformat(row["start"])
        later = key in seen
        seen.add(key)
        starts.append(int(naive.replace(tzinfo=LOCAL_TZ, fold=int(later)).timestamp()))
    return starts


def _period_start(kind: str) -> Callable[[int], str]:
    def key(start: int) -> str:
        when = dt.datetime.fromtimestamp(start, LOCAL_TZ)
        if kind == "days":
            when = when.replace(hour=0)
        elif kind == "months":
            when = when.replace(day=1, hour=0)
        return local_iso(when.timestamp())

    return key


def add_costs(
    conn: Connection,
    rows: list[dict[str, Any]],
    kind: str,
    window: tuple[float, float],
    plan: CostPlan,
) -> list[dict[str, Any]]:
    """``rows`` with the cost fields set (None where a price is missing)."""
    start, end = window
    if kind != "hours":  # whole days and months: the hours from the first period's start
        firsts = [r["start"] for r in rows]
        if firsts:
            start = min(start, *(parse_local(f) for f in firsts))
    hour_rows = queries.hours_between(conn, start, end)
    as_utc = dt.UTC
    prices = spot_prices(
        conn,
        plan.zone,
        dt.datetime.fromtimestamp(start, as_utc),
        dt.datetime.fromtimestamp(end, as_utc),
    )
    by_meter: dict[str, list[HourEnergy]] = {}
    for r, at in zip(hour_rows, posix_starts(hour_rows), strict=True):
        by_meter.setdefault(r["meter_id"], []).append(
            HourEnergy(at, r["active_energy_import_kwh"], r["active_energy_export_kwh"], False)
        )
    # hours are keyed by their POSIX start (the repeated 02:00 in October is two hours); days
    # and months by their local start, which is never repeated
    period = str if kind == "hours" else _period_start(kind)
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    for meter, hours in by_meter.items():
        for total in totals(hour_costs(hours, prices, plan), period):
            figures[(meter, total.key)] = {f: getattr(total, f) for f in COST_FIELDS}
    empty = dict.fromkeys(COST_FIELDS)
    keys = posix_starts(rows) if kind == "hours" else [r["start"] for r in rows]
    return [
        r | figures.get((r["meter_id"], str(key)), empty) for r, key in zip(rows, keys, strict=True)
    ]


def plan_from_settings(
    company: str | None,
    zone: str | None,
    *,
    norgespris: bool = False,
    holiday_home: bool = False,
    vat_percent: float | None = None,
) -> CostPlan | None:
    """The cost plan the settings describe; None without a tariff or a bidding zone."""
    if company is None or zone is None:
        return None
    return CostPlan(load(company), zone.upper(), norway(), norgespris, holiday_home, vat_percent)


def hour_price(conn: Connection, zone: str, plan: CostPlan | None, at: float) -> float | None:
    """What one kWh imported in the hour of ``at`` costs, NOK with VAT (Home Assistant's price
    sensor): with a tariff, spot + the grid's energy charge − support (as ``cost_nok`` of one
    kWh); without, spot with the zone's VAT. None when the hour's price (or, with a tariff, its
    grid energy price) is not known."""
    start = hour_start(at)
    first = start
    if plan is not None:  # support by the month's average spot needs the month so far
        first = int(dt.datetime.fromtimestamp(start, LOCAL_TZ).replace(day=1, hour=0).timestamp())
    prices = spot_prices(
        conn,
        zone,
        dt.datetime.fromtimestamp(first, dt.UTC),
        dt.datetime.fromtimestamp(start + HOUR, dt.UTC),
    )
    if plan is None:
        spot = hourly_spot(prices).get(start)
        return None if spot is None else round(spot * (1 + norway().vat(zone)), 4)
    (cost,) = hour_costs([HourEnergy(start, 1.0, 0.0, False)], prices, plan)
    return cost.cost_nok
