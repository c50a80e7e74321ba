"""at most one open-ended contract per metering point

Where earlier customer changes left several, the older ones end on the day the newest
begins, before the partial unique index is created.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE contracts SET valid_to = ("
        "SELECT max(newer.valid_from) FROM contracts AS newer "
        "WHERE newer.metering_point_id = contracts.metering_point_id "
        "AND newer.valid_to IS NULL AND newer.id > contracts.id) "
        "WHERE valid_to IS NULL AND EXISTS ("
        "SELECT 1 FROM contracts AS newer "
        "WHERE newer.metering_point_id = contracts.metering_point_id "
        "AND newer.valid_to IS NULL AND newer.id > contracts.id)"
    )
    op.create_index(
        "uq_contracts_open",
        "contracts",
        ["metering_point_id"],
        unique=True,
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_contracts_open", table_name="contracts")
