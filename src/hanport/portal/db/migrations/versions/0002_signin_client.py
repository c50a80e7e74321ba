"""sign-in codes remember the requesting client, for a per-client rate limit

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signin_codes") as batch:
        batch.add_column(sa.Column("client", sa.String(length=64), nullable=True))
        batch.create_index("ix_signin_codes_client", ["client"])


def downgrade() -> None:
    with op.batch_alter_table("signin_codes") as batch:
        batch.drop_index("ix_signin_codes_client")
        batch.drop_column("client")
