"""An emulated month replayed through `hanport import`: hours equal the register differences,
and the capacity step matches an independent calculation (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reader_captures import emulate_capture, frames_of, hourly_differences, hourly_registers

from hanport.reader.importer import import_capture
from hanport.reader.storage.database import open_db
from hanport.reader.web import create_app

pytestmark = pytest.mark.slow

# The test's own copy of a step table (kW from, kW to, NOK): not the reader's constant.
STEPS = [(0, 2, 275), (2, 5, 375), (5, 10, 450), (10, 15, 525), (15, 20, 725), (20, 25, 1225),
         (25, 50, 2100), (50, 75, 3287), (75, 100, 4475), (100, float("inf"), 7252)]  # fmt: skip


@pytest.fixture(scope="module")
def march_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # March 2026 includes the spring DST change (29 March, 02:00 → 03:00)
    path = tmp_path_factory.mktemp("capture") / "march.bin"
    return emulate_capture(path, "2026-03-01T00:00", "31d")


def expected_tariff(hour_kwh: dict[str, float]) -> tuple[list[float], float, tuple]:
    best: dict[str, float] = {}
    for label, kwh in hour_kwh.items():
        if label.startswith("2026-03"):
            day = label[:10]
            best[day] = max(best.get(day, 0.0), kwh)
    top = sorted(best.values(), reverse=True)[:3]
    average = sum(top) / 3
    step = next(s for s in STEPS if s[0] <= average < s[1])
    return top, average, step


@pytest.fixture(scope="module")
def march_expected(march_capture: Path) -> tuple[int, dict[str, float]]:
    """(frames, hour → kWh) decoded here, independently of the reader."""
    frames = frames_of(march_capture.read_bytes())
    return len(frames), hourly_differences(hourly_registers(frames))


def test_month_replay(
    march_capture: Path, march_expected: tuple[int, dict[str, float]], db_url: str
) -> None:
    frame_count, differences = march_expected
    assert len(differences) > 700  # a month of hours

    engine = open_db(db_url)
    result = import_capture(engine, march_capture)
    assert result.frames_ok == frame_count and result.rejected == 0
    client = TestClient(create_app(engine, dashboard=False))

    hours = client.get("/api/hours", params={"from": "2026-03-01", "to": "2026-04-02"}).json()
    booked = {h["start"]: h for h in hours}
    assert len(booked) == len(hours)  # each hour once
    for label, kwh in differences.items():
        assert booked[label]["active_energy_import_kwh"] == pytest.approx(kwh, abs=1e-6), label
        assert booked[label]["estimated"] is False
    assert "2026-03-29T02:00:00" not in booked  # the hour that does not exist

    days = client.get("/api/days", params={"from": "2026-03-01", "to": "2026-04-01"}).json()
    assert len(days) == 31
    march_29 = next(d for d in days if d["start"] == "2026-03-29T00:00:00")
    expected_29 = sum(v for k, v in differences.items() if k.startswith("2026-03-29"))
    assert march_29["active_energy_import_kwh"] == pytest.approx(expected_29, abs=1e-5)

    months = client.get("/api/months", params={"from": "2026-01-01", "to": "2027-01-01"}).json()
    assert months[0]["start"] == "2026-03-01T00:00:00"

    (tariff,) = client.get("/api/tariff", params={"month": "2026-03"}).json()
    top, average, step = expected_tariff(differences)
    assert [p["kwh"] for p in tariff["peaks"]] == pytest.approx(top)
    assert len({p["start"][:10] for p in tariff["peaks"]}) == 3
    assert tariff["average_kw"] == pytest.approx(average)
    assert (tariff["step"]["from_kw"], tariff["step"]["price_nok"]) == (step[0], step[2])
    if step[1] != float("inf"):
        assert tariff["headroom_kw"] == pytest.approx(step[1] - average)
    engine.dispose()
