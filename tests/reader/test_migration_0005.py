"""Reader migration 0005: ``hours.source`` from 0004 with data, on SQLite and PostgreSQL.

At 0004 a replaced hour was marked by ``+replaced`` on its ``official_hours.layout`` and counted
as official only while its booked import equalled the official value. After 0005 that is the
hour's ``source``, the suffix is gone, and a booking by the reader writes "reader" again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, inspect, text

from hanport.reader.energy import LOCAL_TZ, HourEnergy
from hanport.reader.storage.booking import write_hours
from hanport.reader.storage.database import _MIGRATIONS, HEAD_REVISION, migrate

METER = "7359992890000000"
T0 = int(dt.datetime(2026, 5, 4, tzinfo=LOCAL_TZ).timestamp())
T1, T2, T3 = T0 + 3600, T0 + 7200, T0 + 10800
# (start, booked kWh, estimated, official kWh, official layout at 0004)
ROWS = [
    (T0, 0.5, False, 0.512, "elhub"),  # the reader's own, only compared
    (T1, 0.498, False, 0.498, "elhub+replaced"),  # replaced, still the official value
    (T2, 9.0, True, 0.7, "elhub+replaced"),  # replaced, then booked again by the reader
    (T3, 1.0, True, None, None),  # no official value
]


def _config(conn: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _at_0004_with_data(engine: Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0004")
        for start, kwh, estimated, official, layout in ROWS:
            conn.execute(
                text(
                    "INSERT INTO hours (meter_id, start, active_energy_import_kwh, "
                    "active_energy_export_kwh, estimated) VALUES (:m, :s, :k, 0.0, :e)"
                ),
                {"m": METER, "s": start, "k": kwh, "e": estimated},
            )
            if official is not None:
                conn.execute(
                    text(
                        "INSERT INTO official_hours (meter_id, start, kwh, measured, layout) "
                        "VALUES (:m, :s, :k, :measured, :layout)"
                    ),
                    {"m": METER, "s": start, "k": official, "measured": True, "layout": layout},
                )


def _sources(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT start, source FROM hours ORDER BY start")).all()
    return {int(r[0]): str(r[1]) for r in rows}


def _layouts(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT start, layout FROM official_hours ORDER BY start")).all()
    return {int(r[0]): str(r[1]) for r in rows}


def _check_upgrade_and_back(engine: Engine) -> None:
    _at_0004_with_data(engine)
    with engine.connect() as conn:
        before = conn.execute(
            text("SELECT start, active_energy_import_kwh, estimated FROM hours ORDER BY start")
        ).all()

    migrate(engine)

    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        after = conn.execute(
            text("SELECT start, active_energy_import_kwh, estimated FROM hours ORDER BY start")
        ).all()
    assert version == HEAD_REVISION == "0005"
    assert after == before  # the values are untouched
    assert _sources(engine) == {T0: "reader", T1: "official", T2: "reader", T3: "reader"}
    assert _layouts(engine) == {T0: "elhub", T1: "elhub", T2: "elhub"}  # no suffix left

    # a booking by the reader (new or again) is the reader's
    with engine.begin() as conn:
        write_hours(
            conn, METER, [HourEnergy(T1, 0.6, 0.0, True), HourEnergy(T3 + 3600, 0.3, 0.0, True)]
        )
    sources = _sources(engine)
    assert sources[T1] == "reader" and sources[T3 + 3600] == "reader"

    # back to 0004: the official hours get their suffix again, the column goes
    with engine.begin() as conn:
        conn.execute(text("UPDATE hours SET source = 'official' WHERE start = :s"), {"s": T2})
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0004")
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("hours")}
    assert "source" not in columns
    assert _layouts(engine) == {T0: "elhub", T1: "elhub", T2: "elhub+replaced"}


def test_migration_0005_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'reader.sqlite3'}")
    try:
        _check_upgrade_and_back(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migration_0005_on_postgresql(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        _check_upgrade_and_back(engine)
    finally:
        engine.dispose()
