"""Cost per hour: energy charge by time (night, weekend, holiday, DST), support and Norgespris
by date, VAT by zone; totals per day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hanport.reader.cost import CostPlan, cheapest_hours, grid_energy_price, hour_costs, totals
from hanport.reader.energy import LOCAL_TZ, HourEnergy, local_day
from hanport.reader.prices.store import SpotPrice
from hanport.reader.tariffs import registry
from hanport.reader.tariffs.public import norway

UTC = dt.UTC


def at(y: int, mo: int, d: int, h: int) -> int:
    return int(dt.datetime(y, mo, d, h, tzinfo=LOCAL_TZ).timestamp())


def price(start: int, nok: float, minutes: int = 60) -> SpotPrice:
    t0 = dt.datetime.fromtimestamp(start, UTC)
    return SpotPrice(t0, t0 + dt.timedelta(minutes=minutes), nok * 1000 / 11.5, nok)


def plan(tariff: str = "bkk-2024", zone: str = "NO5", **kw: object) -> CostPlan:
    return CostPlan(registry.load(tariff), zone, norway(), **kw)  # type: ignore[arg-type]


def test_energy_charge_day_night_weekend_holiday() -> None:
    bkk = plan()
    levies = 0.1644 + 0.01
    day, night = (0.2775 + levies) * 1.25, (0.1830 + levies) * 1.25
    assert grid_energy_price(at(2024, 5, 2, 12), bkk) == pytest.approx(day)  # Thursday noon
    assert grid_energy_price(at(2024, 5, 2, 22), bkk) == pytest.approx(night)  # 22:00
    assert grid_energy_price(at(2024, 5, 2, 5), bkk) == pytest.approx(night)  # 05:00
    assert grid_energy_price(at(2024, 5, 4, 12), bkk) == pytest.approx(night)  # Saturday
    assert grid_energy_price(at(2024, 5, 17, 12), bkk) == pytest.approx(night)  # 17 May, Friday
    # Rakkestad names weekends only: 17 May is a day-rate day there
    rakkestad = plan("rakkestad-2024")
    assert grid_energy_price(at(2024, 7, 17, 12), rakkestad) == pytest.approx(
        (0.26 + levies) * 1.25
    )
    # Tensio has no weekend rate
    tensio = plan("tensio-ts-2023")
    assert grid_energy_price(at(2023, 6, 3, 12), tensio) == pytest.approx(
        (0.1540 + 0.1584 + 0.01) * 1.25
    )


def test_dst_day_has_23_hours_and_local_night_follows_the_clock() -> None:
    bkk = plan()
    first = at(2024, 3, 31, 0)
    starts = [first + i * 3600 for i in range(23)]  # 31 March 2024: 23 local hours
    assert local_day(starts[-1]) == "2024-03-31" and local_day(starts[-1] + 3600) == "2024-04-01"
    # 02:00 does not exist; the third UTC hour is 03:00 local, still night (Sunday anyway)
    weekday_first = at(2024, 10, 28, 0)  # Monday after the autumn change
    assert grid_energy_price(weekday_first + 6 * 3600, bkk) == grid_energy_price(
        at(2024, 10, 28, 6), bkk
    )
    hours = [HourEnergy(s, 1.0, 0.0, False) for s in starts]
    costs = hour_costs(hours, [price(s, 0.5) for s in starts], bkk)
    assert len(totals(costs, local_day)) == 1


def test_support_hourly_above_threshold_with_vat_and_the_monthly_cap() -> None:
    p = plan(zone="NO1")
    start = at(2024, 2, 1, 12)
    hours = [HourEnergy(start, 2.0, 0.0, False), HourEnergy(start + 3600, 4997.0, 0.0, False)]
    costs = hour_costs(hours, [price(start, 1.23), price(start + 3600, 0.5)], p)
    assert costs[0].support_nok == pytest.approx(0.9 * (1.23 - 0.73) * 2.0 * 1.25)
    assert costs[1].support_nok == 0.0  # below the threshold
    # the cap: 4999 kWh already used → only 1 kWh of the next hour is supported
    later = at(2024, 2, 2, 12)
    more = hour_costs(
        [*hours, HourEnergy(later, 3.0, 0.0, False)],
        [price(start, 1.23), price(start + 3600, 0.5), price(later, 1.73)],
        p,
    )
    assert more[2].support_nok == pytest.approx(0.9 * (1.73 - 0.73) * 1.0 * 1.25)


def test_support_before_september_2023_uses_the_months_average() -> None:
    p = plan("tensio-ts-2023", zone="NO1")
    a, b = at(2023, 7, 3, 12), at(2023, 7, 3, 13)
    costs = hour_costs(
        [HourEnergy(a, 1.0, 0.0, False), HourEnergy(b, 1.0, 0.0, False)],
        [price(a, 1.5), price(b, 0.3)],
        p,
    )
    average = (1.5 + 0.3) / 2
    for c in costs:
        assert c.support_nok == pytest.approx(0.9 * (average - 0.70) * 1.25)


def test_norgespris_replaces_spot_and_vat_follows_the_zone() -> None:
    start = at(2026, 1, 5, 12)
    hours = [HourEnergy(start, 2.0, 0.5, False)]
    prices = [price(start, 1.00)]
    south = hour_costs(hours, prices, plan("bkk-2024", "NO1", norgespris=True))[0]
    assert south.support_nok == pytest.approx((1.00 - 0.40) * 2.0 * 1.25)
    assert south.income_nok == pytest.approx(0.5)  # export at spot, no VAT
    north = hour_costs(hours, prices, plan("bkk-2024", "NO4", norgespris=True))[0]
    assert north.support_nok == pytest.approx((1.00 - 0.40) * 2.0)
    # the energy part of the bill is then Norgespris × kWh (+ grid)
    grid = north.grid_nok_per_kwh or 0.0
    assert north.cost_nok == pytest.approx(0.40 * 2.0 + grid * 2.0)
    before = hour_costs(
        [HourEnergy(at(2025, 9, 1, 12), 1.0, 0.0, False)],
        [price(at(2025, 9, 1, 12), 1.00)],
        plan("bkk-2024", "NO1", norgespris=True),
    )[0]
    assert before.support_nok == pytest.approx(0.9 * (1.00 - 0.75) * 1.25, abs=1e-4)  # strømstøtte


def test_quarter_hour_prices_average_into_the_hour_and_missing_prices_give_none() -> None:
    start = at(2026, 1, 5, 12)
    quarters = [price(start + i * 900, v, 15) for i, v in enumerate((0.4, 0.8, 1.2, 1.6))]
    hours = [HourEnergy(start, 1.0, 0.0, False), HourEnergy(start + 3600, 1.0, 0.0, False)]
    costs = hour_costs(hours, quarters, plan())
    assert costs[0].spot_nok_per_kwh == pytest.approx(1.0)
    assert costs[1].spot_nok_per_kwh is None and costs[1].cost_nok is None
    assert totals(costs, local_day)[0].cost_nok is None  # an unpriced hour: no false total


def test_cheapest_hours_ahead() -> None:
    start = at(2026, 1, 5, 0)
    prices = [price(start + i * 3600, v) for i, v in enumerate([0.9, 0.2, 0.5, 0.1, 0.7])]
    after = dt.datetime.fromtimestamp(start + 3600, UTC)
    assert cheapest_hours(prices, after, 2) == [(start + 3600, 0.2), (start + 3 * 3600, 0.1)]


def test_api_energy_rows_carry_cost_when_a_tariff_and_prices_are_configured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient
    from reader_synthetic import pushes

    from hanport.reader.cost_rows import plan_from_settings
    from hanport.reader.prices.store import save_spot_prices
    from hanport.reader.storage.database import open_db
    from hanport.reader.storage.writer import Writer
    from hanport.reader.web import ReaderContext, create_app

    start = at(2026, 2, 2, 0)
    engine = open_db(str(tmp_path / "cost.sqlite3"))
    writer = Writer(engine)
    for push in pushes(start, 26):
        writer.add(push)
    writer.flush(final=True)
    with engine.begin() as conn:
        save_spot_prices(conn, "NO1", [price(start + i * 3600, 0.5 + i / 100) for i in range(24)])
    plan_ = plan_from_settings("bkk-2024", "no1")
    ctx = ReaderContext(engine=engine, clock=lambda: start + 26 * 3600, prices_zone="NO1",
                        cost_plan=plan_)  # fmt: skip
    client = TestClient(create_app(ctx))
    window = {"from": "2026-02-02T00:00", "to": "2026-02-03T02:00"}
    hours = client.get("/api/hours", params=window).json()
    first = hours[0]
    assert first["spot_nok_per_kwh"] == pytest.approx(0.5)
    kwh = first["active_energy_import_kwh"]
    grid = (0.2775 + 0.0713 + 0.01) * 1.25  # Monday 00:00: night rate, 2026 levies
    assert first["grid_nok_per_kwh"] == pytest.approx(0.1830 * 1.25 + 0.0813 * 1.25)
    assert first["cost_nok"] == pytest.approx(
        kwh * (0.5 * 1.25 + first["grid_nok_per_kwh"]), abs=1e-3
    )
    assert grid > first["grid_nok_per_kwh"]
    assert hours[-1]["cost_nok"] is None  # the next day has no prices yet
    days = client.get("/api/days", params=window).json()
    assert days[0]["cost_nok"] == pytest.approx(sum(h["cost_nok"] for h in hours[:24]), abs=1e-2)
    (tariff,) = client.get("/api/tariff", params={"month": "2026-02"}).json()
    assert tariff["grid_tariff"]["key"] == "bkk-2024"
    assert tariff["grid_tariff"]["source"].startswith("https://www.bkk.no/")
    unpriced = TestClient(create_app(ReaderContext(engine=engine, clock=ctx.clock)))
    assert "cost_nok" not in unpriced.get("/api/hours", params=window).json()[0]


@pytest.mark.parametrize(
    ("today", "level", "code"),
    [
        (dt.date(2026, 11, 1), None, None),  # two months ahead: nothing to say yet
        (dt.date(2026, 12, 5), "info", "cost_rules_ending"),
        (dt.date(2027, 1, 2), "warning", "cost_rules_ended"),
    ],
)
def test_health_says_when_the_public_rules_the_cost_needs_run_out(
    tmp_path: Path, today: dt.date, level: str | None, code: str | None
) -> None:
    from hanport.reader import api
    from hanport.reader.cost_rows import plan_from_settings
    from hanport.reader.storage.database import open_db
    from hanport.reader.web import ReaderContext

    plan_ = plan_from_settings("elvia-2026", "NO1")
    assert plan_ is not None
    end = plan_.rules.known_until()
    assert end == dt.date(2027, 1, 1)  # the levies, strømstøtte and Norgespris shipped today
    now = at(today.year, today.month, today.day, 12)
    engine = open_db(str(tmp_path / "h.sqlite3"))
    ctx = ReaderContext(engine=engine, clock=lambda: now, prices_zone="NO1", cost_plan=plan_)
    issues = [i for i in api.health(ctx, "en")["issues"] if i["code"].startswith("cost_rules")]
    engine.dispose()
    if code is None:
        assert issues == []
        return
    (issue,) = issues
    assert (issue["level"], issue["code"]) == (level, code)
    assert "2027-01-01" in issue["message"]
    unpriced = ReaderContext(engine=engine, clock=lambda: now)  # no tariff: nothing to say
    assert not [i for i in api.health(unpriced, "en")["issues"] if "cost" in i["code"]]
