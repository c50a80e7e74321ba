"""hours.source: whose value an hour holds, 'reader' (booked from the meter) or 'official'.

`hanport reconcile --replace-estimated` marked a replaced hour by the suffix ``+replaced`` on its
``official_hours.layout``, and the API called it official while its booked import still equalled
the official value. The mark is now a column of the hour: such hours get 'official', every other
hour 'reader' (the default, which a new booking by the reader writes again), and the suffix goes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SUFFIX = "+replaced"
#: booked and official values closer than this are the same (both are stored as floats)
_SAME_KWH = 1e-6


def upgrade() -> None:
    op.add_column(
        "hours",
        sa.Column("source", sa.String(8), nullable=False, server_default="reader"),
    )
    op.execute(
        "UPDATE hours SET source = 'official' WHERE EXISTS (SELECT 1 FROM official_hours AS o "
        "WHERE o.meter_id = hours.meter_id AND o.start = hours.start "
        f"AND o.layout LIKE '%{_SUFFIX}' "
        f"AND abs(o.kwh - hours.active_energy_import_kwh) < {_SAME_KWH})"
    )
    op.execute(
        f"UPDATE official_hours SET layout = replace(layout, '{_SUFFIX}', '') "
        f"WHERE layout LIKE '%{_SUFFIX}'"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE official_hours SET layout = layout || '{_SUFFIX}' WHERE EXISTS (SELECT 1 "
        "FROM hours AS h WHERE h.meter_id = official_hours.meter_id "
        "AND h.start = official_hours.start AND h.source = 'official')"
    )
    with op.batch_alter_table("hours") as batch:
        batch.drop_column("source")
