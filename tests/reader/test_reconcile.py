"""`hanport reconcile`: the official hourly values (Elhub, grid companies) against the reader's
booked hours. Vectors in tests/data/reconcile/ (see its README for their layouts' sources)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from reader_synthetic import METER_ID, pushes
from sqlalchemy import select

from hanport.cli import main
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.reconcile import (
    OfficialHour,
    ReconcileError,
    compare,
    parse_official,
    three_peaks,
)
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import hours
from hanport.reader.storage.writer import Writer

DATA = Path(__file__).parent.parent / "data" / "reconcile"
MAY_4 = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())


def test_elhub_export() -> None:
    layout, found = parse_official((DATA / "elhub-hourly.csv").read_bytes())
    assert layout == "elhub"
    assert [h.start - MAY_4 for h in found] == [0, 3600, 7200, 10800]
    assert [h.kwh for h in found] == [0.512, 0.498, 1.25, 0.7]
    assert [h.measured for h in found] == [True, True, True, False]  # "Beregnet"


def test_grid_company_export_in_windows_1252() -> None:
    layout, found = parse_official((DATA / "grid-company-cp1252.csv").read_bytes())
    assert layout == "grid-company"
    assert [h.kwh for h in found] == [0.512, 0.498, 1.25, 0.7]
    assert found[0].start == MAY_4


def test_bom_and_the_night_clocks_go_back() -> None:
    _layout, found = parse_official((DATA / "grid-company-bom-dst.csv").read_bytes())
    midnight = int(dt.datetime(2026, 10, 25, tzinfo=LOCAL_TZ).timestamp())
    # 25 hours that day: the repeated 02:00 is its own, later hour
    assert [h.start - midnight for h in found] == [0, 3600, 7200, 10800, 14400]
    assert [h.kwh for h in found] == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((DATA / "unknown-layout.csv").read_bytes(), "unknown file layout"),
        (b"", "unknown file layout"),
        (b"Fra;Til;Temperatur\n04.05.2026 00:00;;3\n", "no kWh column"),
        (b"Fra;Til;kWh\n04.05.2026 00:00;;x\n", "line 2"),
        (b"Fra;Til;kWh\nyesterday;;1,0\n", "line 2"),
        (b"Fra;Til;kWh\n", "no hourly values"),
        (b"\xff\xfe\x00\x01", "unknown file layout"),
    ],
)
def test_bad_files_are_clear_errors(data: bytes, message: str) -> None:
    with pytest.raises(ReconcileError, match=message):
        parse_official(data)


def test_quarter_hours_are_summed_per_hour() -> None:
    lines = ["Fra,Til,KWH 15 Forbruk"]
    lines += [f'04.05.2026 00:{m:02d},,"0,25"' for m in (0, 15, 30, 45)]
    _layout, found = parse_official("\n".join(lines).encode())
    assert found == [OfficialHour(MAY_4, 1.0, True)]


def test_compare_and_peaks() -> None:
    official = [OfficialHour(MAY_4, 1.0, True), OfficialHour(MAY_4 + 3600, 2.0, True),
                OfficialHour(MAY_4 + 7200, 3.0, True)]  # fmt: skip
    reader = {MAY_4: (1.004, False), MAY_4 + 3600: (2.5, True)}
    checks = compare(official, reader, 0.01)
    assert [c.flagged for c in checks] == [False, True, True]
    assert checks[1].difference_kwh == 0.5 and checks[1].reader_estimated
    assert checks[2].reader_kwh is None
    days = [(MAY_4 + d * 86400 + h * 3600, float(d * 10 + h)) for d in range(5) for h in (1, 2)]
    assert [kwh for _s, kwh in three_peaks(days)["2026-05"]] == [42.0, 32.0, 22.0]


def _db(tmp_path: Path) -> tuple[str, dict[int, float]]:
    url = f"sqlite:///{tmp_path / 'reader.sqlite3'}"
    engine = open_db(url)
    writer = Writer(engine)
    for push in pushes(MAY_4, 4):
        writer.add(push)
    writer.flush(final=True)
    with engine.connect() as conn:
        rows = conn.execute(select(hours.c.start, hours.c.active_energy_import_kwh)).all()
    engine.dispose()
    return url, {int(r[0]): float(r[1]) for r in rows}


def _official(path: Path, booked: dict[int, float], change: dict[int, float]) -> Path:
    lines = ["Fra;Til;kWh"]
    for start, kwh in sorted(booked.items()):
        local = dt.datetime.fromtimestamp(start, LOCAL_TZ).strftime("%d.%m.%Y %H:%M")
        lines.append(f"{local};;{str(round(kwh + change.get(start, 0), 3)).replace('.', ',')}")
    path.write_bytes("\n".join(lines).encode("cp1252"))
    return path


def test_cli_agrees_with_an_export_of_the_same_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, booked = _db(tmp_path)
    assert len(booked) == 4
    official = _official(tmp_path / "same.csv", booked, {})
    assert main(["reconcile", str(official), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "4 timer / hours" in out and "0 avvik" in out and "2026-05 topp 3" in out


def test_cli_flags_an_hour_that_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, booked = _db(tmp_path)
    second = sorted(booked)[1]
    official = _official(tmp_path / "differs.csv", booked, {second: 0.2})
    assert main(["reconcile", str(official), "--db", url, "--meter-id", METER_ID]) == 1
    out = capsys.readouterr().out
    assert "1 avvik" in out
    assert dt.datetime.fromtimestamp(second, LOCAL_TZ).strftime("%Y-%m-%dT%H:00:00") in out


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _booked = _db(tmp_path)
    assert main(["reconcile", str(DATA / "unknown-layout.csv"), "--db", url]) == 2
    assert main(["reconcile", str(tmp_path / "missing.csv"), "--db", url]) == 2
    assert main(["reconcile", str(DATA / "elhub-hourly.csv"), "--db", url, "--meter-id", "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown file layout" in err and "cannot read" in err and "Traceback" not in err


def test_api_compares_the_imported_hours(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hanport.reader.web import ReaderContext, create_app

    url, booked = _db(tmp_path)
    second = sorted(booked)[1]
    assert main(["reconcile", str(_official(tmp_path / "o.csv", booked, {second: 0.2})),
                 "--db", url]) == 1  # fmt: skip
    engine = open_db(url)
    client = TestClient(create_app(ReaderContext(engine=engine)))
    (report,) = client.get("/api/reconcile", params={"month": "2026-05"}).json()
    assert report["meter_id"] == METER_ID and report["flagged"] == 1
    flagged = [h for h in report["hours"] if h["flagged"]]
    assert [h["difference_kwh"] for h in flagged] == [-0.2]
    assert len(report["peaks"]["official"]) == len(report["peaks"]["reader"]) == 1
    # a wider tolerance flags nothing; another month has nothing imported
    wide = client.get("/api/reconcile", params={"month": "2026-05", "tolerance_kwh": 0.5})
    assert wide.json()[0]["flagged"] == 0
    assert client.get("/api/reconcile", params={"month": "2026-06"}).json()[0]["hours"] == []
    assert client.get("/api/reconcile", params={"month": "2026-13"}).status_code == 422
    assert client.get("/api/reconcile", params={"tolerance_kwh": -1}).status_code == 422
    assert client.get("/api/reconcile", params={"meter_id": "none"}).json() == []
    engine.dispose()
