"""Official hourly values imported by `hanport reconcile` (Elhub or the grid company).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "official_hours",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("kwh", sa.Float, nullable=False),
        sa.Column("measured", sa.Boolean, nullable=False),
        sa.Column("layout", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("official_hours")
