"""an order remembers the idempotency key it was placed with

orders.idempotency_key is the key a form or an API client sent (the hidden field, the
`Idempotency-Key` header); orders.request_sha256 the hash of what was asked. A second submit
with the same key by the same person within 24 hours answers with the first order instead of
placing (and superseding with) another; the same key with other content is refused.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("request_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_orders_idempotency", ["requested_by", "idempotency_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_idempotency")
        batch_op.drop_column("request_sha256")
        batch_op.drop_column("idempotency_key")
