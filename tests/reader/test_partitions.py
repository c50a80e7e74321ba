"""PostgreSQL readings partitioned by month (reader migration 0004): the migration of a
database with data, partitions made ahead, retention dropping whole months, COPY idempotent."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.config import Config
from reader_synthetic import pushes
from sqlalchemy import Engine, create_engine, func, select, text

from hanport.reader.storage import partitions
from hanport.reader.storage.database import _MIGRATIONS, migrate, open_db
from hanport.reader.storage.retention import RetentionPolicy, thin
from hanport.reader.storage.schema import days, hours, readings, registers
from hanport.reader.storage.writer import Writer

pytestmark = pytest.mark.postgres

UTC = dt.UTC


def _t(year: int, month: int, day: int = 1, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _partition_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(partitions.existing(conn))


def _store(engine: Engine, *starts: int, hours_each: int = 2) -> int:
    writer = Writer(engine, store_raw_frames=False)
    n = 0
    for start in starts:
        for push in pushes(start, hours_each):
            writer.add(push)
            n += 1
    writer.flush(final=True)
    return n


def test_migration_from_0003_moves_the_readings_into_month_partitions(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        # today's writer books hours with 0005's hours.source: lend it the column for the
        # store at 0003 only
        conn.execute(text("ALTER TABLE hours ADD COLUMN source VARCHAR(8) DEFAULT 'reader'"))
    stored = _store(engine, _t(2026, 1, 30), _t(2026, 3, 2))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE hours DROP COLUMN source"))
    with engine.connect() as conn:
        before = conn.execute(
            text("SELECT id, meter_id, at, list_kind FROM readings ORDER BY id")
        ).all()
        booked = conn.execute(select(func.count()).select_from(hours)).scalar_one()
    assert len(before) == stored

    migrate(engine)

    with engine.connect() as conn:
        assert partitions.is_partitioned(conn)
        after = conn.execute(
            text("SELECT id, meter_id, at, list_kind FROM readings ORDER BY id")
        ).all()
        january = conn.execute(text("SELECT count(*) FROM readings_2026_01")).scalar_one()
    assert after == before  # every row, with its id
    assert january > 0
    names = _partition_names(engine)
    assert {"readings_2026_01", "readings_2026_03"} <= set(names)
    # the key still refuses a second copy, the id sequence goes on, the hours are the same
    again = _store(engine, _t(2026, 3, 2))
    assert again > 0 and _count(engine, readings) == stored
    assert _count(engine, hours) == booked
    _store(engine, _t(2026, 3, 10), hours_each=1)
    with engine.connect() as conn:
        new_ids = conn.execute(
            text("SELECT min(id) FROM readings WHERE at >= :t"), {"t": _t(2026, 3, 10)}
        ).scalar_one()
    assert new_ids > max(row[0] for row in before)
    engine.dispose()


def test_retention_makes_months_ahead_and_drops_whole_old_months(postgres_url: str) -> None:
    engine = open_db(postgres_url)
    _store(engine, _t(2026, 1, 10), _t(2026, 2, 10), _t(2026, 3, 10))
    kept = {t.name: _count(engine, t) for t in (hours, days, registers)}
    assert {"readings_2026_01", "readings_2026_02", "readings_2026_03"} <= set(
        _partition_names(engine)
    )
    # 40 days after 10 March: cutoff 1 Feb 00:00 + … January ends before it, February not
    now = _t(2026, 3, 13)
    result = thin(engine, RetentionPolicy(raw_frames_days=7, readings_days=40), now)
    assert result["readings_partitions"] == 1
    names = _partition_names(engine)
    assert "readings_2026_01" not in names
    assert {"readings_2026_02", "readings_2026_03", "readings_2026_04", "readings_2026_05"} <= set(
        names
    )  # the current month and two ahead
    with engine.connect() as conn:
        first = conn.execute(select(func.min(readings.c.at))).scalar_one()
        assert not conn.execute(text("SELECT to_regclass('readings_2026_01')")).scalar()
    assert first >= _t(2026, 2, 1)
    for table in (hours, days, registers):
        assert _count(engine, table) == kept[table.name]
    # nothing more to drop; readings_days = 0 keeps every month
    assert thin(engine, RetentionPolicy(readings_days=40), now)["readings_partitions"] == 0
    assert (
        thin(engine, RetentionPolicy(readings_days=0), _t(2027, 1, 1))["readings_partitions"] == 0
    )
    assert "readings_2026_02" in _partition_names(engine)
    engine.dispose()


def test_copy_is_idempotent_and_makes_a_missing_months_partition(postgres_url: str) -> None:
    engine = open_db(postgres_url)
    batch = list(pushes(_t(2019, 6, 1), 1))  # years before any partition made ahead
    writer = Writer(engine, store_raw_frames=False)
    for push in batch + batch[:10]:  # duplicates inside one COPY batch, too
        writer.add(push)
    writer.flush()
    assert _count(engine, readings) == len(batch)
    assert "readings_2019_06" in _partition_names(engine)
    # the same pushes again, from another writer (another reader, a redelivery)
    other = Writer(engine, store_raw_frames=False)
    for push in batch:
        other.add(push)
    other.flush(final=True)
    assert _count(engine, readings) == len(batch)
    with engine.connect() as conn:
        keys = conn.execute(
            text("SELECT count(DISTINCT (meter_id, at, list_kind)) FROM readings")
        ).scalar_one()
    assert keys == len(batch)
    engine.dispose()
