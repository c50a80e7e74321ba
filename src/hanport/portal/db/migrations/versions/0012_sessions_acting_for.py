"""staff sessions act for a customer

While a staff member acts for a customer (an explicit step with a reason), the session names the
customer, the reason and the power-of-attorney reference; it ends with the session.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("acting_for_party_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("acting_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("acting_poa_ref", sa.String(length=100), nullable=True))
        batch.create_foreign_key(
            op.f("fk_sessions_acting_for_party_id_parties"),
            "parties",
            ["acting_for_party_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint(op.f("fk_sessions_acting_for_party_id_parties"), type_="foreignkey")
        batch.drop_column("acting_poa_ref")
        batch.drop_column("acting_reason")
        batch.drop_column("acting_for_party_id")
