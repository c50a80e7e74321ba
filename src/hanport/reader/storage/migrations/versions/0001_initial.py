"""Initial reader schema: meters, readings, registers, hours, days, raw frames.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_READING_COLUMNS = (
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
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("manufacturer", sa.String(32)),
        sa.Column("meter_type", sa.String(64)),
        sa.Column("list_version", sa.String(32)),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "readings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("list_kind", sa.String(24), nullable=False),
        sa.Column("meter_clock", sa.String(19)),
        *(sa.Column(name, sa.Float) for name in _READING_COLUMNS),
        sa.Column("extra", sa.Text),
    )
    op.create_index(
        "ix_readings_meter_at_kind", "readings", ["meter_id", "at", "list_kind"], unique=True
    )
    op.create_index("ix_readings_at", "readings", ["at"])
    op.create_table(
        "registers",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("at", sa.BigInteger, primary_key=True),
        sa.Column("active_energy_import_kwh", sa.Float),
        sa.Column("active_energy_export_kwh", sa.Float),
        sa.Column("reactive_energy_import_kvarh", sa.Float),
        sa.Column("reactive_energy_export_kvarh", sa.Float),
    )
    op.create_table(
        "hours",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("active_energy_import_kwh", sa.Float, nullable=False),
        sa.Column("active_energy_export_kwh", sa.Float, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
    )
    op.create_index("ix_hours_start", "hours", ["start"])
    op.create_table(
        "days",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("active_energy_import_kwh", sa.Float, nullable=False),
        sa.Column("active_energy_export_kwh", sa.Float, nullable=False),
        sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("hours", sa.Integer, nullable=False),
    )
    op.create_index("ix_days_start", "days", ["start"])
    op.create_table(
        "raw_frames",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("meter_id", sa.String(64)),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("frame", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_raw_frames_received_at", "raw_frames", ["received_at"])


def downgrade() -> None:
    for table in ("raw_frames", "days", "hours", "registers", "readings", "meters"):
        op.drop_table(table)
