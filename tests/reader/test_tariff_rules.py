"""/api/tariff's ``by_tariff_rule``: the chosen tariff's own capacity rule, not Norway's.

The month is built from the synthetic meter (exact hourly registers); the expectations are
computed here independently from the stored hours and readings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from reader_synthetic import pushes
from sqlalchemy import Engine

from hanport.reader.cost import CostPlan
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.storage import queries
from hanport.reader.storage.database import open_db
from hanport.reader.storage.writer import Writer
from hanport.reader.tariffs import registry
from hanport.reader.tariffs.public import norway
from hanport.reader.web import ReaderContext, create_app

START = int(dt.datetime(2026, 2, 2, tzinfo=LOCAL_TZ).timestamp())  # a Monday
DAYS = 7


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = open_db(str(tmp_path_factory.mktemp("rule") / "rule.sqlite3"))
    writer = Writer(engine)
    for push in pushes(START, DAYS * 24):
        writer.add(push)
    writer.flush(final=True)
    yield engine
    engine.dispose()


def _answer(engine: Engine, plan: CostPlan) -> dict[str, Any]:
    ctx = ReaderContext(engine=engine, clock=lambda: START + DAYS * 86400, prices_zone="SE3",
                        cost_plan=plan)  # fmt: skip
    (row,) = (
        TestClient(create_app(ctx, dashboard=False))
        .get("/api/tariff", params={"month": "2026-02"})
        .json()
    )
    rule: dict[str, Any] = row["by_tariff_rule"]
    return rule


def _top_days(loads: dict[int, float], count: int) -> tuple[float, list[int]]:
    best: dict[dt.date, tuple[float, int]] = {}
    for start, kw in loads.items():
        day = dt.datetime.fromtimestamp(start, LOCAL_TZ).date()
        if day not in best or kw > best[day][0]:
            best[day] = (kw, start)
    top = sorted(best.values(), key=lambda p: (-p[0], p[1]))[:count]
    return sum(kw for kw, _ in top) / len(top), sorted(s for _, s in top)


def _in_window(start: int, until: int = 19) -> bool:
    local = dt.datetime.fromtimestamp(start, LOCAL_TZ)
    return 7 <= local.hour < until and local.weekday() < 5  # no holiday in this week


def test_a_swedish_tariff_counts_weekday_hours_in_its_window(engine: Engine) -> None:
    seom = registry.load("seom-2025")
    rule = _answer(engine, CostPlan(seom, "SE3", norway()))
    with engine.connect() as conn:
        (meter_id,) = queries.meter_ids(conn)
        hours = dict(queries.import_hours(conn, meter_id, 0, 2**40))
    kw, starts = _top_days({s: k for s, k in hours.items() if _in_window(s)}, 3)
    assert rule["kw"] == pytest.approx(kw, abs=1e-6)
    peaks = rule["peaks"]
    assert isinstance(peaks, list)
    assert (
        sorted(
            int(dt.datetime.fromisoformat(p["start"]).replace(tzinfo=LOCAL_TZ).timestamp())
            for p in peaks
        )
        == starts
    )
    # a morning window misses the synthetic meter's afternoon peak: a lower figure
    morning = dataclasses.replace(seom, rule=dataclasses.replace(seom.rule, window_hours=(7, 12)))
    early = _answer(engine, CostPlan(morning, "SE3", norway()))
    early_kw, _ = _top_days({s: k for s, k in hours.items() if _in_window(s, 12)}, 3)
    assert early["kw"] == pytest.approx(early_kw, abs=1e-6) and early_kw < kw
    assert rule["charge"] == pytest.approx(round(kw * 108, 2))  # February: 108 SEK per kW
    assert (rule["currency"], rule["estimated"], rule["window_hours"]) == ("SEK", False, [7, 19])


def test_quarter_hour_maxima_come_from_the_pushes_and_say_they_are_estimates(
    engine: Engine,
) -> None:
    seom = registry.load("seom-2025")
    quarter = dataclasses.replace(
        seom, rule=dataclasses.replace(seom.rule, resolution="quarter_hour")
    )
    rule = _answer(engine, CostPlan(quarter, "SE3", norway()))
    hourly = _answer(engine, CostPlan(seom, "SE3", norway()))
    assert rule["estimated"] is True and rule["resolution"] == "quarter_hour"
    # a quarter's power peaks at least as high as the hour it lies in averages
    assert isinstance(rule["kw"], float) and isinstance(hourly["kw"], float)
    assert hourly["kw"] <= rule["kw"] <= hourly["kw"] * 1.1
    assert all(dt.datetime.fromisoformat(p["start"]).minute % 15 == 0 for p in rule["peaks"])


def test_a_norwegian_step_tariff_charges_its_step(engine: Engine) -> None:
    elvia = registry.load("elvia-2026")
    rule = _answer(engine, CostPlan(elvia, "NO1", norway()))
    with engine.connect() as conn:
        (meter_id,) = queries.meter_ids(conn)
        hours = dict(queries.import_hours(conn, meter_id, 0, 2**40))
    kw, _ = _top_days(hours, 3)
    assert rule["kw"] == pytest.approx(kw, abs=1e-6)
    steps = elvia.on(dt.date(2026, 2, 1)).steps
    assert rule["charge"] == next(s.price_nok for s in steps if s.contains(kw))
    assert rule["currency"] == "NOK"
