"""Tables of the reader database (SQLAlchemy Core); Alembic migrations live in ``migrations/``.

Times are POSIX seconds (UTC): floats for pushes, whole-hour integers for registers and hours,
so SQLite and PostgreSQL store and compare them the same way. Local days are ``YYYY-MM-DD``
strings in Europe/Oslo, the way the grid company counts them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "READING_COLUMNS",
    "days",
    "hours",
    "metadata",
    "meters",
    "official_hours",
    "raw_frames",
    "readings",
    "registers",
    "spot_prices",
]

metadata = MetaData()

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite
_id_type = BigInteger().with_variant(Integer(), "sqlite")

#: decode-contract keys stored as their own columns; any other numeric key goes to ``extra``
READING_COLUMNS: tuple[str, ...] = (
    "active_power_import_w",
    "active_power_export_w",
    "reactive_power_import_var",
    "reactive_power_export_var",
    "current_l1_a",
    "current_l2_a",
    "current_l3_a",
    "voltage_l1_v",
    "voltage_l2_v",
    "voltage_l3_v",
    "power_factor",
    "active_energy_import_kwh",
    "active_energy_export_kwh",
    "reactive_energy_import_kvarh",
    "reactive_energy_export_kvarh",
)

meters = Table(
    "meters",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("manufacturer", String(32)),
    Column("meter_type", String(64)),
    Column("list_version", String(32)),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

readings = Table(
    "readings",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("meter_id", String(64), nullable=False),
    Column("at", Float, nullable=False),  # the meter's time of the push (see model.Push)
    Column("received_at", Float, nullable=False),
    Column("list_kind", String(24), nullable=False),
    Column("meter_clock", String(19)),
    *(Column(name, Float) for name in READING_COLUMNS),
    Column("extra", Text),  # JSON of the remaining decode-contract values, when any
    Index("ix_readings_meter_at_kind", "meter_id", "at", "list_kind", unique=True),
    Index("ix_readings_at", "at"),
)

registers = Table(
    "registers",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("at", BigInteger, primary_key=True),  # whole hour the registers were read at
    Column("active_energy_import_kwh", Float),
    Column("active_energy_export_kwh", Float),
    Column("reactive_energy_import_kvarh", Float),
    Column("reactive_energy_export_kvarh", Float),
)

hours = Table(
    "hours",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("active_energy_import_kwh", Float, nullable=False),
    Column("active_energy_export_kwh", Float, nullable=False),
    Column("estimated", Boolean, nullable=False),
    # whose value the hour holds: "reader" (booked from the meter; every booking writes it) or
    # "official" (`hanport reconcile --replace-estimated` booked the official value). 0005.
    Column("source", String(8), nullable=False, default="reader", server_default="reader"),
    Index("ix_hours_start", "start"),
)

days = Table(
    "days",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),  # local YYYY-MM-DD
    Column("start", BigInteger, nullable=False),
    Column("active_energy_import_kwh", Float, nullable=False),
    Column("active_energy_export_kwh", Float, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Column("hours", Integer, nullable=False),
    Index("ix_days_start", "start"),
)

raw_frames = Table(
    "raw_frames",
    metadata,
    Column("id", _id_type, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    Column("source", String(128), nullable=False),
    Column("meter_id", String(64)),
    Column("ok", Boolean, nullable=False),
    Column("reason", Text),
    Column("frame", LargeBinary, nullable=False),
    Index("ix_raw_frames_received_at", "received_at"),
)

spot_prices = Table(
    "spot_prices",
    metadata,
    Column("zone", String(8), primary_key=True),  # bidding zone, e.g. NO1
    Column("start", BigInteger, primary_key=True),  # POSIX seconds, UTC
    Column("end", BigInteger, nullable=False),
    Column("eur_per_mwh", Float, nullable=False),
    Column("nok_per_kwh", Float, nullable=False),  # without VAT
)

official_hours = Table(
    "official_hours",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("start", BigInteger, primary_key=True),  # POSIX seconds of the hour's start
    Column("kwh", Float, nullable=False),  # import, as Elhub or the grid company booked it
    Column("measured", Boolean, nullable=False),  # False: the official value is estimated
    Column("layout", String(32), nullable=False),  # the file's layout (elhub, grid-company)
)
