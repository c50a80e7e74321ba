"""where a HAN module goes; the terms in nynorsk

A shipment keeps its delivery address (by post) or the pick-up place with its opening hours as
configured when ordered; a terms version may carry a nynorsk text.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("address_street", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("address_postcode", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("address_city", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("place_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("place_address", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("place_hours", sa.Text(), nullable=True))
    with op.batch_alter_table("terms_versions") as batch:
        batch.add_column(sa.Column("text_nn", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("terms_versions") as batch:
        batch.drop_column("text_nn")
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("place_hours")
        batch.drop_column("place_address")
        batch.drop_column("place_name")
        batch.drop_column("address_city")
        batch.drop_column("address_postcode")
        batch.drop_column("address_street")
