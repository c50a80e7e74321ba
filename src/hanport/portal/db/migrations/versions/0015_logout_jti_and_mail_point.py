"""logout tokens seen, shared by every process; the metering point a mail is about

A back-channel logout token's jti is remembered in the database until the token could no longer
be accepted anyway, so a token replayed to another web worker is refused too. An outbox message
about a metering point but no order (a move) names the point, so its link leads to the point's
move page.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.portal.db.schema import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logout_tokens_seen",
        sa.Column("jti_hash", sa.String(length=64), primary_key=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_logout_tokens_seen_expires_at", "logout_tokens_seen", ["expires_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("metering_point_id", sa.String(length=18), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("metering_point_id")
    op.drop_index("ix_logout_tokens_seen_expires_at", table_name="logout_tokens_seen")
    op.drop_table("logout_tokens_seen")
