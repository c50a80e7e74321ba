"""the watch for an open's first push becomes its own record

A completed open without a push used to be watched through the order's next_attempt_at, so
"completed" meant two things to the job runner. Now a push_watches row says the order is
watched, since when (the read-back) and when to look next; a completed order has no
next_attempt_at. Existing watched orders (completed opens without a push that still had a
next_attempt_at) get their row.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hanport.portal.db.schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TIME = hanport.portal.db.schema.UTCDateTime(timezone=True)

_WATCHED = (
    "state = 'completed' AND action = 'open' AND push_seen = false AND next_attempt_at IS NOT NULL"
)


def upgrade() -> None:
    op.create_table(
        "push_watches",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("since", UTC_TIME, nullable=False),
        sa.Column("next_look_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_push_watches_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_push_watches")),
    )
    op.create_index(op.f("ix_push_watches_next_look_at"), "push_watches", ["next_look_at"])
    op.execute(
        "INSERT INTO push_watches (order_id, since, next_look_at) "
        "SELECT id, COALESCE(verified_at, completed_at, updated_at), next_attempt_at "
        f"FROM orders WHERE {_WATCHED}"
    )
    op.execute(f"UPDATE orders SET next_attempt_at = NULL WHERE {_WATCHED}")


def downgrade() -> None:
    op.execute(
        "UPDATE orders SET next_attempt_at = (SELECT next_look_at FROM push_watches "
        "WHERE push_watches.order_id = orders.id) "
        "WHERE id IN (SELECT order_id FROM push_watches)"
    )
    op.drop_index(op.f("ix_push_watches_next_look_at"), table_name="push_watches")
    op.drop_table("push_watches")
