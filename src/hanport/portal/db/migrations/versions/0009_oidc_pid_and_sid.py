"""sign-in through OpenID Connect (ID-porten): the person's pid reference, the session's sid

parties.pid_ref holds what services.oidc.pid_reference keeps of the `pid` claim (a keyed hash
by default, never the number unless configured), unique, to find a person's contracts.
sessions.idp_sid holds the provider's session id, so front-channel logout can end the portal
sessions begun in it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN and indexes: no table copy, which SQLite could not do for
    # parties while other tables refer to it
    op.add_column("parties", sa.Column("pid_ref", sa.String(length=80), nullable=True))
    op.create_index("ix_parties_pid_ref", "parties", ["pid_ref"], unique=True)
    op.add_column("sessions", sa.Column("idp_sid", sa.String(length=255), nullable=True))
    op.create_index("ix_sessions_idp_sid", "sessions", ["idp_sid"])


def downgrade() -> None:
    op.drop_index("ix_sessions_idp_sid", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("idp_sid")
    op.drop_index("ix_parties_pid_ref", table_name="parties")
    with op.batch_alter_table("parties") as batch:
        batch.drop_column("pid_ref")
