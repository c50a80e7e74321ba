"""at most one live proxy per principal, agent and metering point

Earlier duplicates are ended as 'replaced', keeping the newest, before the partial unique
index is created.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE proxies SET revoked_at = CURRENT_TIMESTAMP, revoked_by = 'system', "
        "revoke_reason = 'replaced' WHERE revoked_at IS NULL AND id NOT IN ("
        "SELECT max(id) FROM proxies WHERE revoked_at IS NULL "
        "GROUP BY principal_id, agent_id, metering_point_id)"
    )
    op.create_index(
        "uq_proxies_live",
        "proxies",
        ["principal_id", "agent_id", "metering_point_id"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_proxies_live", table_name="proxies")
