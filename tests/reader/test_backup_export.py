"""Backup and restore (also SQLite → PostgreSQL), CSV export, and CLI errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from reader_synthetic import pushes
from sqlalchemy import func, select

from hanport.cli import main
from hanport.reader.energy import LOCAL_TZ
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import hours, readings
from hanport.reader.storage.writer import Writer

START = int(dt.datetime(2026, 4, 1, tzinfo=LOCAL_TZ).timestamp())


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "source.sqlite3"
    engine = open_db(str(path))
    writer = Writer(engine)
    for push in pushes(START, 5):
        writer.add(push)
    writer.flush(final=True)
    engine.dispose()
    return path


def _counts(url: str) -> tuple[int, int]:
    engine = open_db(url)
    with engine.connect() as conn:
        result = (
            conn.execute(select(func.count()).select_from(readings)).scalar() or 0,
            conn.execute(select(func.count()).select_from(hours)).scalar() or 0,
        )
    engine.dispose()
    return result


def test_backup_and_restore(sqlite_db: Path, tmp_path: Path, db_url: str) -> None:
    backup = tmp_path / "reader.jsonl.gz"
    assert main(["backup", str(backup), "--db", str(sqlite_db)]) == 0
    assert main(["restore", str(backup), "--db", db_url]) == 0
    assert _counts(db_url) == _counts(str(sqlite_db)) == (5 * 360 + 6, 5)
    # a second restore would mix data: refused, nothing changed
    assert main(["restore", str(backup), "--db", db_url]) == 2
    assert _counts(db_url) == (5 * 360 + 6, 5)
    # and the restored database goes on taking readings (ids and sequences are right)
    engine = open_db(db_url)
    writer = Writer(engine)
    for push in pushes(START + 5 * 3600, 1):
        writer.add(push)
    writer.flush(final=True)
    engine.dispose()


def test_export_csv(sqlite_db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", "hours", "--db", str(sqlite_db)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5 and rows[0]["start"] == "2026-04-01T00:00:00"
    out = tmp_path / "readings.csv"
    assert main(["export", "readings", "--db", str(sqlite_db), "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 5 * 360 + 6 + 1


def test_export_carries_the_cost_when_a_tariff_and_a_zone_are_set(
    sqlite_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hanport.reader.prices.store import SpotPrice, save_spot_prices

    engine = open_db(str(sqlite_db))
    first = dt.datetime.fromtimestamp(START, dt.UTC)
    prices = [  # the fifth hour has no price
        SpotPrice(first + dt.timedelta(hours=i), first + dt.timedelta(hours=i + 1), 0.0, 0.5 + i)
        for i in range(4)
    ]
    with engine.begin() as conn:
        save_spot_prices(conn, "NO1", prices)
    engine.dispose()
    monkeypatch.setenv("HANPORT_TARIFF_COMPANY", "bkk-2024")
    monkeypatch.setenv("HANPORT_PRICES_ZONE", "NO1")
    monkeypatch.setenv("HANPORT_ENTSOE_TOKEN", "the same config as `hanport read`")
    assert main(["export", "hours", "--db", str(sqlite_db)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5
    assert float(rows[0]["spot_nok_per_kwh"]) == pytest.approx(0.5)
    assert float(rows[0]["cost_nok"]) > 0
    assert rows[4]["cost_nok"] == ""  # no price for that hour: empty, not a guess
    assert main(["export", "days", "--db", str(sqlite_db)]) == 0
    (day,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert day["unpriced_hours"] == "1"
    # a window with no hours still names the columns
    assert main(["export", "hours", "--db", str(sqlite_db), "--from", "2030-01-01"]) == 0
    header = capsys.readouterr().out.splitlines()
    assert len(header) == 1 and "cost_nok" in header[0]


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", str(tmp_path / "missing.sqlite3")]) == 2
    assert "database does not exist" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.bin"), "--db", str(tmp_path / "x.db")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["read", "--db", str(tmp_path / "y.db"), "--no-http"]) == 2
    assert "no source" in capsys.readouterr().err
    assert main(["read", "--serial", "/dev/null", "--serial-settings", "fast"]) == 2
    assert "unknown serial settings" in capsys.readouterr().err
