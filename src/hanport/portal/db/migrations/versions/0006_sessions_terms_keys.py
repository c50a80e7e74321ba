"""server-side sessions; orders keep the accepted terms' hash and language; terms record who
published them; API keys get a scope, a mandatory expiry and a last-used time

Existing API keys expire a year after they were made; existing orders take the hash of the
terms version they reference.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import hanport.portal.db.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_TIME = hanport.portal.db.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_seen_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_sessions_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_party_id"), "sessions", ["party_id"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("terms_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("terms_lang", sa.String(length=2), nullable=True))
    op.execute(
        "UPDATE orders SET terms_sha256 = (SELECT sha256 FROM terms_versions "
        "WHERE terms_versions.id = orders.terms_version_id) WHERE terms_version_id IS NOT NULL"
    )
    with op.batch_alter_table("terms_versions") as batch:
        batch.add_column(sa.Column("published_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("published_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=8), nullable=False, server_default="act")
        )
        batch.add_column(sa.Column("expires_at", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("last_used_at", UTC_TIME, nullable=True))
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.Integer()),
        sa.column("created_at", UTC_TIME),
        sa.column("expires_at", UTC_TIME),
    )
    conn = op.get_bind()
    for token_id, created_at in conn.execute(sa.select(tokens.c.id, tokens.c.created_at)).all():
        made = created_at or datetime.now(UTC)
        conn.execute(
            tokens.update()
            .where(tokens.c.id == token_id)
            .values(expires_at=made + timedelta(days=365))
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=UTC_TIME, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.drop_column("scope")
    with op.batch_alter_table("terms_versions") as batch:
        batch.drop_column("published_at")
        batch.drop_column("published_by")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("terms_lang")
        batch.drop_column("terms_sha256")
    op.drop_index(op.f("ix_sessions_party_id"), table_name="sessions")
    op.drop_table("sessions")
