"""the customer's own notice of moving, reconciled with the market's change of customer

A change of customer (customer_changes) now has two sources that may both speak of the same
move: the customer's notice "I am moving" (notice_date, notice_at, the form's or API call's
notice_key, notice_withdrawn_at) and the electricity market's event (market_date, market_at).
The row is carried out once, on effective_date: the date of whichever spoke last. Existing
rows all came from the market (registered by customer service or the API).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanport.portal.db.schema

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_TIME = hanport.portal.db.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customer_changes") as batch:
        batch.add_column(sa.Column("notice_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("notice_at", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("notice_key", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("notice_withdrawn_at", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("market_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("market_at", UTC_TIME, nullable=True))
    op.execute(
        "UPDATE customer_changes SET market_date = effective_date, market_at = registered_at"
    )


def downgrade() -> None:
    # a change only the customer announced (withdrawn or not yet carried out) has no place in
    # the old schema: it would be carried out as a market change
    op.execute("DELETE FROM customer_changes WHERE market_at IS NULL AND handled_at IS NULL")
    with op.batch_alter_table("customer_changes") as batch:
        batch.drop_column("market_at")
        batch.drop_column("market_date")
        batch.drop_column("notice_withdrawn_at")
        batch.drop_column("notice_key")
        batch.drop_column("notice_at")
        batch.drop_column("notice_date")
