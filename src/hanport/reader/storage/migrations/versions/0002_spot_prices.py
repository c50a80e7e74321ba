"""Day-ahead spot prices per bidding zone, cached from ENTSO-E.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spot_prices",
        sa.Column("zone", sa.String(8), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("eur_per_mwh", sa.Float, nullable=False),
        sa.Column("nok_per_kwh", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("spot_prices")
