"""A capture with a deleted hourly list, imported in two runs (a reader restart in the middle):
every hour is booked once, the gap hours are estimated, and the totals still match."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reader_captures import emulate_capture, frames_of, hourly_differences, hourly_registers

from hanport.reader.importer import import_capture
from hanport.reader.storage.database import open_db
from hanport.reader.web import create_app


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "two-days.bin"
    return emulate_capture(path, "2026-02-10T00:00", "2d", seed=3)


def test_deleted_hourly_list_and_restart(two_days: Path, tmp_path: Path, db_url: str) -> None:
    data = two_days.read_bytes()
    frames = frames_of(data)
    registers = hourly_registers(frames)
    exact = hourly_differences(registers)

    lost = next(
        f for f in frames
        if f.reading.values.get("meter_clock", "").startswith("2026-02-10T14:00")
    )  # fmt: skip
    restart = frames[len(frames) * 2 // 3].offset  # tomorrow afternoon
    first_part = tmp_path / "part1.bin"
    second_part = tmp_path / "part2.bin"
    first_part.write_bytes(data[: lost.offset] + data[lost.offset + lost.length : restart])
    second_part.write_bytes(data[restart:])

    engine = open_db(db_url)
    import_capture(engine, first_part)
    engine.dispose()
    engine = open_db(db_url)  # a new reader process
    import_capture(engine, second_part)

    client = TestClient(create_app(engine, dashboard=False))
    hours = client.get("/api/hours", params={"from": "2026-02-10", "to": "2026-02-12"}).json()
    starts = [h["start"] for h in hours]
    assert starts == sorted(set(starts))  # each hour once
    assert len(starts) == 48
    booked = {h["start"]: h for h in hours}

    gap = {"2026-02-10T13:00:00", "2026-02-10T14:00:00"}
    assert {s for s, h in booked.items() if h["estimated"]} == gap | {"2026-02-11T23:00:00"}
    # the two gap hours share exactly what the registers say they used together
    together = registers["2026-02-10T15:00:00"] - registers["2026-02-10T13:00:00"]
    assert sum(booked[s]["active_energy_import_kwh"] for s in gap) == pytest.approx(together)
    for label, kwh in exact.items():
        if label not in gap:
            assert booked[label]["active_energy_import_kwh"] == pytest.approx(kwh, abs=1e-6)
            assert not booked[label]["estimated"]
    # the day containing estimated hours says so, and its total is still exact
    (day,) = client.get("/api/days", params={"from": "2026-02-10", "to": "2026-02-11"}).json()
    assert day["estimated"] is True
    assert day["active_energy_import_kwh"] == pytest.approx(
        registers["2026-02-11T00:00:00"] - registers["2026-02-10T00:00:00"], abs=1e-5
    )
    engine.dispose()
