"""providers and their access requests

A provider (an organisation with an organisation number) is registered by staff and gets its
own party for its organisation API keys and the proxies customers grant it. An access request
is its question to a customer about one metering point; approving it creates the proxy.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.portal.db.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("org_number", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_providers_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("org_number", name=op.f("uq_providers_org_number")),
        sa.UniqueConstraint("party_id", name=op.f("uq_providers_party_id")),
    )
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("granted_scope", sa.String(length=8), nullable=True),
        sa.Column("granted_to", sa.Date(), nullable=True),
        sa.Column("proxy_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_points.id"],
            name=op.f("fk_access_requests_metering_point_id_metering_points"),
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["parties.id"], name=op.f("fk_access_requests_principal_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_access_requests_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["proxy_id"], ["proxies.id"], name=op.f("fk_access_requests_proxy_id_proxies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    for column in ("provider_id", "principal_id", "state"):
        op.create_index(
            op.f(f"ix_access_requests_{column}"), "access_requests", [column], unique=False
        )


def downgrade() -> None:
    for column in ("provider_id", "principal_id", "state"):
        op.drop_index(op.f(f"ix_access_requests_{column}"), table_name="access_requests")
    op.drop_table("access_requests")
    op.drop_table("providers")
