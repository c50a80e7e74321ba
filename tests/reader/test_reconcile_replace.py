"""`hanport reconcile FILE --replace-estimated`: the hours the reader estimated get the official
values (marked official), days and months follow, a second run changes nothing, and the API
and its CSV say which hours were replaced. Vectors in tests/data/reconcile/."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reader_synthetic import METER_ID, pushes
from sqlalchemy import select

from hanport.cli import main
from hanport.reader.energy import LOCAL_TZ, HourEnergy
from hanport.reader.storage.booking import refresh_days, write_hours
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import days, hours, official_hours
from hanport.reader.storage.writer import Writer
from hanport.reader.web import ReaderContext, create_app

DATA = Path(__file__).parent.parent / "data" / "reconcile"
MAY_4 = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())
#: elhub-hourly.csv: 00:00 0.512, 01:00 0.498, 02:00 1.25 (Målt), 03:00 0.7 (Beregnet)
OFFICIAL = {MAY_4: 0.512, MAY_4 + 3600: 0.498, MAY_4 + 7200: 1.25, MAY_4 + 10800: 0.7}
ESTIMATED = (MAY_4 + 3600, MAY_4 + 10800)  # the hours the reader estimated


def _booked(url: str) -> dict[int, tuple[float, bool]]:
    engine = open_db(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(hours.c.start, hours.c.active_energy_import_kwh, hours.c.estimated)
        ).all()
    engine.dispose()
    return {int(r[0]): (float(r[1]), bool(r[2])) for r in rows}


@pytest.fixture
def url(tmp_path: Path) -> str:
    """Four booked hours on 4 May 2026, two of them estimated by the reader."""
    url = f"sqlite:///{tmp_path / 'reader.sqlite3'}"
    engine = open_db(url)
    writer = Writer(engine)
    for push in pushes(MAY_4, 4):
        writer.add(push)
    writer.flush(final=True)
    with engine.begin() as conn:
        guesses = [HourEnergy(s, 2.345, 0.0, True) for s in ESTIMATED]
        refresh_days(conn, METER_ID, write_hours(conn, METER_ID, guesses))
    engine.dispose()
    return url


def _day_total(url: str) -> float:
    engine = open_db(url)
    with engine.connect() as conn:
        total = conn.execute(
            select(days.c.active_energy_import_kwh).where(days.c.day == "2026-05-04")
        ).scalar_one()
    engine.dispose()
    return float(total)


def test_replace_estimated_books_the_official_values(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _booked(url)
    assert len(before) == 4 and [before[s][1] for s in ESTIMATED] == [True, True]
    args = ["reconcile", str(DATA / "elhub-hourly.csv"), "--db", url, "--replace-estimated"]
    main(args)
    out = capsys.readouterr().out
    assert "2 estimerte timer erstattet med offisielle / estimated hours replaced" in out
    after = _booked(url)
    for start in ESTIMATED:
        assert after[start][0] == OFFICIAL[start]
    assert after[MAY_4 + 3600][1] is False  # measured officially
    assert after[MAY_4 + 10800][1] is True  # Elhub estimated it too ("Beregnet")
    for start in (MAY_4, MAY_4 + 7200):  # the reader's own measured hours stay
        assert after[start] == before[start]
    # the day is recomputed from its hours
    assert _day_total(url) == pytest.approx(sum(kwh for kwh, _ in after.values()), abs=1e-6)
    # the mark is the hour's own column; the official rows keep the file's layout as it is
    engine = open_db(url)
    with engine.connect() as conn:
        marks = dict(conn.execute(select(hours.c.start, hours.c.source)).all())
        layouts = set(conn.execute(select(official_hours.c.layout)).scalars())
    engine.dispose()
    assert {s for s, m in marks.items() if m == "official"} == set(ESTIMATED)
    assert layouts == {"elhub"}

    # idempotent: again, nothing changes and nothing is reported replaced
    main(args)
    assert "0 estimerte timer erstattet" in capsys.readouterr().out
    assert _booked(url) == after
    # importing the file again without the option keeps the mark
    main(["reconcile", str(DATA / "elhub-hourly.csv"), "--db", url])
    capsys.readouterr()

    engine = open_db(url)
    client = TestClient(create_app(ReaderContext(engine=engine), dashboard=False))
    window = {"from": "2026-05-04", "to": "2026-05-05"}
    rows = client.get("/api/hours", params=window).json()
    sources = {r["start"][11:16]: r["source"] for r in rows}
    assert sources == {"00:00": "reader", "01:00": "official", "02:00": "reader",
                       "03:00": "official"}  # fmt: skip
    table = list(csv.DictReader(io.StringIO(client.get("/api/hours", params=window | {
        "format": "csv"}).text)))  # fmt: skip
    assert [r["source"] for r in table] == ["reader", "official", "reader", "official"]
    (day,) = client.get("/api/days", params=window).json()
    assert day["active_energy_import_kwh"] == pytest.approx(sum(r["active_energy_import_kwh"]
                                                                for r in rows))  # fmt: skip
    (month,) = client.get("/api/months", params={"from": "2026-05-01", "to": "2026-06-01"}).json()
    assert month["active_energy_import_kwh"] == pytest.approx(day["active_energy_import_kwh"])
    (report,) = client.get("/api/reconcile", params={"month": "2026-05"}).json()
    assert [h["replaced"] for h in report["hours"]] == [False, True, False, True]
    engine.dispose()
    # `hanport export hours` says the same
    main(["export", "hours", "--db", url, "--from", "2026-05-04", "--to", "2026-05-05"])
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["source"] for r in exported] == ["reader", "official", "reader", "official"]


def test_without_the_option_nothing_is_replaced(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _booked(url)
    main(["reconcile", str(DATA / "elhub-hourly.csv"), "--db", url])
    assert "erstattet" not in capsys.readouterr().out
    assert _booked(url) == before


def test_a_new_estimate_booked_later_is_replaced_again(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reader rebooks an hour (as estimated) after a replacement: the next run replaces
    it again, and until then the API says the hour is the reader's."""
    args = ["reconcile", str(DATA / "elhub-hourly.csv"), "--db", url, "--replace-estimated"]
    main(args)
    engine = open_db(url)
    with engine.begin() as conn:
        write_hours(conn, METER_ID, [HourEnergy(MAY_4 + 3600, 9.0, 0.0, True)])
    client = TestClient(create_app(ReaderContext(engine=engine), dashboard=False))
    rows = client.get("/api/hours", params={"from": "2026-05-04", "to": "2026-05-05"}).json()
    assert [r["source"] for r in rows] == ["reader", "reader", "reader", "official"]
    capsys.readouterr()
    main(args)
    assert "1 estimerte timer erstattet" in capsys.readouterr().out
    assert _booked(url)[MAY_4 + 3600] == (0.498, False)
    engine.dispose()
