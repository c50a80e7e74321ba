"""Storage on SQLite and PostgreSQL: migrations, batched writer, gap-aware hours, day rollups."""

from __future__ import annotations

import datetime as dt

import pytest
from reader_synthetic import pushes
from sqlalchemy import func, select

from hanport.reader.energy import HOUR, LOCAL_TZ
from hanport.reader.storage.database import open_db
from hanport.reader.storage.schema import days, hours, readings, registers
from hanport.reader.storage.writer import Writer

START = int(dt.datetime(2026, 3, 2, tzinfo=LOCAL_TZ).timestamp())


def _hours(engine) -> dict[int, tuple[float, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(hours.c.start, hours.c.active_energy_import_kwh, hours.c.estimated)
        ).all()
    return {int(r[0]): (r[1], bool(r[2])) for r in rows}


def _registers(engine) -> dict[int, float]:
    with engine.connect() as conn:
        rows = conn.execute(select(registers.c.at, registers.c.active_energy_import_kwh)).all()
    return {int(r[0]): r[1] for r in rows}


def test_hours_equal_register_differences(db_url: str) -> None:
    engine = open_db(db_url)
    writer = Writer(engine)
    for i, push in enumerate(pushes(START, 30)):
        writer.add(push)
        if i % 500 == 0:
            writer.flush()
    writer.flush(final=True)
    regs = _registers(engine)
    booked = _hours(engine)
    assert sorted(booked) == [START + i * HOUR for i in range(30)]
    for start, (kwh, estimated) in booked.items():
        assert not estimated
        assert kwh == pytest.approx(regs[start + HOUR] - regs[start], abs=1e-6)
    with engine.connect() as conn:
        day_rows = conn.execute(
            select(days.c.day, days.c.active_energy_import_kwh, days.c.hours).order_by(days.c.day)
        ).all()
    assert [r[0] for r in day_rows] == ["2026-03-02", "2026-03-03"]
    assert day_rows[0][2] == 24 and day_rows[1][2] == 6
    assert day_rows[0][1] == pytest.approx(regs[START + 24 * HOUR] - regs[START], abs=1e-6)
    engine.dispose()


def test_missing_hourly_list_and_restart_book_every_hour_once(db_url: str) -> None:
    all_pushes = list(pushes(START, 12))
    lost_list = START + 5 * HOUR
    kept = [p for p in all_pushes if p.register_hour != lost_list]
    restart_at = START + 8 * HOUR + 1234

    engine = open_db(db_url)
    writer = Writer(engine)
    for push in kept:
        if push.at >= restart_at:
            break
        writer.add(push)
    writer.flush()  # the reader is stopped (not killed) here …
    engine.dispose()

    engine = open_db(db_url)  # … and a new process carries on
    writer = Writer(engine)
    for push in kept:
        if push.at >= restart_at:
            writer.add(push)
    writer.flush(final=True)

    regs = _registers(engine)
    booked = _hours(engine)
    assert sorted(booked) == [START + i * HOUR for i in range(12)]
    assert {h for h, (_, est) in booked.items() if est} == {lost_list - HOUR, lost_list}
    total = sum(kwh for kwh, _ in booked.values())
    assert total == pytest.approx(regs[START + 12 * HOUR] - regs[START], abs=1e-6)
    # the estimated pair shares the exact register total between them
    pair = booked[lost_list - HOUR][0] + booked[lost_list][0]
    assert pair == pytest.approx(regs[lost_list + HOUR] - regs[lost_list - HOUR], abs=1e-6)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(readings)).scalar()
    assert count == len(kept)
    engine.dispose()


def test_replaying_twice_changes_nothing(db_url: str) -> None:
    engine = open_db(db_url)
    for _ in range(2):
        writer = Writer(engine)
        for push in pushes(START, 3):
            writer.add(push)
        writer.flush(final=True)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(readings)).scalar() == 3 * 360 + 4
        assert conn.execute(select(func.count()).select_from(hours)).scalar() == 3
    engine.dispose()


def test_hour_without_hourly_list_is_estimated_after_grace(tmp_path) -> None:
    engine = open_db(str(tmp_path / "db.sqlite3"))
    writer = Writer(engine, booking_grace_s=300)
    # registers at START only, then two hours of power without any hourly list
    for push in pushes(START, 2):
        if push.register_hour in (START + HOUR, START + 2 * HOUR):
            continue
        writer.add(push)
    writer.flush()
    booked = _hours(engine)
    assert list(booked) == [START]  # the second hour waits for its list (grace)
    assert booked[START][1] is True
    writer.flush(final=True)
    assert sorted(_hours(engine)) == [START, START + HOUR]


def test_the_writers_clock_stamps_each_flush(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ticks = iter([1000.0, 2000.0])
    engine = open_db(f"sqlite:///{tmp_path / 'reader.sqlite3'}")
    writer = Writer(engine, clock=lambda: next(ticks))
    assert writer.flush() == 0 and writer.stats.last_flush_at is None  # nothing to write
    batch = pushes(START, 1)
    writer.add(next(batch))
    writer.flush()
    assert writer.stats.last_flush_at == 1000.0
    writer.add(next(batch))
    writer.flush()
    assert writer.stats.last_flush_at == 2000.0
    engine.dispose()
