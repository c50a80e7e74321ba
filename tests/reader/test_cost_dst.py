"""Cost rows on the days clocks change: in October 02:00 comes twice and each of the two hours
keeps its own price and cost; in March 02:00 never comes and the day has 23 priced hours."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hanport.reader.api import ReaderContext
from hanport.reader.cost_rows import plan_from_settings
from hanport.reader.energy import HourEnergy
from hanport.reader.prices.store import SpotPrice, save_spot_prices
from hanport.reader.storage.booking import refresh_days, write_hours
from hanport.reader.storage.database import open_db
from hanport.reader.web import create_app

METER = "6970631400000000"
ZONE = "NO5"


def _client(tmp_path: Path, utc_midnight: dt.datetime, count: int) -> TestClient:
    """A database with ``count`` hours from ``utc_midnight`` (local midnight, UTC); hour i
    imports (i + 1) kWh at (i + 1) NOK/kWh, so every hour's figures are its own."""
    engine = open_db(str(tmp_path / "dst.sqlite3"))
    first = int(utc_midnight.timestamp())
    starts = [first + i * 3600 for i in range(count)]
    with engine.begin() as conn:
        booked = [HourEnergy(s, float(i + 1), 0.0, False) for i, s in enumerate(starts)]
        refresh_days(conn, METER, write_hours(conn, METER, booked))
        save_spot_prices(
            conn,
            ZONE,
            [
                SpotPrice(
                    dt.datetime.fromtimestamp(s, dt.UTC),
                    dt.datetime.fromtimestamp(s + 3600, dt.UTC),
                    (i + 1) * 100.0,
                    float(i + 1),
                )
                for i, s in enumerate(starts)
            ],
        )
    plan = plan_from_settings("bkk-2024", ZONE)
    ctx = ReaderContext(engine=engine, prices_zone=ZONE, cost_plan=plan)
    return TestClient(create_app(ctx, dashboard=False))


def test_the_repeated_october_hour_keeps_its_own_cost(tmp_path: Path) -> None:
    # Sunday 25 October 2026: local midnight is 22:00 UTC the day before; 25 hours
    client = _client(tmp_path, dt.datetime(2026, 10, 24, 22, tzinfo=dt.UTC), 25)
    rows = client.get("/api/hours?from=2026-10-25&to=2026-10-26").json()
    assert [r["start"][11:13] for r in rows][:5] == ["00", "01", "02", "02", "03"]
    assert len(rows) == 25
    # each hour its own price: hour i has spot i + 1 (nothing shared by the two 02:00)
    assert [r["spot_nok_per_kwh"] for r in rows] == [float(i + 1) for i in range(25)]
    first, second = rows[2], rows[3]
    assert first["active_energy_import_kwh"] == 3.0 and second["active_energy_import_kwh"] == 4.0
    assert first["cost_nok"] != second["cost_nok"]
    assert all(r["cost_nok"] is not None for r in rows)
    # the day is the sum of its 25 hours, each counted once
    (day,) = client.get("/api/days?from=2026-10-25&to=2026-10-26").json()
    assert day["cost_nok"] == pytest.approx(sum(r["cost_nok"] for r in rows), abs=1e-3)
    spot = sum((i + 1) * (i + 1) for i in range(25)) / sum(i + 1 for i in range(25))
    assert day["spot_nok_per_kwh"] == pytest.approx(spot, abs=1e-5)
    # the CSV carries the same two 02:00 rows with their own figures
    csv = client.get("/api/hours?from=2026-10-25&to=2026-10-26&format=csv").text.splitlines()
    assert len(csv) == 26 and csv[3] != csv[4]


def test_the_march_day_has_23_priced_hours(tmp_path: Path) -> None:
    # Sunday 29 March 2026: local midnight is 23:00 UTC the day before; 23 hours
    client = _client(tmp_path, dt.datetime(2026, 3, 28, 23, tzinfo=dt.UTC), 23)
    rows = client.get("/api/hours?from=2026-03-29&to=2026-03-30").json()
    assert [r["start"][11:13] for r in rows][:4] == ["00", "01", "03", "04"]
    assert [r["spot_nok_per_kwh"] for r in rows] == [float(i + 1) for i in range(23)]
    (day,) = client.get("/api/days?from=2026-03-29&to=2026-03-30").json()
    assert day["cost_nok"] == pytest.approx(sum(r["cost_nok"] for r in rows), abs=1e-3)
    (month,) = client.get("/api/months?from=2026-03-01&to=2026-04-01").json()
    assert month["cost_nok"] == pytest.approx(day["cost_nok"], abs=1e-3)
